//! [`LightningNode`]: the broker's (and a payer's) LND node, through
//! `lnd_grpc_rust`'s generated clients over TLS with a macaroon.
//!
//! Every call has a per-call timeout and every failure becomes a
//! [`PaymentError`] here (see `status_map.rs`).
//!
//! The clients run over our own channel (`channel.rs`: TCP_NODELAY, TLS
//! pinned to the node's certificate in `pinned_tls.rs`), not over
//! `lnd_grpc_rust::connect`'s, whose Nagle-on connector added ~44 ms to
//! every call. The channel, the clients and their call futures are `Send`
//! (checked by `lnd_futures_are_send` in the tests), so the broker can call
//! the node from any task. Each call clones the client (cheap: a handle to
//! the shared channel) because the generated methods take `&mut self`.

mod channel;
mod clients;
mod config;
mod create;
mod decode;
mod invoice;
pub mod metrics;
mod pay;
mod payout;
mod pinned_tls;
mod status_map;

use std::future::Future;
use std::time::{Duration, Instant};

use lnd_grpc_rust::{invoicesrpc, lnrpc};

use clients::{LndClients, MacaroonInterceptor};

pub use config::{DEFAULT_CALL_TIMEOUT, LndConfig, MacaroonSource, TlsCertSource};
pub use create::MAX_MEMO_BYTES;
pub use decode::DecodedInvoice;
pub use invoice::{InvoiceState, InvoiceStatus, NewInvoice};
pub use pay::InvoiceSubscription;
pub use payout::PayoutUpdate;

use crate::error::PaymentError;
use crate::l402::{PaymentHash, Preimage};
use status_map::map_status;

/// Identity and sync state of the node (a health check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Hex of the node's 33-byte compressed identity key.
    pub identity_pubkey: String,
    /// The node's chosen name.
    pub alias: String,
    /// False while the node catches up with the chain: it should not be
    /// trusted with payments yet.
    pub synced_to_chain: bool,
    /// Height of the best block the node knows.
    pub block_height: u32,
}

/// Funds of the node's channels, msat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelBalance {
    /// Spendable now.
    pub local_msat: u64,
    /// Locked in payments in flight (e.g. to ACCEPTED hold invoices).
    pub unsettled_local_msat: u64,
}

/// A connected LND node. Cheap to clone; share one per broker.
#[derive(Clone)]
pub struct LightningNode {
    client: LndClients,
    timeout: Duration,
    endpoint: String,
}

impl std::fmt::Debug for LightningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightningNode")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LightningNode {
    /// Reads the certificate and macaroon and prepares the client. No
    /// request is sent yet (the connection is opened by the first call);
    /// call [`LightningNode::get_info`] to check reachability and
    /// credentials.
    pub async fn connect(config: &LndConfig) -> Result<LightningNode, PaymentError> {
        let socket = config.socket()?;
        let tls = pinned_tls::client_config(&config.cert_pem().await?)?;
        let macaroon = MacaroonInterceptor::new(&config.macaroon_hex().await?)?;
        let channel = channel::lazy_channel(&socket, tls, config.call_timeout)?;
        Ok(LightningNode {
            client: LndClients::new(channel, macaroon),
            timeout: config.call_timeout,
            endpoint: socket,
        })
    }

    /// The per-call timeout in force.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one call under the per-call timeout, maps its failure and
    /// records its metrics.
    async fn call<T, F>(&self, op: &'static str, fut: F) -> Result<T, PaymentError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.run(op, None, fut).await
    }

    /// Like [`Self::call`] for calls about one invoice: LND's "unable to
    /// locate invoice" becomes [`PaymentError::InvoiceNotFound`].
    async fn call_for<T, F>(
        &self,
        op: &'static str,
        hash: &PaymentHash,
        fut: F,
    ) -> Result<T, PaymentError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.run(op, Some(hash), fut).await
    }

    async fn run<T, F>(
        &self,
        op: &'static str,
        hash: Option<&PaymentHash>,
        fut: F,
    ) -> Result<T, PaymentError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(PaymentError::LndTimeout {
                op,
                after: self.timeout,
            }),
            Ok(Err(status)) => Err(match (map_status(op, status), hash) {
                (PaymentError::LndRejected { ref detail, .. }, Some(hash))
                    if is_not_found(detail) =>
                {
                    PaymentError::InvoiceNotFound {
                        payment_hash: hash.to_hex(),
                    }
                }
                (other, _) => other,
            }),
            Ok(Ok(response)) => Ok(response.into_inner()),
        };
        metrics::record(op, &result, started.elapsed());
        result
    }

    /// Identity and sync state; also proves the macaroon is accepted.
    pub async fn get_info(&self) -> Result<NodeInfo, PaymentError> {
        let mut client = self.client.clone();
        let info = self
            .call(
                "GetInfo",
                client.lightning().get_info(lnrpc::GetInfoRequest {}),
            )
            .await?;
        Ok(NodeInfo {
            identity_pubkey: info.identity_pubkey,
            alias: info.alias,
            synced_to_chain: info.synced_to_chain,
            block_height: info.block_height,
        })
    }

    /// Local channel funds (the payer's wallet balance in tests).
    pub async fn channel_balance(&self) -> Result<ChannelBalance, PaymentError> {
        let mut client = self.client.clone();
        let b = self
            .call(
                "ChannelBalance",
                client
                    .lightning()
                    .channel_balance(lnrpc::ChannelBalanceRequest {}),
            )
            .await?;
        Ok(ChannelBalance {
            local_msat: b.local_balance.map_or(0, |a| a.msat),
            unsettled_local_msat: b.unsettled_local_balance.map_or(0, |a| a.msat),
        })
    }

    /// The invoice's state now.
    pub async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, PaymentError> {
        let mut client = self.client.clone();
        let inv = self
            .call_for(
                "LookupInvoice",
                payment_hash,
                client.lightning().lookup_invoice(lnrpc::PaymentHash {
                    r_hash: payment_hash.0.to_vec(),
                    ..Default::default()
                }),
            )
            .await?;
        let status = invoice::status_from("LookupInvoice", inv)?;
        if status.payment_hash != *payment_hash {
            return Err(PaymentError::LndProtocol {
                op: "LookupInvoice",
                detail: "answer is about another invoice".into(),
            });
        }
        Ok(status)
    }

    /// Settles an ACCEPTED hold invoice with its preimage.
    pub async fn settle_invoice(&self, preimage: &Preimage) -> Result<(), PaymentError> {
        let hash = preimage.payment_hash();
        let mut client = self.client.clone();
        self.call_for(
            "SettleInvoice",
            &hash,
            client
                .invoices()
                .settle_invoice(invoicesrpc::SettleInvoiceMsg {
                    preimage: preimage.0.to_vec(),
                }),
        )
        .await?;
        Ok(())
    }

    /// Cancels an OPEN or ACCEPTED invoice (the payer's funds are released).
    pub async fn cancel_invoice(&self, payment_hash: &PaymentHash) -> Result<(), PaymentError> {
        let mut client = self.client.clone();
        self.call_for(
            "CancelInvoice",
            payment_hash,
            client
                .invoices()
                .cancel_invoice(invoicesrpc::CancelInvoiceMsg {
                    payment_hash: payment_hash.0.to_vec(),
                }),
        )
        .await?;
        Ok(())
    }
}

fn is_not_found(detail: &str) -> bool {
    detail.contains("unable to locate invoice")
        || detail.contains("there are no existing invoices")
        || detail.contains("invoice not found")
}
