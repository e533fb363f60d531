//! Paid downloads end to end inside one process: a real broker (`run_with`,
//! redb index, three fs providers) whose `[payments]` points at a simulated
//! LND node (`shardgate-lnd-sim`, real gRPC over TLS), and a payer node on
//! the same simulated network paying through `LightningNode::pay_invoice`.

use crate::common;

use std::time::Duration;

use common::{TestBroker, as_tenant, bytes, header, lnd_client as client_of, put};
use shardgate_broker::PaymentsConfig;
use shardgate_client::{Client, ClientError, GetOptions, PaymentPolicy};
use shardgate_lnd_sim::{FaultConfig, SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::{InvoiceState, LightningNode, PaymentHash, Preimage};
use shardgate_proto::v1 as pb;
use tonic::Code;

const PRICE: pb::Price = pb::Price {
    flat_msat: 1_000,
    per_mib_msat: 4_000,
};
/// Bound on every wait for a state change.
const WAIT: Duration = Duration::from_secs(15);

struct PaidSetup {
    broker: TestBroker,
    lnd: SimNode,
    payer_node: SimNode,
    /// The broker node, seen from the test (to check invoice states).
    lnd_view: LightningNode,
    payer: LightningNode,
    /// Tenants created so far (names must be unique).
    owners: std::sync::atomic::AtomicUsize,
    _dir: tempfile::TempDir,
}

impl PaidSetup {
    async fn start() -> PaidSetup {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut PaymentsConfig)) -> PaidSetup {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let lnd = SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b")))
            .await
            .expect("broker node");
        let payer_node = SimNode::start(
            &network,
            SimNodeConfig::new("payer", dir.path().join("p")).with_balance_msat(1_000_000_000),
        )
        .await
        .expect("payer node");
        let mut payments = PaymentsConfig {
            lnd_endpoint: lnd.grpc_socket(),
            lnd_tls_cert: Some(lnd.tls_cert_path().to_path_buf()),
            lnd_macaroon: Some(lnd.macaroon_path().to_path_buf()),
            lnd_call_timeout_ms: 2_000,
            ..PaymentsConfig::default()
        };
        tweak(&mut payments);
        let broker = TestBroker::start_with(|c| c.payments = Some(payments)).await;
        let lnd_view = client_of(&lnd).await;
        let payer = client_of(&payer_node).await;
        PaidSetup {
            broker,
            lnd,
            payer_node,
            lnd_view,
            payer,
            owners: Default::default(),
            _dir: dir,
        }
    }

    /// An SDK client without keys, for the Payments calls anyone may make.
    async fn payments(&self) -> Client {
        self.broker.client().await
    }

    /// A public priced blob of `len` bytes owned by a new tenant: (tenant
    /// id, blob id, bytes).
    async fn priced_blob(&self, len: usize) -> (String, String, Vec<u8>) {
        let n = self
            .owners
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tenant, key) = self.broker.tenant(&format!("owner{n}"), None).await;
        let data = bytes(len, 7);
        let mut h = header("paid.bin", Some(len as u64));
        h.price = Some(PRICE);
        h.visibility = pb::Visibility::Public as i32;
        let client = self.broker.client().await;
        let blob = put(&client, Some(&key), h, &data)
            .await
            .expect("put")
            .blob_id;
        (tenant, blob, data)
    }

    async fn stop(self) {
        self.broker.stop().await;
        self.payer_node.shutdown().await.expect("payer stops");
        self.lnd.shutdown().await.expect("node stops");
    }
}

/// The challenge of a refused Get: (macaroon, invoice).
fn challenge(error: &ClientError) -> (String, String) {
    let (invoice, token) = error
        .challenge()
        .unwrap_or_else(|| panic!("no challenge on {error:?}"));
    (token.to_owned(), invoice.to_owned())
}

fn payment_hash_of(macaroon: &str) -> PaymentHash {
    let credential = shardgate_payments::parse_authorization(&format!("L402 {macaroon}:"))
        .expect("our own token parses");
    credential.unverified_payment_hash().expect("identifier")
}

/// Get with optional `authorization`; the bytes received before any error
/// are returned with it, so "zero bytes" is checked, not assumed.
async fn get_paid(
    client: &Client,
    blob: &str,
    auth: Option<&str>,
    hold_invoice: bool,
    uses: u32,
) -> (Vec<u8>, Result<pb::GetHeader, ClientError>) {
    let request = pb::GetRequest {
        blob_id: blob.into(),
        range: None,
        hold_invoice,
        uses,
    };
    get_request(client, request, auth).await
}

/// `request` through the SDK, presenting `auth` (`L402 TOKEN:PREIMAGE`) as
/// its credential and never paying.
async fn get_request(
    client: &Client,
    request: pb::GetRequest,
    auth: Option<&str>,
) -> (Vec<u8>, Result<pb::GetHeader, ClientError>) {
    let mut payment = PaymentPolicy::none()
        .hold(request.hold_invoice)
        .uses(request.uses);
    if let Some(auth) = auth {
        let credential = auth.strip_prefix("L402 ").expect("an L402 authorization");
        payment = payment.credential(credential);
    }
    let options = GetOptions {
        range: request.range.map(|r| (r.offset, r.length)),
        payment,
        ..GetOptions::default()
    };
    let mut data = Vec::new();
    let mut download = match client.get(&request.blob_id, &options).await {
        Ok(download) => download,
        Err(error) => return (data, Err(error)),
    };
    let header = download.header().clone();
    loop {
        match download.next_chunk().await {
            Ok(Some(piece)) => data.extend_from_slice(&piece),
            Ok(None) => break,
            Err(error) => return (data, Err(error)),
        }
    }
    match download.finish().await {
        Ok(_) => (data, Ok(header)),
        Err(error) => (data, Err(error)),
    }
}

/// A Get challenge for `blob`, paid: the `authorization` value.
async fn paid_credential(setup: &PaidSetup, client: &Client, blob: &str) -> String {
    let (_, result) = get_paid(client, blob, None, false, 1).await;
    let (macaroon, invoice) = challenge(&result.expect_err("challenge"));
    let preimage = pay(setup, &invoice).await;
    format!("L402 {macaroon}:{}", preimage.to_hex())
}

/// A hold challenge for `blob`, paid and ACCEPTED: the `authorization`
/// value (empty preimage), the payment hash, and the payer's task (it ends
/// when the broker settles or cancels).
async fn accepted_hold(
    setup: &PaidSetup,
    client: &Client,
    blob: &str,
) -> (
    String,
    PaymentHash,
    tokio::task::JoinHandle<Result<Preimage, shardgate_payments::PaymentError>>,
) {
    let (_, result) = get_paid(client, blob, None, true, 1).await;
    let (macaroon, invoice) = challenge(&result.expect_err("challenge"));
    let hash = payment_hash_of(&macaroon);
    let payer = setup.payer.clone();
    let paying = tokio::spawn(async move { payer.pay_invoice(&invoice, 0, WAIT).await });
    wait_state(setup, &hash, InvoiceState::Accepted).await;
    (format!("L402 {macaroon}:"), hash, paying)
}

async fn pay(setup: &PaidSetup, invoice: &str) -> Preimage {
    setup
        .payer
        .pay_invoice(invoice, 0, WAIT)
        .await
        .expect("payment succeeds")
}

/// Polls the broker's node until the invoice is in `state` (bounded).
async fn wait_state(setup: &PaidSetup, hash: &PaymentHash, state: InvoiceState) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = setup.lnd_view.lookup_invoice(hash).await.expect("lookup");
        if status.state == state {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "invoice stayed {:?}, expected {state:?}",
            status.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn earnings(setup: &PaidSetup) -> Vec<pb::AccountBalance> {
    setup
        .broker
        .admin()
        .await
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect("earnings")
        .balances
}

/// Polls GetEarnings until the LIGHTNING account received `msat` (bounded).
async fn wait_ledger_total(setup: &PaidSetup, msat: u64) -> Vec<pb::AccountBalance> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let balances = earnings(setup).await;
        let received = balances
            .iter()
            .find(|b| b.account.as_ref().unwrap().kind == pb::AccountKind::Lightning as i32)
            .map_or(0, |b| b.debited_msat);
        if received == msat {
            return balances;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ledger received {received}, expected {msat}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn unpaid_is_challenged_paid_is_served_exactly_and_a_spent_token_is_refused() {
    let setup = PaidSetup::start().await;
    let (tenant, blob, data) = setup.priced_blob(600_000).await;
    let client = setup.broker.client().await;

    let (got, result) = get_paid(&client, &blob, None, false, 1).await;
    let status = result.expect_err("unpaid");
    assert_eq!(status.code(), Some(Code::Unauthenticated), "{status:?}");
    assert!(got.is_empty(), "zero bytes before payment");
    let (macaroon, invoice) = challenge(&status);

    // Paying but presenting a wrong preimage is refused with a new challenge.
    let wrong = format!("L402 {macaroon}:{}", "00".repeat(32));
    let (got, result) = get_paid(&client, &blob, Some(&wrong), false, 1).await;
    let status = result.expect_err("wrong preimage");
    assert_eq!(status.code(), Some(Code::Unauthenticated));
    assert!(
        status.message().contains("preimage"),
        "{}",
        status.message()
    );
    assert!(got.is_empty());

    // Valid but not yet paid: FAILED_PRECONDITION, nothing used up.
    let hash = payment_hash_of(&macaroon);
    let unpaid_status = setup.lnd_view.lookup_invoice(&hash).await.expect("lookup");
    assert_eq!(unpaid_status.state, InvoiceState::Open);

    let preimage = pay(&setup, &invoice).await;
    let auth = format!("L402 {macaroon}:{}", preimage.to_hex());
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    let header = result.expect("paid download");
    assert_eq!(got, data, "exact bytes");
    assert_eq!(header.uses_remaining, 0);
    assert!(!header.hold);

    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    let status = result.expect_err("spent");
    assert_eq!(status.code(), Some(Code::Unauthenticated));
    assert!(
        status.message().contains("used up: 1 of 1"),
        "{}",
        status.message()
    );
    assert!(got.is_empty());
    let (fresh, _) = challenge(&status);
    assert_ne!(fresh, macaroon, "a fresh invoice");

    // The payment is in the ledger once: 70 % owner, providers and broker
    // share the rest, and it balances.
    let amount = 1_000 + (4_000u64 * 600_000).div_ceil(1 << 20);
    let balances = wait_ledger_total(&setup, amount).await;
    let credited: u64 = balances.iter().map(|b| b.credited_msat).sum();
    let debited: u64 = balances.iter().map(|b| b.debited_msat).sum();
    assert_eq!(credited, debited);
    assert_eq!(debited, amount);
    let owner = balances
        .iter()
        .find(|b| b.account.as_ref().unwrap().id == tenant)
        .expect("owner account");
    assert_eq!(owner.balance_msat, amount * 7 / 10);
    let providers: u64 = balances
        .iter()
        .filter(|b| b.account.as_ref().unwrap().kind == pb::AccountKind::Provider as i32)
        .map(|b| b.credited_msat)
        .sum();
    assert!(providers > 0 && providers <= amount / 5, "{providers}");

    setup.stop().await;
}

#[tokio::test]
async fn multi_use_credentials_count_down_and_status_reports_uses() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, data) = setup.priced_blob(1000).await;
    let payments = setup.payments().await;
    let invoice = payments
        .create_invoice(pb::CreateInvoiceRequest {
            blob_id: blob.clone(),
            range: None,
            hold: false,
            uses: 2,
        })
        .await
        .expect("invoice");
    assert_eq!(invoice.uses, 2);
    let preimage = pay(&setup, &invoice.payment_request).await;
    let auth = format!("L402 {}:{}", invoice.l402_token, preimage.to_hex());
    let client = setup.broker.client().await;
    for remaining in [1, 0] {
        let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
        assert_eq!(result.expect("download").uses_remaining, remaining);
        assert_eq!(got, data);
    }
    let status = payments
        .payment_status(&invoice.payment_hash)
        .await
        .expect("status");
    assert_eq!(status.state, pb::InvoiceState::Settled as i32);
    assert_eq!((status.uses, status.uses_remaining), (2, 0));
    assert_eq!(status.amount_msat, invoice.amount_msat);

    // Bad requests are INVALID_ARGUMENT, not a challenge.
    for (hold, uses) in [(true, 2), (false, 101)] {
        let err = payments
            .create_invoice(pb::CreateInvoiceRequest {
                blob_id: blob.clone(),
                range: None,
                hold,
                uses,
            })
            .await
            .expect_err("bad uses");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
        let (_, result) = get_paid(&client, &blob, None, hold, uses).await;
        assert_eq!(result.expect_err("bad").code(), Some(Code::InvalidArgument));
    }
    setup.stop().await;
}

#[tokio::test]
async fn hold_invoice_is_settled_after_delivery_and_canceled_on_broker_failure() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, data) = setup.priced_blob(300_000).await;
    let client = setup.broker.client().await;

    // Delivered: ACCEPTED → served with an empty preimage → SETTLED.
    let (auth, hash, paying) = accepted_hold(&setup, &client, &blob).await;
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    assert!(result.expect("held download").hold);
    assert_eq!(got, data);
    wait_state(&setup, &hash, InvoiceState::Settled).await;
    let preimage = paying.await.expect("join").expect("payment completes");
    assert_eq!(preimage.payment_hash(), hash);

    // Broker failure: two of three providers lose their shards, the
    // download fails, the invoice is canceled and the payer keeps the funds.
    let before = setup.payer_node.balance_msat();
    let (auth, hash, paying) = accepted_hold(&setup, &client, &blob).await;
    for root in &setup.broker.provider_roots[..2] {
        std::fs::remove_dir_all(root.join("shards")).expect("remove shards");
    }
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    let status = result.expect_err("broker failure");
    assert!(
        matches!(status.code(), Some(Code::DataLoss | Code::Unavailable)),
        "{status:?}"
    );
    assert!(got.is_empty());
    wait_state(&setup, &hash, InvoiceState::Canceled).await;
    assert!(paying.await.expect("join").is_err(), "payment failed back");
    assert_eq!(setup.payer_node.balance_msat(), before, "funds released");
    let status = setup
        .payments()
        .await
        .payment_status(&hash.to_hex())
        .await
        .expect("status");
    assert_eq!(status.state, pb::InvoiceState::Canceled as i32);
    setup.stop().await;
}

#[tokio::test]
async fn an_unused_accepted_hold_invoice_is_canceled_after_the_timeout() {
    let setup = PaidSetup::start_with(|p| p.hold_accept_timeout_secs = 1).await;
    let (_tenant, blob, _data) = setup.priced_blob(1000).await;
    let client = setup.broker.client().await;
    let (auth, hash, paying) = accepted_hold(&setup, &client, &blob).await;
    wait_state(&setup, &hash, InvoiceState::Canceled).await;
    assert!(paying.await.expect("join").is_err());
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    assert_eq!(
        result.expect_err("canceled").code(),
        Some(Code::Unauthenticated)
    );
    assert!(got.is_empty());
    setup.stop().await;
}

#[tokio::test]
async fn lnd_down_or_slow_is_unavailable_and_uses_nothing() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, data) = setup.priced_blob(1000).await;
    let client = setup.broker.client().await;
    let auth = paid_credential(&setup, &client, &blob).await;

    setup.lnd.set_down(true).await.expect("down");
    for auth in [None, Some(auth.as_str())] {
        let (got, result) = get_paid(&client, &blob, auth, false, 1).await;
        let status = result.expect_err("lnd down");
        assert_eq!(status.code(), Some(Code::Unavailable), "{status:?}");
        assert!(status.challenge().is_none());
        assert!(got.is_empty());
    }
    setup.lnd.set_down(false).await.expect("up");
    setup.lnd.set_faults(FaultConfig {
        latency: Duration::from_secs(3),
        payment_failure: None,
    });
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    assert_eq!(result.expect_err("slow").code(), Some(Code::Unavailable));
    assert!(got.is_empty());
    setup.lnd.set_faults(FaultConfig::default());

    // Nothing was used up by the refusals: the single use still works.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
        match result {
            Ok(_) => {
                assert_eq!(got, data);
                break;
            }
            Err(s)
                if s.code() == Some(Code::Unavailable)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("after LND is back: {s:?}"),
        }
    }
    setup.stop().await;
}

#[tokio::test]
async fn a_broker_whose_lnd_is_unreachable_at_start_serves_nothing_until_it_connects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = SimNetwork::new();
    let lnd = SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b")))
        .await
        .expect("node");
    lnd.set_down(true).await.expect("down");
    let payments = PaymentsConfig {
        lnd_endpoint: lnd.grpc_socket(),
        lnd_tls_cert: Some(lnd.tls_cert_path().to_path_buf()),
        lnd_macaroon: Some(lnd.macaroon_path().to_path_buf()),
        lnd_call_timeout_ms: 1_000,
        ..PaymentsConfig::default()
    };
    let broker = TestBroker::start_with(|c| c.payments = Some(payments)).await;
    let (_, key) = broker.tenant("bob", None).await;
    let client = broker.client().await;
    let data = bytes(5000, 3);
    let free = put(&client, Some(&key), header("free", None), &data)
        .await
        .expect("put")
        .blob_id;
    // Other bytes: the same bytes would be the same blob (Put is idempotent).
    let mut h = header("paid", None);
    h.price = Some(PRICE);
    let paid = put(&client, Some(&key), h, &bytes(5000, 4))
        .await
        .expect("put")
        .blob_id;
    // Every download is paid (a zero price costs the minimum invoice), so
    // without a node nothing is served: not even the owner's zero-priced blob.
    for blob in [&free, &paid] {
        let err = common::get(&client, Some(&key), blob, None)
            .await
            .expect_err("no node, no download");
        assert_eq!(err.code(), Some(Code::Unavailable), "{err:?}");
    }
    let limits = client.limits().await.expect("limits");
    assert_eq!(limits.max_invoice_uses, 100);
    assert_eq!(limits.hold_accept_timeout.expect("set").seconds, 600);

    // The background task connects once the node is up.
    lnd.set_down(false).await.expect("up");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let owner = as_tenant(&client, Some(&key));
        match owner.get(&paid, &GetOptions::default()).await {
            Err(e) if e.code() == Some(Code::Unauthenticated) => {
                challenge(&e);
                break;
            }
            Err(e)
                if e.code() == Some(Code::Unavailable)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("expected a challenge once LND is back: {:?}", other.err()),
        }
    }
    broker.stop().await;
    lnd.shutdown().await.expect("stops");
}

#[tokio::test]
async fn without_payments_the_service_says_so_and_earnings_follow_the_key() {
    let broker = TestBroker::start().await;
    let err = broker
        .admin()
        .await
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect_err("disabled");
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    assert!(
        err.message().contains("payments are not enabled"),
        "{}",
        err.message()
    );
    broker.stop().await;

    let setup = PaidSetup::start().await;
    let (tenant, key) = setup.broker.tenant("carol", None).await;
    let payments = as_tenant(&setup.payments().await, Some(&key));
    let mine = payments
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect("own earnings");
    assert_eq!(mine.balances.len(), 1);
    assert_eq!(mine.balances[0].account.as_ref().unwrap().id, tenant);
    let err = payments
        .earnings(pb::AccountKind::Broker)
        .await
        .expect_err("not admin");
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    let err = payments
        .ledger(pb::ListLedgerEntriesRequest {
            account: Some(pb::Account {
                kind: pb::AccountKind::Owner as i32,
                id: "someone-else".into(),
            }),
            ..Default::default()
        })
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    setup.stop().await;
}

#[tokio::test]
async fn a_credential_covers_only_its_range_and_its_blob() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, data) = setup.priced_blob(4000).await;
    let range = |offset, length| pb::GetRequest {
        blob_id: blob.clone(),
        range: Some(pb::ByteRange {
            offset,
            length: Some(length),
        }),
        ..Default::default()
    };
    let client = setup.broker.client().await;
    let (_, result) = get_request(&client, range(100, 50), None).await;
    let (macaroon, invoice) = challenge(&result.expect_err("challenge"));
    let preimage = pay(&setup, &invoice).await;
    let auth = format!("L402 {macaroon}:{}", preimage.to_hex());

    let (got, result) = get_request(&client, range(100, 100), Some(&auth)).await;
    let status = result.expect_err("wider range");
    assert_eq!(status.code(), Some(Code::Unauthenticated));
    assert!(
        status
            .message()
            .contains("range 100+100 not covered by paid range 100+50"),
        "{}",
        status.message()
    );
    assert!(got.is_empty());
    let (_, other, _) = setup.priced_blob(10).await;
    let (_, result) = get_request(
        &client,
        pb::GetRequest {
            blob_id: other,
            ..Default::default()
        },
        Some(&auth),
    )
    .await;
    let status = result.expect_err("other blob");
    assert!(
        status
            .message()
            .contains(&format!("credential is for blob {blob}")),
        "{}",
        status.message()
    );

    // The refusals used nothing: the single use serves the paid range.
    let (got, result) = get_request(&client, range(100, 50), Some(&auth)).await;
    result.expect("paid range");
    assert_eq!(got, data[100..150]);
    setup.stop().await;
}

#[tokio::test]
async fn a_broker_failure_gives_the_use_back() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, data) = setup.priced_blob(2000).await;
    let client = setup.broker.client().await;
    let auth = paid_credential(&setup, &client, &blob).await;
    let roots = &setup.broker.provider_roots[..2];
    for root in roots {
        std::fs::rename(root.join("shards"), root.join("shards.away")).expect("hide shards");
    }
    let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
    let status = result.expect_err("shards missing");
    assert!(
        matches!(status.code(), Some(Code::DataLoss | Code::Unavailable)),
        "{status:?}"
    );
    assert!(got.is_empty());
    for root in roots {
        std::fs::rename(root.join("shards.away"), root.join("shards")).expect("restore shards");
    }
    // The one use was released by the failure (in the background: bounded poll).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (got, result) = get_paid(&client, &blob, Some(&auth), false, 1).await;
        match result {
            Ok(header) => {
                assert_eq!(got, data);
                assert_eq!(header.uses_remaining, 0);
                break;
            }
            Err(s) if tokio::time::Instant::now() < deadline => {
                assert!(
                    matches!(s.code(), Some(Code::Unauthenticated | Code::Unavailable)),
                    "{s:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("use not given back: {s:?}"),
        }
    }
    setup.stop().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_download_still_pays_a_hold_invoice() {
    let setup = PaidSetup::start().await;
    let (_tenant, blob, _data) = setup.priced_blob(4 << 20).await;
    let client = setup.broker.client().await;
    let (auth, hash, paying) = accepted_hold(&setup, &client, &blob).await;
    let credential = auth.strip_prefix("L402 ").expect("an L402 authorization");
    let options = GetOptions {
        payment: PaymentPolicy::none().credential(credential),
        ..GetOptions::default()
    };
    let mut download = client.get(&blob, &options).await.expect("served");
    assert!(download.header().hold);
    download
        .next_chunk()
        .await
        .expect("frame")
        .expect("some data");
    // Hang up with most of the blob unread: the broker cannot tell this
    // from a client that got everything, so the invoice is settled.
    drop(download);
    drop(client);
    wait_state(&setup, &hash, InvoiceState::Settled).await;
    assert!(paying.await.expect("join").is_ok());
    setup.stop().await;
}
