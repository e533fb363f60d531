//! Invoices: insert rules, the use counter (also under concurrency), hold
//! acceptance, the final state and the watcher's listing.

use std::sync::Arc;

use super::payment_fixtures::{hash, invoice};
use crate::{Index, IndexError, InvoiceProgress, InvoiceRecord};

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, IndexError>, why: &str) {
    assert!(
        matches!(result, Err(IndexError::Invalid { .. })),
        "{why}: {result:?}"
    );
}

/// An inserted invoice reads back unchanged; a second insert of its hash is
/// `AlreadyExists` and invalid records are `Invalid`, both writing nothing.
pub async fn invoice_insert_get_duplicate_and_invalid(index: Arc<dyn Index>) {
    let inv = invoice("a", 3, false);
    index.insert_invoice(inv.clone()).await.unwrap();
    assert_eq!(index.invoice(&hash("a")).await.unwrap(), Some(inv.clone()));
    assert_eq!(index.invoice(&hash("nope")).await.unwrap(), None);

    let again = InvoiceRecord {
        amount_msat: 5,
        ..inv.clone()
    };
    let dup = index.insert_invoice(again).await;
    assert!(
        matches!(dup, Err(IndexError::AlreadyExists { .. })),
        "{dup:?}"
    );
    assert_eq!(
        index.invoice(&hash("a")).await.unwrap(),
        Some(inv),
        "a refused duplicate leaves the first record"
    );

    let bad: [(&str, InvoiceRecord); 5] = [
        ("uses 0", invoice("b", 0, false)),
        (
            "used != 0",
            InvoiceRecord {
                used: 1,
                ..invoice("b", 2, false)
            },
        ),
        ("hold with 2 uses", invoice("b", 2, true)),
        (
            "progress Settled",
            InvoiceRecord {
                progress: InvoiceProgress::Settled,
                ..invoice("b", 1, false)
            },
        ),
        (
            "accepted already",
            InvoiceRecord {
                hold_accepted_at_unix_ms: Some(1),
                ..invoice("b", 1, true)
            },
        ),
    ];
    for (why, record) in bad {
        assert_invalid(index.insert_invoice(record).await, why);
        assert_eq!(index.invoice(&hash("b")).await.unwrap(), None, "{why}");
    }
    assert!(
        index
            .pending_hold_invoices(None, 10)
            .await
            .unwrap()
            .is_empty(),
        "refused hold invoices are not pending"
    );
}

/// `reserve_use` counts up to `uses`, then is `UsesExhausted` (not
/// retryable); `release_use` gives uses back but never below 0.
pub async fn reserve_use_until_exhausted_and_release_floor(index: Arc<dyn Index>) {
    index.insert_invoice(invoice("a", 2, false)).await.unwrap();
    assert_eq!(index.reserve_use(&hash("a")).await.unwrap().used, 1);
    assert_eq!(index.reserve_use(&hash("a")).await.unwrap().used, 2);
    let spent = index.reserve_use(&hash("a")).await;
    assert_eq!(spent, Err(IndexError::UsesExhausted { used: 2, uses: 2 }));
    let err = spent.unwrap_err();
    assert!(!err.is_temporary());
    assert_eq!(err.to_string(), "credential used up: 2 of 2 uses spent");
    assert_eq!(index.invoice(&hash("a")).await.unwrap().unwrap().used, 2);

    // A broker-side failure gives a use back, which can be taken again.
    assert_eq!(index.release_use(&hash("a")).await.unwrap().used, 1);
    assert_eq!(index.reserve_use(&hash("a")).await.unwrap().used, 2);
    // Releasing never goes below 0.
    for expected in [1, 0, 0, 0] {
        assert_eq!(index.release_use(&hash("a")).await.unwrap().used, expected);
    }
    assert_eq!(index.invoice(&hash("a")).await.unwrap().unwrap().used, 0);

    for result in [
        index.reserve_use(&hash("nope")).await,
        index.release_use(&hash("nope")).await,
    ] {
        assert!(
            matches!(result, Err(IndexError::NotFound { .. })),
            "{result:?}"
        );
    }
}

/// Many downloads racing for a 3-use credential: exactly 3 get through.
pub async fn concurrent_reserve_use_grants_exactly_uses(index: Arc<dyn Index>) {
    index.insert_invoice(invoice("a", 3, false)).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let index = Arc::clone(&index);
            tokio::spawn(async move { index.reserve_use(&hash("a")).await })
        })
        .collect();
    let (mut granted, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(record) => granted.push(record.used),
            Err(IndexError::UsesExhausted { used: 3, uses: 3 }) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    granted.sort_unstable();
    assert_eq!(granted, vec![1, 2, 3], "each grant saw its own increment");
    assert_eq!(refused, 21);
    assert_eq!(index.invoice(&hash("a")).await.unwrap().unwrap().used, 3);
}

/// The first `mark_hold_accepted` time is kept; later calls return the
/// record unchanged.
pub async fn mark_hold_accepted_first_time_wins(index: Arc<dyn Index>) {
    index.insert_invoice(invoice("h", 1, true)).await.unwrap();
    let first = index.mark_hold_accepted(&hash("h"), 1_000).await.unwrap();
    assert_eq!(first.hold_accepted_at_unix_ms, Some(1_000));
    let second = index.mark_hold_accepted(&hash("h"), 2_000).await.unwrap();
    assert_eq!(second.hold_accepted_at_unix_ms, Some(1_000));
    assert_eq!(
        index
            .invoice(&hash("h"))
            .await
            .unwrap()
            .unwrap()
            .hold_accepted_at_unix_ms,
        Some(1_000)
    );
    let missing = index.mark_hold_accepted(&hash("nope"), 1).await;
    assert!(
        matches!(missing, Err(IndexError::NotFound { .. })),
        "{missing:?}"
    );
}

/// `finish_invoice` moves an invoice from Issued to Settled or Canceled once;
/// repeating the same target is a no-op, the other final state is a
/// `Conflict`, and `Issued` as a target is `Invalid`.
pub async fn finish_invoice_is_idempotent_and_final(index: Arc<dyn Index>) {
    index.insert_invoice(invoice("s", 1, true)).await.unwrap();
    index.insert_invoice(invoice("c", 1, true)).await.unwrap();
    assert_invalid(
        index
            .finish_invoice(&hash("s"), InvoiceProgress::Issued)
            .await,
        "target Issued",
    );

    let settled = index
        .finish_invoice(&hash("s"), InvoiceProgress::Settled)
        .await
        .unwrap();
    assert_eq!(settled.progress, InvoiceProgress::Settled);
    assert_eq!(
        index
            .finish_invoice(&hash("s"), InvoiceProgress::Settled)
            .await
            .unwrap(),
        settled,
        "settling twice is a no-op"
    );
    let flip = index
        .finish_invoice(&hash("s"), InvoiceProgress::Canceled)
        .await;
    assert!(matches!(flip, Err(IndexError::Conflict { .. })), "{flip:?}");

    index
        .finish_invoice(&hash("c"), InvoiceProgress::Canceled)
        .await
        .unwrap();
    index
        .finish_invoice(&hash("c"), InvoiceProgress::Canceled)
        .await
        .unwrap();
    let flip = index
        .finish_invoice(&hash("c"), InvoiceProgress::Settled)
        .await;
    assert!(matches!(flip, Err(IndexError::Conflict { .. })), "{flip:?}");
    assert_eq!(
        index.invoice(&hash("c")).await.unwrap().unwrap().progress,
        InvoiceProgress::Canceled
    );

    let missing = index
        .finish_invoice(&hash("nope"), InvoiceProgress::Settled)
        .await;
    assert!(
        matches!(missing, Err(IndexError::NotFound { .. })),
        "{missing:?}"
    );
}

/// The watcher pages through hold invoices still Issued, by hash; finished
/// ones and ordinary invoices never appear.
pub async fn pending_hold_invoices_pages_by_hash(index: Arc<dyn Index>) {
    let seeds: Vec<String> = (0..7).map(|i| format!("h{i}")).collect();
    for seed in &seeds {
        index.insert_invoice(invoice(seed, 1, true)).await.unwrap();
    }
    index
        .insert_invoice(invoice("plain", 5, false))
        .await
        .unwrap();
    index
        .finish_invoice(&hash("h2"), InvoiceProgress::Settled)
        .await
        .unwrap();
    index
        .finish_invoice(&hash("h5"), InvoiceProgress::Canceled)
        .await
        .unwrap();

    let mut expected: Vec<_> = ["h0", "h1", "h3", "h4", "h6"].map(hash).to_vec();
    expected.sort_unstable();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = index.pending_hold_invoices(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        for inv in &page {
            assert!(inv.hold && inv.progress == InvoiceProgress::Issued);
        }
        after = page.last().map(|inv| inv.payment_hash);
        seen.extend(page.iter().map(|inv| inv.payment_hash));
    }
    assert_eq!(seen, expected);
    assert_eq!(
        index.pending_hold_invoices(None, 0).await.unwrap().len(),
        1,
        "limit 0 is clamped to 1"
    );
}
