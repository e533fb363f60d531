//! Payments in the broker: the [`PaymentGate`] every download asks before
//! its first byte, and the Lightning machinery behind it.
//!
//! * [`FreeOnly`] — no `[payments]` configured: free blobs are served,
//!   priced ones refused (never served free).
//! * [`gate::L402Gate`] — L402 over the broker's LND node; see `gate.rs`.
//!
//! | file | role |
//! |---|---|
//! | `lightning.rs` | [`LndLink`]: connect + `GetInfo`, background reconnect |
//! | `cashier.rs` | [`Cashier`]: shared state, invoice issuer (quote → invoice → index → token) |
//! | `gate.rs` | the L402 gate (verify → reserve use → LND → check → grant) |
//! | `refusal.rs` | messages of refused credentials |
//! | `settlement.rs` | [`Settlement`]: finishing a paid download exactly once |
//! | `ledger.rs` | the split of one payment as a ledger entry |
//! | `watcher.rs` | cancels unused ACCEPTED hold invoices |
//! | `credit.rs` | prepaid credit: selling it, funding it once, paying downloads from it |
//! | `payouts.rs` | money out: withdrawals to BOLT 11 invoices, reconciling payouts in flight |
//! | `auto_payout.rs` | standing orders: balances paid to a Lightning Address on a schedule |

pub(crate) mod auto_payout;
pub(crate) mod cashier;
pub(crate) mod credit;
pub(crate) mod gate;
pub(crate) mod ledger;
pub(crate) mod lightning;
pub(crate) mod payouts;
mod refusal;
pub(crate) mod settlement;
pub(crate) mod watcher;

use futures::future::BoxFuture;
use shardgate_core::StreamRange;
use shardgate_index::BlobRecord;

pub use crate::config::PaymentsConfig;
pub(crate) use cashier::{Cashier, IssuedInvoice};
pub(crate) use lightning::LndLink;
pub(crate) use settlement::{DownloadEnd, Settlement};

use crate::error::BrokerError;

/// What the request says about paying, besides the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownloadRequest {
    /// A challenge, if one is answered, is a hold invoice.
    pub hold_invoice: bool,
    /// Downloads a challenge invoice buys (0 means 1).
    pub uses: u32,
    /// GetShardLocations: the broker cannot see the delivery, so hold
    /// credentials are refused (before any use is taken).
    pub direct: bool,
    /// The share link (its id) the request comes through, if any: a
    /// challenge then sells a credential that works only through it, and a
    /// credential bought through a link works nowhere else.
    pub share: Option<[u8; 16]>,
    /// Who asks, for the invoice limits a challenge is counted against
    /// (the default: an anonymous caller, under the node-wide cap only).
    pub payer: crate::limits::Payer,
}

/// Permission to serve, and the payment to finish afterwards.
#[derive(Debug)]
pub struct DownloadGrant {
    /// Uses left on the credential after this download.
    pub uses_remaining: u32,
    /// Paid with a hold invoice (settled once the stream completes).
    pub hold: bool,
    /// Finish it with how the download ended (dropping it = client gone).
    pub settlement: Settlement,
}

impl DownloadGrant {
    /// A free download.
    pub fn free() -> DownloadGrant {
        DownloadGrant {
            uses_remaining: 0,
            hold: false,
            settlement: Settlement::free(),
        }
    }
}

/// A blob whose download price is zero: served without payment.
pub(crate) fn is_free(blob: &BlobRecord) -> bool {
    blob.price.flat_msat == 0 && blob.price.per_mib_msat == 0
}

/// Decides whether `range` of `blob` may be served to this request.
pub trait PaymentGate: Send + Sync + 'static {
    /// `Ok` to serve; an error to refuse (its status goes to the client).
    /// `credential` is the request's `authorization` value, if it sent one
    /// (the service reads it off the transport; bytes that are not UTF-8
    /// arrive replaced, so a gate sees them as non-ASCII).
    fn authorize<'a>(
        &'a self,
        blob: &'a BlobRecord,
        range: StreamRange,
        request: DownloadRequest,
        credential: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DownloadGrant, BrokerError>>;
}

/// Serves free blobs only; refuses priced ones with FAILED_PRECONDITION.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreeOnly;

impl PaymentGate for FreeOnly {
    fn authorize<'a>(
        &'a self,
        blob: &'a BlobRecord,
        _range: StreamRange,
        _request: DownloadRequest,
        _credential: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DownloadGrant, BrokerError>> {
        Box::pin(async move {
            if is_free(blob) {
                Ok(DownloadGrant::free())
            } else {
                Err(BrokerError::PaymentsNotEnabled {
                    blob: blob.blob_id.to_hex(),
                    flat_msat: blob.price.flat_msat,
                    per_mib_msat: blob.price.per_mib_msat,
                })
            }
        })
    }
}

/// The gate a broker serves with: the L402 gate when `[payments]` is
/// configured (connecting to LND now; see [`LndLink`]), else `fallback`.
pub(crate) async fn gate_from_config(
    config: &crate::config::BrokerConfig,
    index: std::sync::Arc<dyn shardgate_index::Index>,
    keys: &crate::keys::BrokerKeys,
    fallback: impl PaymentGate,
) -> (
    std::sync::Arc<dyn PaymentGate>,
    Option<std::sync::Arc<Cashier>>,
) {
    use std::sync::Arc;
    let Some(settings) = &config.payments else {
        return (Arc::new(fallback), None);
    };
    let cashier = Arc::new(Cashier {
        limits: crate::limits::InvoiceLimits::new(&config.limits, &config.gateway),
        pricing: settings.pricing(&config.limits),
        keys: keys.l402(),
        lnd: LndLink::start(settings.lnd()).await,
        config: settings.clone(),
        index,
        holds_changed: tokio::sync::Notify::new(),
        lnurl: shardgate_payments::lnurl::LnurlPayClient::new(
            &shardgate_payments::lnurl::LnurlClientConfig::default(),
        )
        .inspect_err(|e| {
            tracing::error!(error = %e, "no HTTP client for Lightning Addresses; automatic payouts are off")
        })
        .ok(),
    });
    (
        Arc::new(gate::L402Gate::new(cashier.clone())),
        Some(cashier),
    )
}
