//! The hold watcher: a background pass over the index's pending hold
//! invoices (progress Issued) that
//!
//! * notes when each was first seen ACCEPTED, and cancels it — the payer
//!   keeps the funds — when it has not been used within
//!   `hold_accept_timeout`, or at once when its blob was deleted
//!   (storage.proto, Delete); the use is taken first (`reserve_use`), so a
//!   download cannot start on an invoice being canceled;
//! * marks invoices the node canceled (expired unpaid) as Canceled;
//! * finishes invoices found SETTLED whose settlement task never completed
//!   (a broker restart between settle and ledger), writing the ledger entry
//!   without provider shares (they went unrecorded) once the settlement is
//!   old enough that no task can still be writing it.

use std::sync::Arc;
use std::time::Duration;

use shardgate_index::{IndexError, InvoiceProgress, InvoiceRecord};
use shardgate_payments::{InvoiceState, LightningNode, PaymentError, PaymentHash};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::payment::cashier::Cashier;
use crate::payment::ledger::ServedShards;
use crate::payment::settlement::{cancel_on_node, finish_in_index, record};

/// Invoices read per index page.
const PAGE: usize = 200;
/// A SETTLED invoice still Issued in the index after this long lost its
/// settlement task.
const ORPHAN_AFTER_MS: u64 = 15 * 60 * 1000;

/// Runs passes forever (a broker worker).
pub(crate) async fn watch_holds(cashier: Arc<Cashier>) {
    let every = pass_interval(cashier.config.hold_accept_timeout());
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cashier.holds_changed.notified() => {}
        }
        match hold_watch_pass(&cashier).await {
            Ok(0) => {}
            Ok(canceled) => tracing::info!(canceled, "hold watcher canceled unused invoices"),
            Err(e) => tracing::warn!(error = %e, "hold watcher pass failed; retrying next pass"),
        }
    }
}

/// A quarter of the timeout, within 200 ms..=30 s.
fn pass_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(30))
}

/// One pass; returns how many invoices it canceled.
pub(crate) async fn hold_watch_pass(cashier: &Cashier) -> Result<usize, BrokerError> {
    let node = cashier.lnd.node()?;
    let mut after = None;
    let mut canceled = 0;
    loop {
        let page = cashier.index.pending_hold_invoices(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.payment_hash);
        let full = page.len() >= PAGE;
        for invoice in page {
            if check_one(cashier, &node, invoice).await? {
                canceled += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(canceled)
}

/// True when it canceled `invoice`.
async fn check_one(
    cashier: &Cashier,
    node: &LightningNode,
    invoice: InvoiceRecord,
) -> Result<bool, BrokerError> {
    let hash = PaymentHash(invoice.payment_hash);
    let status = match node.lookup_invoice(&hash).await {
        Ok(status) => status,
        Err(PaymentError::InvoiceNotFound { .. }) => {
            finish_in_index(cashier, &invoice, InvoiceProgress::Canceled).await;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let now = now_unix_ms();
    match status.state {
        InvoiceState::Open => Ok(false),
        InvoiceState::Canceled => {
            finish_in_index(cashier, &invoice, InvoiceProgress::Canceled).await;
            Ok(false)
        }
        InvoiceState::Settled => {
            let settled_ms = status.settle_unix.map_or(now, |s| s.saturating_mul(1000));
            if now.saturating_sub(settled_ms) >= ORPHAN_AFTER_MS {
                tracing::warn!(payment_hash = %hash, "settled hold invoice without a ledger entry; recording it without provider shares");
                record(cashier, &invoice, &ServedShards::new(), settled_ms).await;
                finish_in_index(cashier, &invoice, InvoiceProgress::Settled).await;
            }
            Ok(false)
        }
        InvoiceState::Accepted => {
            let accepted_at = match invoice.hold_accepted_at_unix_ms {
                Some(at) => at,
                None => cashier
                    .index
                    .mark_hold_accepted(&hash.0, now)
                    .await?
                    .hold_accepted_at_unix_ms
                    .unwrap_or(now),
            };
            let deadline =
                accepted_at.saturating_add(cashier.config.hold_accept_timeout_secs * 1000);
            if invoice.used > 0 {
                return Ok(false);
            }
            if now < deadline {
                let blob = cashier.index.blob(&invoice.owner, &invoice.blob_id).await?;
                if blob.is_some() {
                    return Ok(false);
                }
                tracing::info!(payment_hash = %hash, "blob of an ACCEPTED hold invoice was deleted: canceling");
            }
            // Take the use so no download can start on it, then cancel.
            match cashier.index.reserve_use(&hash.0).await {
                Ok(_) => {}
                Err(IndexError::UsesExhausted { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            finish_in_index(cashier, &invoice, InvoiceProgress::Canceled).await;
            tracing::info!(payment_hash = %hash, "hold invoice unused after hold_accept_timeout: canceling");
            Ok(cancel_on_node(cashier, &invoice).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_run_often_enough_for_short_and_long_timeouts() {
        assert_eq!(
            pass_interval(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
        assert_eq!(
            pass_interval(Duration::from_secs(600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            pass_interval(Duration::from_millis(100)),
            Duration::from_millis(200)
        );
    }
}
