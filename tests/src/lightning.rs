//! Lightning for end-to-end payment tests (contract C3): a simulated
//! network in the test process, a broker node the real `shardgate` binary
//! reaches over TLS with a macaroon, and a funded payer node the test pays
//! from through [`LightningNode::pay_invoice`] — the same client and
//! connection recipe a real wallet integration uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), shardgate_tests::PeerError> {
//! use shardgate_tests::lightning::PaidBroker;
//! let paid = PaidBroker::start(&[("credential_ttl_secs", "60")], "").await?;
//! let client = paid.client().await;
//! # let _ = client; Ok(()) }
//! ```
//!
//! Downloads go through the SDK (`shardgate_client::Client`). Helpers read
//! the L402 challenge off an unpaid download's error
//! ([`Challenge::from_error`]), build `authorization` values, collect a
//! Get stream piece by piece ([`fetch`]) and look invoices up on the
//! broker's node through its own LookupInvoice ([`Lightning::invoice`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use shardgate_client::{Client, ClientError, ErrorKind, GetOptions, PaymentPolicy, PutOptions, pb};
use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{
    InvoiceState, InvoiceStatus, LightningNode, PaymentError, PaymentHash, Preimage,
    parse_www_authenticate,
};
use tonic::Code;

use crate::PeerError;
use crate::broker_process::client::as_tenant;
use crate::broker_process::{BrokerProcess, ProviderSpec};
use crate::raw_wire;

/// What the payer node starts with: 10 BTC, far more than any test spends.
pub const PAYER_BALANCE_MSAT: u64 = 1_000_000_000_000;
/// Longest a test waits for one payment to become final.
const PAY_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-call timeout of the test's own LND clients.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The broker's per-call timeout unless a test sets `lnd_call_timeout_ms`.
const BROKER_CALL_TIMEOUT_MS: &str = "2000";
const POLL: Duration = Duration::from_millis(20);
/// Longest a test waits for a hold payment to be ACCEPTED.
const HOLD_WAIT: Duration = Duration::from_secs(15);
/// Longest a test waits for the ledger to catch up with finished downloads.
const LEDGER_WAIT: Duration = Duration::from_secs(10);

fn sim_error(err: impl std::fmt::Display) -> PeerError {
    PeerError::Protocol {
        peer: "lnd-sim".into(),
        reason: err.to_string(),
    }
}

/// A simulated network with a broker node and a funded payer node.
pub struct Lightning {
    network: SimNetwork,
    broker_node: SimNode,
    payer_node: SimNode,
    /// The payer's wallet, through lnd_grpc_rust over TLS.
    payer: LightningNode,
    /// The broker's node as its operator sees it (LookupInvoice).
    broker_view: LightningNode,
    _dir: tempfile::TempDir,
}

impl Lightning {
    /// Starts both nodes; the payer holds [`PAYER_BALANCE_MSAT`].
    pub async fn start() -> Result<Lightning, PeerError> {
        let dir = tempfile::Builder::new()
            .prefix("shardgate-lnd-sim-")
            .tempdir()
            .map_err(|e| PeerError::io("create lnd-sim dir", e))?;
        let network = SimNetwork::new();
        let broker_node = SimNode::start(
            &network,
            SimNodeConfig::new("broker", dir.path().join("broker")),
        )
        .await
        .map_err(sim_error)?;
        let payer_node = SimNode::start(
            &network,
            SimNodeConfig::new("payer", dir.path().join("payer"))
                .with_balance_msat(PAYER_BALANCE_MSAT),
        )
        .await
        .map_err(sim_error)?;
        let payer = connect(&payer_node).await?;
        let broker_view = connect(&broker_node).await?;
        Ok(Lightning {
            network,
            broker_node,
            payer_node,
            payer,
            broker_view,
            _dir: dir,
        })
    }

    /// The simulated network both nodes are on (to add nodes or channels).
    pub fn network(&self) -> &SimNetwork {
        &self.network
    }

    /// The node the broker is configured with (take it down, slow it).
    pub fn broker_node(&self) -> &SimNode {
        &self.broker_node
    }

    /// The payer's simulated node itself (to take it down or inspect it);
    /// pay through [`Lightning::payer`].
    pub fn payer_node(&self) -> &SimNode {
        &self.payer_node
    }

    /// The payer's wallet client.
    pub fn payer(&self) -> &LightningNode {
        &self.payer
    }

    /// The `[payments]` table for [`BrokerProcess::start`]'s `extra_toml`,
    /// pointing at the broker node's endpoint, certificate and macaroon
    /// files, with a 2 s LND call timeout. `settings` are further
    /// `key = value` lines (values as TOML, e.g. `("credential_ttl_secs",
    /// "2")`); one with the key of a default replaces it (e.g. another
    /// `lnd_macaroon`). The table must come last in `extra_toml`: put
    /// top-level keys before it.
    pub fn payments_toml(&self, settings: &[(&str, &str)]) -> String {
        let node = &self.broker_node;
        let quoted = |text: String| format!("{text:?}");
        let defaults = [
            ("lnd_endpoint", quoted(node.grpc_socket())),
            (
                "lnd_tls_cert",
                quoted(node.tls_cert_path().display().to_string()),
            ),
            (
                "lnd_macaroon",
                quoted(node.macaroon_path().display().to_string()),
            ),
            ("lnd_call_timeout_ms", BROKER_CALL_TIMEOUT_MS.to_owned()),
        ];
        let mut toml = String::from("\n[payments]\n");
        for (key, value) in defaults {
            if !settings.iter().any(|(k, _)| *k == key) {
                toml.push_str(&format!("{key} = {value}\n"));
            }
        }
        for (key, value) in settings {
            toml.push_str(&format!("{key} = {value}\n"));
        }
        toml
    }

    /// Pays a BOLT 11 invoice from the payer's wallet; the preimage is the
    /// proof of payment.
    pub async fn pay(&self, payment_request: &str) -> Result<Preimage, PaymentError> {
        self.payer
            .pay_invoice(payment_request, 0, PAY_TIMEOUT)
            .await
    }

    /// Pays in a task of its own: a hold invoice keeps the payment in
    /// flight until the broker settles or cancels it.
    pub fn pay_in_background(
        &self,
        payment_request: &str,
    ) -> tokio::task::JoinHandle<Result<Preimage, PaymentError>> {
        let payer = self.payer.clone();
        let request = payment_request.to_owned();
        tokio::spawn(async move { payer.pay_invoice(&request, 0, PAY_TIMEOUT).await })
    }

    /// Pays a hold invoice in the background and waits until the broker's
    /// node holds the payment (ACCEPTED); the payment task ends when the
    /// broker settles or cancels.
    pub async fn pay_until_accepted(
        &self,
        challenge: &Challenge,
    ) -> tokio::task::JoinHandle<Result<Preimage, PaymentError>> {
        let payment = self.pay_in_background(&challenge.invoice);
        self.wait_for_state(&challenge.payment_hash, InvoiceState::Accepted, HOLD_WAIT)
            .await
            .unwrap_or_else(|e| panic!("hold payment: {e}"));
        payment
    }

    /// Asserts that a held payment was given back: the broker's node shows
    /// the invoice CANCELED, the payer's payment failed and its balance is
    /// `balance_before` again. Panics with `why` otherwise.
    pub async fn assert_refunded(
        &self,
        hash: &PaymentHash,
        payment: tokio::task::JoinHandle<Result<Preimage, PaymentError>>,
        balance_before: u64,
        why: &str,
    ) {
        self.wait_for_state(hash, InvoiceState::Canceled, HOLD_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{why}: {e}"));
        let outcome = tokio::time::timeout(HOLD_WAIT, payment)
            .await
            .unwrap_or_else(|_| panic!("{why}: the payment never finished"))
            .expect("the payment task does not panic");
        assert!(outcome.is_err(), "{why}: the payment succeeded");
        assert_eq!(
            self.payer_balance_msat(),
            balance_before,
            "{why}: funds not released"
        );
    }

    /// The invoice as the broker's node sees it now.
    pub async fn invoice(&self, hash: &PaymentHash) -> Result<InvoiceStatus, PaymentError> {
        self.broker_view.lookup_invoice(hash).await
    }

    /// Polls the broker's node until the invoice is in `state`; the last
    /// status seen (or error) on timeout.
    pub async fn wait_for_state(
        &self,
        hash: &PaymentHash,
        state: InvoiceState,
        timeout: Duration,
    ) -> Result<InvoiceStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.invoice(hash).await;
            match &seen {
                Ok(status) if status.state == state => return Ok(status.clone()),
                _ if Instant::now() >= deadline => {
                    return Err(format!("invoice never reached {state:?}: last {seen:?}"));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Invoices the broker's node has issued so far, in any state.
    pub fn broker_invoice_count(&self) -> usize {
        self.broker_node.invoice_count()
    }

    /// Spendable balance of the payer, msat.
    pub fn payer_balance_msat(&self) -> u64 {
        self.payer_node.balance_msat()
    }

    /// Stops both nodes.
    pub async fn shutdown(self) -> Result<(), PeerError> {
        self.payer_node.shutdown().await.map_err(sim_error)?;
        self.broker_node.shutdown().await.map_err(sim_error)
    }
}

async fn connect(node: &SimNode) -> Result<LightningNode, PeerError> {
    LightningNode::connect(
        &LndConfig::new(
            node.grpc_socket(),
            TlsCertSource::File(node.tls_cert_path().to_path_buf()),
            MacaroonSource::File(node.macaroon_path().to_path_buf()),
        )
        .with_call_timeout(CALL_TIMEOUT),
    )
    .await
    .map_err(sim_error)
}

/// A `www-authenticate` challenge: the credential to use once paid, and
/// the invoice to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Base64 macaroon.
    pub token: String,
    /// BOLT 11 payment request.
    pub invoice: String,
    /// From the token's identifier (not verified: the broker does that).
    pub payment_hash: PaymentHash,
}

impl Challenge {
    /// The challenge an unpaid download's error carries.
    pub fn from_error(error: &ClientError) -> Result<Challenge, String> {
        let (invoice, token) = error
            .challenge()
            .ok_or_else(|| format!("no L402 challenge in {error:?}"))?;
        Challenge::parse(&format!("L402 macaroon=\"{token}\", invoice=\"{invoice}\""))
    }

    /// Parses `L402 macaroon="<base64>", invoice="<BOLT11>"` (with the
    /// payments crate's client-side parser, as the SDK does).
    pub fn parse(value: &str) -> Result<Challenge, String> {
        let bad = |why: String| format!("challenge {value:?}: {why}");
        let challenge = parse_www_authenticate(value).map_err(|e| bad(e.to_string()))?;
        let payment_hash = challenge
            .unverified_payment_hash()
            .map_err(|e| bad(format!("token does not parse: {e}")))?;
        Ok(Challenge {
            token: challenge.token,
            invoice: challenge.invoice,
            payment_hash,
        })
    }

    /// `L402 <token>:<hex preimage>` (or `L402 <token>:` with `None`).
    pub fn authorization(&self, preimage: Option<&Preimage>) -> String {
        shardgate_payments::l402::authorization(&self.token, preimage)
    }
}

/// What one Get delivered before it ended, frame by frame.
#[derive(Debug)]
pub struct Fetched {
    /// The header frame, if the stream got that far.
    pub header: Option<pb::GetHeader>,
    /// All data frames' bytes, concatenated in order.
    pub data: Vec<u8>,
    /// Number of data frames received; 0 means no byte was served (e.g. the
    /// download was refused for want of a credential).
    pub data_frames: usize,
    /// How the stream ended: `Ok` only when it ended with status OK (and,
    /// through the SDK, every check of the bytes passed).
    pub end: Result<(), ClientError>,
}

impl Default for Fetched {
    fn default() -> Fetched {
        Fetched {
            header: None,
            data: Vec::new(),
            data_frames: 0,
            end: Ok(()),
        }
    }
}

impl Fetched {
    /// The error the Get ended with, or a panic naming what was received.
    pub fn refused(&self) -> &ClientError {
        match &self.end {
            Err(error) => error,
            Ok(()) => panic!(
                "expected a refusal, the Get succeeded with {} bytes",
                self.data.len()
            ),
        }
    }

    /// The bytes, or a panic with the error.
    pub fn bytes(&self) -> &[u8] {
        if let Err(error) = &self.end {
            panic!("Get failed: {error:?}");
        }
        &self.data
    }
}

/// Runs `request` through the SDK (`Client::get`, presenting `credential`
/// as `TOKEN:PREIMAGE` if given, never paying) and keeps everything it
/// delivered, even when it fails mid-stream.
pub async fn fetch(client: &Client, request: pb::GetRequest, credential: Option<&str>) -> Fetched {
    let mut payment = PaymentPolicy::none()
        .hold(request.hold_invoice)
        .uses(request.uses);
    if let Some(credential) = credential {
        payment = payment.credential(credential);
    }
    let options = GetOptions {
        range: request.range.map(|r| (r.offset, r.length)),
        payment,
        ..GetOptions::default()
    };
    let mut fetched = Fetched::default();
    let mut download = match client.get(&request.blob_id, &options).await {
        Ok(download) => download,
        Err(error) => {
            fetched.end = Err(error);
            return fetched;
        }
    };
    fetched.header = Some(download.header().clone());
    loop {
        match download.next_chunk().await {
            Ok(Some(piece)) => {
                fetched.data_frames += 1;
                fetched.data.extend_from_slice(&piece);
            }
            Ok(None) => break,
            Err(error) => {
                fetched.end = Err(error);
                return fetched;
            }
        }
    }
    if let Err(error) = download.finish().await {
        fetched.end = Err(error);
    }
    fetched
}

/// A Get request for `blob` (`range` = `(offset, length)`).
pub fn get_request(blob: &str, range: Option<(u64, Option<u64>)>) -> pb::GetRequest {
    pb::GetRequest {
        blob_id: blob.into(),
        range: range.map(|(offset, length)| pb::ByteRange { offset, length }),
        ..Default::default()
    }
}

/// Uploads `bytes` as the tenant `key` at `price` (msat flat, msat per
/// MiB), 256 KiB chunks, public or private; returns the blob id.
pub async fn upload_priced(
    client: &Client,
    key: &str,
    name: &str,
    bytes: &[u8],
    price: (u64, u64),
    public: bool,
) -> Result<String, ClientError> {
    let mut options = PutOptions::new(name);
    options.chunk_size = Some(256 * 1024);
    options.price = Some(pb::Price {
        flat_msat: price.0,
        per_mib_msat: price.1,
    });
    options.public = public;
    let uploaded = as_tenant(client, Some(key))
        .put_bytes(bytes.to_vec(), options)
        .await?;
    Ok(uploaded.response.blob_id)
}

/// A broker with `[payments]` on a [`Lightning`] network, three `fs`
/// providers in a temp dir, and one tenant. Fields are public so a test can
/// take nodes down or look at the providers.
pub struct PaidBroker {
    /// The network the broker's node and the payer are on.
    pub lightning: Lightning,
    /// The running broker, configured with `[payments]` on the broker node.
    pub broker: BrokerProcess,
    /// Its three `fs` providers (`fs0`..`fs2`).
    pub providers: Vec<ProviderSpec>,
    /// Tenant id and API key of "owner".
    pub owner: (String, String),
    _provider_dir: tempfile::TempDir,
}

impl PaidBroker {
    /// `settings`: extra `[payments]` lines (see [`Lightning::payments_toml`]);
    /// `top_level`: extra top-level TOML keys (before `[payments]`).
    pub async fn start(
        settings: &[(&str, &str)],
        top_level: &str,
    ) -> Result<PaidBroker, PeerError> {
        let lightning = Lightning::start().await?;
        Self::start_on(lightning, settings, top_level).await
    }

    /// As [`PaidBroker::start`] on an existing network (e.g. one whose
    /// broker node is down).
    pub async fn start_on(
        lightning: Lightning,
        settings: &[(&str, &str)],
        top_level: &str,
    ) -> Result<PaidBroker, PeerError> {
        let provider_dir = tempfile::Builder::new()
            .prefix("shardgate-paid-providers-")
            .tempdir()
            .map_err(|e| PeerError::io("create provider dir", e))?;
        let providers: Vec<ProviderSpec> = (0..3)
            .map(|i| {
                ProviderSpec::fs(
                    &format!("fs{i}"),
                    provider_dir.path().join(format!("fs{i}")),
                )
            })
            .collect();
        let toml = format!("{top_level}\n{}", lightning.payments_toml(settings));
        let broker = BrokerProcess::start(&providers, &toml).await?;
        let owner = broker
            .create_tenant("owner", None)
            .await
            .map_err(|s| PeerError::Protocol {
                peer: "shardgate serve".into(),
                reason: format!("create tenant: {s}"),
            })?;
        Ok(PaidBroker {
            lightning,
            broker,
            providers,
            owner,
            _provider_dir: provider_dir,
        })
    }

    /// API key of the "owner" tenant, which uploads and prices blobs.
    pub fn owner_key(&self) -> &str {
        &self.owner.1
    }

    /// A second tenant (id, API key), e.g. to check what it may not see.
    pub async fn tenant(&self, name: &str) -> (String, String) {
        self.broker
            .create_tenant(name, None)
            .await
            .expect("create tenant")
    }

    /// An SDK client without keys on a fresh connection (act as a tenant
    /// with [`as_tenant`]).
    pub async fn client(&self) -> Client {
        self.broker.client().await.expect("connect to the broker")
    }

    /// Uploads `bytes` as the owner with `price` (msat flat, msat per MiB),
    /// 256 KiB chunks, public or private; returns the blob id.
    pub async fn upload(
        &self,
        name: &str,
        bytes: &[u8],
        price: (u64, u64),
        public: bool,
    ) -> String {
        self.upload_as(self.owner_key(), name, bytes, price, public)
            .await
    }

    /// As [`PaidBroker::upload`] with another tenant's API key.
    pub async fn upload_as(
        &self,
        key: &str,
        name: &str,
        bytes: &[u8],
        price: (u64, u64),
        public: bool,
    ) -> String {
        let client = self.client().await;
        upload_priced(&client, key, name, bytes, price, public)
            .await
            .unwrap_or_else(|e| panic!("upload {name}: {e}\n{}", self.broker.log_tail()))
    }

    /// The ids of a public blob's chunks, in order (from its manifest,
    /// which the SDK checks against the blob id).
    pub async fn chunk_ids(&self, blob: &str) -> Vec<String> {
        let manifest = self
            .client()
            .await
            .manifest(blob)
            .await
            .expect("GetManifest");
        manifest.chunks().iter().map(|c| c.id.to_hex()).collect()
    }

    /// Storage.GetLimits.
    pub async fn limits(&self) -> pb::Limits {
        self.client().await.limits().await.expect("GetLimits")
    }

    /// Payments.GetPaymentStatus (no key).
    pub async fn payment_status(
        &self,
        hash: &PaymentHash,
    ) -> Result<pb::PaymentStatus, ClientError> {
        self.client().await.payment_status(&hash.to_hex()).await
    }

    /// A Get without credential; its challenge (panics if the refusal is
    /// not UNAUTHENTICATED with a challenge, or if any data came).
    pub async fn challenge(&self, request: pb::GetRequest, key: Option<&str>) -> Challenge {
        let client = as_tenant(&self.client().await, key);
        let fetched = fetch(&client, request, None).await;
        assert_eq!(fetched.data_frames, 0, "data served without a credential");
        let error = fetched.refused();
        assert_eq!(error.kind(), ErrorKind::Unpaid, "{error:?}");
        assert_eq!(error.code(), Some(Code::Unauthenticated), "{error:?}");
        Challenge::from_error(error).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Challenge, then pay it: the credential as `authorization` value.
    pub async fn buy(&self, request: pb::GetRequest, key: Option<&str>) -> (Challenge, String) {
        let challenge = self.challenge(request, key).await;
        let preimage = self
            .lightning
            .pay(&challenge.invoice)
            .await
            .unwrap_or_else(|e| panic!("pay the challenge invoice: {e}"));
        let authorization = challenge.authorization(Some(&preimage));
        (challenge, authorization)
    }

    /// A Get with `authorization` (and `key`), collected. A value the SDK
    /// sends byte for byte (`L402 TOKEN:PREIMAGE`, as [`PaidBroker::buy`]
    /// returns) goes through `Client::get` as its credential; anything
    /// else (the malformed values of the bad-input tests) goes out verbatim
    /// through [`crate::raw_wire`].
    pub async fn get_with(
        &self,
        request: pb::GetRequest,
        authorization: &str,
        key: Option<&str>,
    ) -> Fetched {
        match authorization.strip_prefix("L402 ") {
            Some(credential) if credential.trim() == credential && !credential.is_empty() => {
                let client = as_tenant(&self.client().await, key);
                fetch(&client, request, Some(credential)).await
            }
            _ => {
                let mut raw = raw_wire::storage(&self.broker.url()).await;
                raw_wire::fetch(&mut raw, raw_wire::authorized(request, authorization, key)).await
            }
        }
    }

    /// Waits until the ledger holds at least `count` entries (bounded) and
    /// returns them all. The broker records a payment when the download
    /// has ended (it counts the shards actually served), in a task of its
    /// own, so an entry may appear a moment after the last frame.
    pub async fn wait_for_ledger_entries(&self, count: usize) -> Vec<pb::LedgerEntry> {
        let admin = self
            .broker
            .admin_client()
            .await
            .expect("connect to the broker");
        let deadline = Instant::now() + LEDGER_WAIT;
        loop {
            let mut entries = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = admin
                    .ledger(pb::ListLedgerEntriesRequest {
                        page_size: 1000,
                        page_token: page_token.clone(),
                        ..Default::default()
                    })
                    .await
                    .expect("ListLedgerEntries as admin");
                entries.extend(page.entries);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            if entries.len() >= count || Instant::now() >= deadline {
                return entries;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Shard object keys per provider (`shards/xx/<chunk id>.<index>`).
    pub async fn shard_keys(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for spec in &self.providers {
            let keys = spec.shard_objects().await.expect("list provider");
            out.push((spec.name.clone(), keys));
        }
        out
    }

    /// Root directory of the `fs` provider `name`.
    pub fn provider_root(&self, name: &str) -> PathBuf {
        let spec = self
            .providers
            .iter()
            .find(|p| p.name == name)
            .expect("known provider");
        match &spec.target {
            crate::broker_process::ProviderTarget::Fs { root } => root.clone(),
            _ => unreachable!("PaidBroker providers are fs"),
        }
    }
}
