//! The ledger: once-per-id recording, refused entries that write nothing,
//! balances that equal the postings to the msat, and stable paging.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::fixtures::tid;
use super::payment_fixtures::{hash, payment, posting};
use crate::{
    AccountBalance, Index, IndexError, LedgerAccount, LedgerEntry, LedgerFilter, PostingSide,
};

async fn everything(index: &Arc<dyn Index>) -> (Vec<AccountBalance>, Vec<LedgerEntry>) {
    let balances = index.ledger_balances().await.unwrap();
    let (entries, _) = index
        .list_ledger(&LedgerFilter::default(), None, 1000)
        .await
        .unwrap();
    (balances, entries)
}

/// A ledger entry is recorded once per entry id: a replay (even with other
/// postings) returns false and changes no balance.
pub async fn record_payment_once_per_entry_id(index: Arc<dyn Index>) {
    let entry = payment("a", 1_000, "alice", "p0", 10_000);
    assert!(index.record_payment(entry.clone()).await.unwrap());
    let before = everything(&index).await;
    assert_eq!(before.1, vec![entry.clone()]);

    // The same id again, even with other postings, writes nothing.
    let replay = payment("a", 2_000, "bob", "p1", 99_000);
    assert!(!index.record_payment(entry).await.unwrap());
    assert!(!index.record_payment(replay).await.unwrap());
    assert_eq!(everything(&index).await, before, "balances unchanged");

    let owner = index
        .ledger_balance(&LedgerAccount::owner(&tid("alice")))
        .await
        .unwrap();
    assert_eq!((owner.credited_msat, owner.debited_msat), (7_000, 0));
    let nobody = LedgerAccount::owner(&tid("nobody"));
    assert_eq!(
        index.ledger_balance(&nobody).await.unwrap(),
        AccountBalance::zero(nobody)
    );
}

/// Unbalanced, empty, zero-amount and otherwise malformed entries are
/// `Invalid` and leave the ledger unchanged.
pub async fn invalid_ledger_entries_write_nothing(index: Arc<dyn Index>) {
    let base = payment("x", 1_000, "alice", "p0", 10_000);
    let mut unbalanced = base.clone();
    unbalanced.postings[1].amount_msat += 1;
    let mut empty = base.clone();
    empty.postings.clear();
    let mut zero = base.clone();
    zero.postings
        .push(posting(LedgerAccount::broker(), PostingSide::Credit, 0));
    let mut bad_owner = base.clone();
    bad_owner.postings[1].account.id = "Not A Tenant".to_owned();
    // Debits 2^63 + 2^63 + 1 against a credit of 1: a wrapping u64 sum
    // would call that balanced.
    let half = 1u64 << 63;
    let mut wrapping = base.clone();
    wrapping.postings = vec![
        posting(LedgerAccount::lightning(), PostingSide::Debit, half),
        posting(LedgerAccount::lightning(), PostingSide::Debit, half),
        posting(LedgerAccount::lightning(), PostingSide::Debit, 1),
        posting(LedgerAccount::broker(), PostingSide::Credit, 1),
    ];
    // Balanced, but the Lightning account's debit total would leave u64.
    let mut overflowing = base.clone();
    overflowing.postings = vec![
        posting(LedgerAccount::lightning(), PostingSide::Debit, half),
        posting(LedgerAccount::lightning(), PostingSide::Debit, half),
        posting(LedgerAccount::broker(), PostingSide::Credit, half),
        posting(LedgerAccount::provider("p0"), PostingSide::Credit, half),
    ];

    for (why, entry) in [
        ("unbalanced", unbalanced),
        ("empty", empty),
        ("zero amount", zero),
        ("bad owner id", bad_owner),
        ("wrapping sums", wrapping),
        ("balance overflow", overflowing),
    ] {
        let result = index.record_payment(entry).await;
        assert!(
            matches!(result, Err(IndexError::Invalid { .. })),
            "{why}: {result:?}"
        );
        assert_eq!(
            everything(&index).await,
            (Vec::new(), Vec::new()),
            "{why} wrote something"
        );
    }
    // The id is still free for a valid entry.
    assert!(index.record_payment(base).await.unwrap());
}

/// After N entries every balance equals the sum of its postings, to the
/// msat, and the ledger as a whole balances.
pub async fn balances_equal_sum_of_postings(index: Arc<dyn Index>) {
    let owners = ["alice", "bob", "carol"];
    let providers = ["p0", "p1"];
    let mut expected: BTreeMap<LedgerAccount, (u64, u64)> = BTreeMap::new();
    for i in 0..40u64 {
        // Amounts that do not divide evenly, to catch rounding in sums.
        let amount = 1 + i * 7_919 % 100_003;
        let entry = payment(
            &format!("e{i}"),
            1_000 + i % 5,
            owners[(i % 3) as usize],
            providers[(i % 2) as usize],
            amount,
        );
        for p in &entry.postings {
            let slot = expected.entry(p.account.clone()).or_default();
            match p.side {
                PostingSide::Credit => slot.0 += p.amount_msat,
                PostingSide::Debit => slot.1 += p.amount_msat,
            }
        }
        assert!(index.record_payment(entry).await.unwrap());
    }
    let balances = index.ledger_balances().await.unwrap();
    let got: BTreeMap<_, _> = balances
        .iter()
        .map(|b| (b.account.clone(), (b.credited_msat, b.debited_msat)))
        .collect();
    assert_eq!(got, expected);
    let accounts: Vec<_> = balances.iter().map(|b| b.account.clone()).collect();
    let mut sorted = accounts.clone();
    sorted.sort();
    assert_eq!(accounts, sorted, "ordered by (kind, id)");
    let credits: u128 = balances.iter().map(|b| u128::from(b.credited_msat)).sum();
    let debits: u128 = balances.iter().map(|b| u128::from(b.debited_msat)).sum();
    assert_eq!(credits, debits, "double entry: the whole ledger balances");
    for (account, (credited, debited)) in expected {
        let one = index.ledger_balance(&account).await.unwrap();
        assert_eq!((one.credited_msat, one.debited_msat), (credited, debited));
    }
}

/// Pages through `filter` with `limit`, recording `insert` (if any) after
/// the first page. Returns the entry ids seen, in order.
async fn page_through(
    index: &Arc<dyn Index>,
    filter: &LedgerFilter,
    limit: usize,
    mut insert: Vec<LedgerEntry>,
) -> Vec<[u8; 32]> {
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let (page, next) = index
            .list_ledger(filter, token.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit);
        seen.extend(page.iter().map(|e| e.entry_id));
        for entry in insert.drain(..) {
            index.record_payment(entry).await.unwrap();
        }
        match next {
            Some(next) => token = Some(next),
            None => return seen,
        }
    }
    panic!("listing did not end");
}

/// `list_ledger` pages in (settled time, entry id) order, applies the
/// account and time filters, and neither skips nor repeats an entry when
/// others are recorded between pages.
pub async fn list_ledger_pages_filters_and_inserts_between_pages(index: Arc<dyn Index>) {
    // Entries at times 10, 20, ..., 100; two at 50 (order by entry id).
    let mut all = Vec::new();
    for i in 1..=10u64 {
        let owner = if i % 2 == 0 { "even" } else { "odd" };
        all.push(payment(&format!("t{i}"), i * 10, owner, "p0", 1_000 + i));
    }
    all.push(payment("t5b", 50, "odd", "p1", 500));
    // Recorded out of time order: the listing orders, not the insert.
    for entry in all.iter().rev() {
        index.record_payment(entry.clone()).await.unwrap();
    }
    let order = |entries: &[&LedgerEntry]| {
        let mut keys: Vec<_> = entries
            .iter()
            .map(|e| (e.settled_at_unix_ms, e.entry_id))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };

    let everything = LedgerFilter::default();
    let expected = order(&all.iter().collect::<Vec<_>>());
    assert_eq!(
        page_through(&index, &everything, 3, Vec::new()).await,
        expected
    );

    // since inclusive, until exclusive.
    let window = LedgerFilter {
        since_unix_ms: Some(30),
        until_unix_ms: Some(80),
        ..LedgerFilter::default()
    };
    let in_window: Vec<_> = all
        .iter()
        .filter(|e| (30..80).contains(&e.settled_at_unix_ms))
        .collect();
    assert_eq!(
        page_through(&index, &window, 2, Vec::new()).await,
        order(&in_window)
    );

    let odd = LedgerFilter {
        account: Some(LedgerAccount::owner(&tid("odd"))),
        since_unix_ms: Some(20),
        ..LedgerFilter::default()
    };
    let odd_expected: Vec<_> = all
        .iter()
        .filter(|e| e.settled_at_unix_ms >= 20 && e.postings.iter().any(|p| p.account.id == "odd"))
        .collect();
    assert_eq!(
        page_through(&index, &odd, 2, Vec::new()).await,
        order(&odd_expected)
    );
    let p1 = LedgerFilter {
        account: Some(LedgerAccount::provider("p1")),
        ..LedgerFilter::default()
    };
    assert_eq!(
        page_through(&index, &p1, 5, Vec::new()).await,
        vec![hash("t5b")]
    );
    let empty_window = LedgerFilter {
        since_unix_ms: Some(80),
        until_unix_ms: Some(30),
        ..LedgerFilter::default()
    };
    assert!(
        page_through(&index, &empty_window, 5, Vec::new())
            .await
            .is_empty()
    );

    // Entries recorded between pages: one before the position already
    // listed (never shown), one after it (shown once), nothing repeated.
    let early = payment("early", 5, "odd", "p0", 700);
    let late = payment("late", 1_000, "even", "p0", 700);
    let seen = page_through(&index, &everything, 4, vec![early, late]).await;
    let mut expected_after = expected.clone();
    expected_after.push(hash("late"));
    assert_eq!(seen, expected_after);
}

/// A page token that was not returned by `list_ledger` is `Invalid`.
pub async fn malformed_ledger_token_is_invalid(index: Arc<dyn Index>) {
    for i in 0..3u64 {
        index
            .record_payment(payment(&format!("m{i}"), i, "alice", "p0", 100))
            .await
            .unwrap();
    }
    let (_, token) = index
        .list_ledger(&LedgerFilter::default(), None, 1)
        .await
        .unwrap();
    let token = token.expect("more than one page");
    let truncated = &token[..token.len() - 1];
    let mut flipped = token.clone();
    flipped.replace_range(..2, "p1");
    for bad in [
        "",
        "garbage",
        "l1..",
        truncated,
        &flipped,
        &format!("{token}.x"),
    ] {
        let result = index
            .list_ledger(&LedgerFilter::default(), Some(bad), 10)
            .await;
        assert!(
            matches!(result, Err(IndexError::Invalid { .. })),
            "token {bad:?}: {result:?}"
        );
    }
}
