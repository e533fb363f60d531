//! Payment records under concurrency and across a reopen: a settled
//! payment is counted once however many watchers report it, and nothing a
//! method returned `Ok` for is lost when the index is opened again.

use std::sync::Arc;

use super::Harness;
use super::fixtures::tid;
use super::payment_fixtures::{hash, invoice, payment};
use crate::{Index, InvoiceProgress, LedgerAccount, LedgerFilter};

/// Many tasks report the same settlement (several watchers, retries) while
/// others record distinct ones: each entry counts exactly once.
pub async fn concurrent_record_payment_counts_once(index: Arc<dyn Index>) {
    let tasks: Vec<_> = (0..24u64)
        .map(|i| {
            let index = Arc::clone(&index);
            // Even tasks all record "dup"; odd ones their own entry.
            let entry = if i % 2 == 0 {
                payment("dup", 500, "alice", "p0", 10_000)
            } else {
                payment(&format!("own{i}"), 600 + i, "alice", "p0", 1_000)
            };
            tokio::spawn(async move { (i % 2 == 0, index.record_payment(entry).await) })
        })
        .collect();
    let mut dup_written = 0;
    for task in tasks {
        let (is_dup, result) = task.await.expect("task ran");
        let written = result.expect("valid entry");
        if is_dup {
            dup_written += usize::from(written);
        } else {
            assert!(written, "a distinct entry is always written");
        }
    }
    assert_eq!(dup_written, 1, "exactly one report of the same entry wins");
    let owner = index
        .ledger_balance(&LedgerAccount::owner(&tid("alice")))
        .await
        .unwrap();
    assert_eq!(owner.credited_msat, 7_000 + 12 * 700);
    let (entries, next) = index
        .list_ledger(&LedgerFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!((entries.len(), next), (13, None));
}

/// Invoices (counters, hold state, progress), ledger entries and balances
/// survive dropping the index and opening the store again.
pub async fn payments_survive_reopen<H: Harness>(harness: &H) {
    let store = harness.create_store().await;
    let balances;
    {
        let index = harness.open(&store).await;
        index
            .insert_invoice(invoice("multi", 3, false))
            .await
            .unwrap();
        index.reserve_use(&hash("multi")).await.unwrap();
        index.reserve_use(&hash("multi")).await.unwrap();
        index
            .insert_invoice(invoice("hold", 1, true))
            .await
            .unwrap();
        index.mark_hold_accepted(&hash("hold"), 42).await.unwrap();
        index
            .insert_invoice(invoice("done", 1, true))
            .await
            .unwrap();
        index
            .finish_invoice(&hash("done"), InvoiceProgress::Settled)
            .await
            .unwrap();
        for i in 0..3u64 {
            let entry = payment(&format!("e{i}"), i, "alice", "p0", 1_000 + i);
            assert!(index.record_payment(entry).await.unwrap());
        }
        balances = index.ledger_balances().await.unwrap();
    }
    let index = harness.open(&store).await;
    let multi = index.invoice(&hash("multi")).await.unwrap().unwrap();
    assert_eq!((multi.used, multi.uses), (2, 3));
    let pending = index.pending_hold_invoices(None, 10).await.unwrap();
    assert_eq!(pending.len(), 1, "only the unfinished hold invoice");
    assert_eq!(pending[0].payment_hash, hash("hold"));
    assert_eq!(pending[0].hold_accepted_at_unix_ms, Some(42));
    assert_eq!(
        index
            .invoice(&hash("done"))
            .await
            .unwrap()
            .unwrap()
            .progress,
        InvoiceProgress::Settled
    );
    assert_eq!(index.ledger_balances().await.unwrap(), balances);
    assert!(
        !index
            .record_payment(payment("e1", 1, "alice", "p0", 1_001))
            .await
            .unwrap(),
        "a recorded entry is still known after the reopen"
    );
    // The last use is still there to take, and only that one.
    assert_eq!(index.reserve_use(&hash("multi")).await.unwrap().used, 3);
    assert!(index.reserve_use(&hash("multi")).await.is_err());
}
