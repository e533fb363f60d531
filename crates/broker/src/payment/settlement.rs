//! [`Settlement`]: how a paid download ends, finished exactly once.
//!
//! The gate hands one out with every grant. The download reports the
//! shards each provider served and then calls [`Settlement::finish`]; if
//! it is dropped instead (the Get stream was dropped and its reader task
//! aborted) the drop finishes it as [`DownloadEnd::ClientGone`]. The work
//! runs in a task of its own, so a slow or absent LND never holds up the
//! stream:
//!
//! | invoice | delivered / client gone | broker failure |
//! |---|---|---|
//! | regular (SETTLED) | ledger entry (once per hash) | use released |
//! | hold (ACCEPTED) | settle (retried in the background while LND is down), ledger entry, index Settled | index Canceled, use released, cancel on LND |
//! | prepaid credit (price held) | held → split (ledger entry) | held → back to the credit |

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shardgate_index::{IndexError, InvoiceProgress, InvoiceRecord};
use shardgate_payments::{InvoiceState, TokenId};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::now_unix_ms;
use crate::payment::cashier::Cashier;
use crate::payment::ledger::{
    CreditSpend, ServedShards, credit_download, credit_released, ledger_entry,
};

/// How long a hold settlement is retried while LND is unreachable. The
/// data went out; the HTLC stays locked until its CLTV deadline (hours).
const SETTLE_RETRY_WINDOW: Duration = Duration::from_secs(6 * 3600);
/// How long index writes and hold cancels are retried.
const SHORT_RETRY_WINDOW: Duration = Duration::from_secs(120);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How a download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadEnd {
    /// Every frame was handed to the transport (or a direct download's
    /// locations were returned).
    Delivered,
    /// The caller cancelled or disconnected: the use stays consumed and a
    /// hold invoice is settled (a lost connection cannot be told from a
    /// client that stopped reading after the data arrived).
    ClientGone,
    /// The broker failed to deliver (UNAVAILABLE, DATA_LOSS, INTERNAL): the
    /// use is given back and a hold invoice is canceled.
    BrokerFailure,
}

/// The payment side of one granted download. See the module doc.
pub struct Settlement {
    paid: Option<Paid>,
    served: ServedShards,
}

/// What pays a download.
enum Paid {
    /// Its own invoice (or a multi-use one).
    Invoice(PaidDownload),
    /// Prepaid credit, already taken into "held" by the gate.
    Credit(CreditDownload),
}

struct CreditDownload {
    cashier: Arc<Cashier>,
    spend: CreditSpend,
}

struct PaidDownload {
    cashier: Arc<Cashier>,
    /// As returned by `reserve_use` for this download.
    invoice: InvoiceRecord,
    /// When the node settled a regular invoice (ms), if it said.
    node_settled_at_unix_ms: Option<u64>,
}

impl std::fmt::Debug for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settlement")
            .field("paid", &self.paid.is_some())
            .field("served", &self.served)
            .finish()
    }
}

impl Settlement {
    /// A free download: nothing to settle.
    pub fn free() -> Settlement {
        Settlement {
            paid: None,
            served: ServedShards::new(),
        }
    }

    pub(crate) fn paid(
        cashier: Arc<Cashier>,
        invoice: InvoiceRecord,
        node_settled_at_unix_ms: Option<u64>,
    ) -> Settlement {
        Settlement {
            paid: Some(Paid::Invoice(PaidDownload {
                cashier,
                invoice,
                node_settled_at_unix_ms,
            })),
            served: ServedShards::new(),
        }
    }

    /// A download paid from prepaid credit (its price already held).
    pub(crate) fn credit(cashier: Arc<Cashier>, spend: CreditSpend) -> Settlement {
        Settlement {
            paid: Some(Paid::Credit(CreditDownload { cashier, spend })),
            served: ServedShards::new(),
        }
    }

    /// True when a payment backs this download.
    pub fn is_paid(&self) -> bool {
        self.paid.is_some()
    }

    /// One shard of this download was served by `provider`.
    pub fn count_shards<'a>(&mut self, providers: impl IntoIterator<Item = &'a str>) {
        if self.paid.is_none() {
            return;
        }
        for provider in providers {
            *self.served.entry(provider.to_owned()).or_default() += 1;
        }
    }

    /// Ends the download; the returned task does the work (tests await it).
    pub fn finish(mut self, end: DownloadEnd) -> Option<JoinHandle<()>> {
        let paid = self.paid.take()?;
        spawn_finish(paid, std::mem::take(&mut self.served), end)
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        if let Some(paid) = self.paid.take() {
            spawn_finish(
                paid,
                std::mem::take(&mut self.served),
                DownloadEnd::ClientGone,
            );
        }
    }
}

fn spawn_finish(paid: Paid, served: ServedShards, end: DownloadEnd) -> Option<JoinHandle<()>> {
    let runtime = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime,
        Err(_) => {
            let id = match &paid {
                Paid::Invoice(p) => hex::encode(p.invoice.payment_hash),
                Paid::Credit(c) => hex::encode(c.spend.spend_id),
            };
            tracing::error!(
                id,
                ?end,
                "no runtime left to finish a paid download; a hold invoice is resolved by the hold watcher, held credit stays held"
            );
            return None;
        }
    };
    Some(match paid {
        Paid::Invoice(paid) => runtime.spawn(run(paid, served, end)),
        Paid::Credit(credit) => runtime.spawn(run_credit(credit, served, end)),
    })
}

/// Books a credit download: the held price is split like a payment when
/// the data went out (or the client left), and goes back to the credit
/// when the broker failed.
async fn run_credit(credit: CreditDownload, served: ServedShards, end: DownloadEnd) {
    let cashier = &credit.cashier;
    let now = now_unix_ms();
    let entry = match end {
        DownloadEnd::BrokerFailure => credit_released(&credit.spend, now),
        DownloadEnd::Delivered | DownloadEnd::ClientGone => {
            match credit_download(&cashier.config.split(), &credit.spend, &served, now) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(spend = %hex::encode(credit.spend.spend_id), error = %e, "cannot build the credit download entry; the price stays held");
                    return;
                }
            }
        }
    };
    retry("book a credit download", SHORT_RETRY_WINDOW, || {
        let entry = entry.clone();
        async move { index_step(cashier.index.record_payment(entry).await) }
    })
    .await;
}

async fn run(paid: PaidDownload, served: ServedShards, end: DownloadEnd) {
    let hash = hex::encode(paid.invoice.payment_hash);
    tracing::debug!(payment_hash = %hash, ?end, hold = paid.invoice.hold, "finishing a paid download");
    match (paid.invoice.hold, end) {
        (false, DownloadEnd::BrokerFailure) => release_use(&paid).await,
        (false, _) => {
            let at = paid.node_settled_at_unix_ms.unwrap_or_else(now_unix_ms);
            record(&paid.cashier, &paid.invoice, &served, at).await;
        }
        (true, DownloadEnd::BrokerFailure) => cancel_hold(&paid).await,
        (true, _) => {
            if settle_hold(&paid.cashier, &paid.invoice).await {
                record(&paid.cashier, &paid.invoice, &served, now_unix_ms()).await;
                finish_in_index(&paid.cashier, &paid.invoice, InvoiceProgress::Settled).await;
            }
        }
    }
}

/// Writes the ledger entry (idempotent per payment hash).
pub(crate) async fn record(
    cashier: &Cashier,
    invoice: &InvoiceRecord,
    served: &ServedShards,
    settled_at_unix_ms: u64,
) {
    let entry = match ledger_entry(&cashier.config.split(), invoice, served, settled_at_unix_ms) {
        Ok(entry) => entry,
        Err(e) => {
            tracing::error!(payment_hash = %hex::encode(invoice.payment_hash), error = %e, "cannot build the ledger entry");
            return;
        }
    };
    let written = retry("record the ledger entry", SHORT_RETRY_WINDOW, || {
        let entry = entry.clone();
        async move { index_step(cashier.index.record_payment(entry).await) }
    })
    .await;
    if written == Some(true) {
        tracing::info!(payment_hash = %hex::encode(invoice.payment_hash), amount_msat = invoice.amount_msat, "payment recorded in the ledger");
    }
}

async fn release_use(paid: &PaidDownload) {
    let hash = paid.invoice.payment_hash;
    retry(
        "release a credential use",
        SHORT_RETRY_WINDOW,
        || async move { index_step(paid.cashier.index.release_use(&hash).await.map(|_| ())) },
    )
    .await;
}

pub(crate) async fn finish_in_index(
    cashier: &Cashier,
    invoice: &InvoiceRecord,
    to: InvoiceProgress,
) {
    let hash = invoice.payment_hash;
    retry("mark the invoice finished", SHORT_RETRY_WINDOW, || async move {
        match cashier.index.finish_invoice(&hash, to).await {
            // Already finished the other way (e.g. the watcher canceled it):
            // nothing left to do, and nothing to retry.
            Err(IndexError::Conflict { what }) => {
                tracing::error!(payment_hash = %hex::encode(hash), %what, "invoice already finished differently");
                Ok(())
            }
            other => index_step(other.map(|_| ())),
        }
    })
    .await;
}

/// Marks the invoice Canceled (no download can use it any more), gives the
/// use back and cancels it on the node so the payer's funds are released.
async fn cancel_hold(paid: &PaidDownload) {
    finish_in_index(&paid.cashier, &paid.invoice, InvoiceProgress::Canceled).await;
    release_use(paid).await;
    cancel_on_node(&paid.cashier, &paid.invoice).await;
}

/// Cancels a hold invoice on the node, retrying while it is unreachable.
pub(crate) async fn cancel_on_node(cashier: &Cashier, invoice: &InvoiceRecord) -> bool {
    let hash = shardgate_payments::PaymentHash(invoice.payment_hash);
    let done = retry("cancel a hold invoice", SHORT_RETRY_WINDOW, || async move {
        let node = cashier.lnd.node().map_err(|e| (true, e.to_string()))?;
        match node.cancel_invoice(&hash).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_temporary() => Err((true, e.to_string())),
            Err(e) => Err((false, e.to_string())),
        }
    })
    .await;
    if done.is_some() {
        tracing::info!(payment_hash = %hash, "hold invoice canceled; the payer keeps the funds");
    }
    done.is_some()
}

/// Settles a hold invoice with the preimage derived from its token id,
/// retrying for hours while the node is unreachable. True once SETTLED.
async fn settle_hold(cashier: &Cashier, invoice: &InvoiceRecord) -> bool {
    let preimage = cashier.keys.hold_preimage(&TokenId(invoice.token_id));
    let hash = preimage.payment_hash();
    let preimage = &preimage;
    let done = retry(
        "settle a hold invoice",
        SETTLE_RETRY_WINDOW,
        || async move {
            let node = cashier.lnd.node().map_err(|e| (true, e.to_string()))?;
            match node.settle_invoice(preimage).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_temporary() => Err((true, e.to_string())),
                Err(e) => {
                    // A settle that went through while its answer was lost is
                    // refused the second time: the node's state decides.
                    match node.lookup_invoice(&hash).await {
                        Ok(status) if status.state == InvoiceState::Settled => Ok(()),
                        _ => Err((false, e.to_string())),
                    }
                }
            }
        },
    )
    .await;
    if done.is_some() {
        tracing::info!(payment_hash = %hash, amount_msat = invoice.amount_msat, "hold invoice settled");
    }
    done.is_some()
}

/// Index errors: `Storage` is worth retrying, anything else is final.
fn index_step<T>(result: Result<T, IndexError>) -> Result<T, (bool, String)> {
    result.map_err(|e| (e.is_temporary(), e.to_string()))
}

/// Runs `step` until it succeeds, fails for good (`(false, _)`), or the
/// window closes; backs off exponentially. `None` = gave up (logged).
async fn retry<T, F, Fut>(what: &str, window: Duration, mut step: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, (bool, String)>>,
{
    let deadline = Instant::now() + window;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match step().await {
            Ok(value) => return Some(value),
            Err((false, error)) => {
                tracing::error!(%error, "cannot {what}");
                return None;
            }
            Err((true, error)) if Instant::now() + backoff > deadline => {
                tracing::error!(%error, ?window, "cannot {what}: gave up retrying");
                return None;
            }
            Err((true, error)) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot {what} yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
