//! Payouts and prepaid credit: money leaves an account at most once, never
//! below zero, and every state change comes with its ledger entry.

use std::sync::Arc;

use crate::conformance::fixtures::tid;
use crate::conformance::payment_fixtures::{credit, hash, payment, payout, transfer};
use crate::{EntryKind, Index, IndexError, LedgerAccount, PayoutStart, PayoutState};

async fn balance(index: &Arc<dyn Index>, account: &LedgerAccount) -> u64 {
    index
        .ledger_balance(account)
        .await
        .expect("balance")
        .balance_msat()
}

/// Owner earns 700 msat (of a 1000 msat sale), withdraws 600 with a 50 msat
/// reserve: 650 leave at once; the same invoice again stands as it is; an
/// overdraft writes nothing; success books the real fee and returns the
/// rest of the reserve, once.
pub async fn payout_takes_money_once_and_refuses_overdraft(index: Arc<dyn Index>) {
    let owner = LedgerAccount::owner(&tid("owner"));
    index
        .record_payment(payment("sale", 1, "owner", "p0", 1000))
        .await
        .expect("sale");
    assert_eq!(balance(&index, &owner).await, 700);

    let p = payout("w1", owner.clone(), 600, 50);
    let start = transfer(
        "w1:start",
        EntryKind::PayoutStarted,
        owner.clone(),
        LedgerAccount::payouts(),
        650,
    );
    let started = index
        .start_payout(p.clone(), start.clone())
        .await
        .expect("start");
    assert_eq!(started, PayoutStart::Started(p.clone()));
    assert_eq!(balance(&index, &owner).await, 50);
    assert_eq!(balance(&index, &LedgerAccount::payouts()).await, 650);
    let in_flight = index.payouts_in_flight(None, 10).await.expect("in flight");
    assert_eq!(in_flight, vec![p.clone()]);

    // The same invoice again (a retried call): nothing moves.
    let again = index.start_payout(p.clone(), start).await.expect("again");
    assert_eq!(again, PayoutStart::Existing(p.clone()));
    assert_eq!(balance(&index, &owner).await, 50);

    // More than the account holds: refused, nothing written.
    let big = payout("w2", owner.clone(), 100, 0);
    let big_entry = transfer(
        "w2:start",
        EntryKind::PayoutStarted,
        owner.clone(),
        LedgerAccount::payouts(),
        100,
    );
    match index.start_payout(big, big_entry).await {
        Err(IndexError::InsufficientBalance {
            balance_msat,
            needed_msat,
            ..
        }) => {
            assert_eq!((balance_msat, needed_msat), (50, 100));
        }
        other => panic!("overdraft: {other:?}"),
    }
    assert_eq!(index.payout(&hash("w2")).await.expect("read"), None);
    assert_eq!(balance(&index, &owner).await, 50);

    // Paid with a 20 msat fee: 620 leave the node, 30 of the reserve return.
    let mut done = transfer(
        "w1:done",
        EntryKind::PayoutSucceeded,
        LedgerAccount::payouts(),
        LedgerAccount::lightning(),
        620,
    );
    done.postings[0].amount_msat = 650;
    done.postings
        .push(crate::conformance::payment_fixtures::posting(
            owner.clone(),
            crate::PostingSide::Credit,
            30,
        ));
    let succeeded = PayoutState::Succeeded {
        fee_msat: 20,
        preimage: [9; 32],
    };
    let finished = index
        .finish_payout(&hash("w1"), 1, succeeded.clone(), 5, done.clone())
        .await
        .expect("finish");
    assert_eq!(finished.state, succeeded);
    assert_eq!(finished.finished_at_unix_ms, Some(5));
    assert_eq!(balance(&index, &owner).await, 80);
    assert_eq!(balance(&index, &LedgerAccount::payouts()).await, 0);
    assert_eq!(
        balance(&index, &LedgerAccount::lightning()).await,
        1000 - 620
    );
    assert!(
        index
            .payouts_in_flight(None, 10)
            .await
            .expect("list")
            .is_empty()
    );

    // Finishing again (a reconciler after the sender) changes nothing.
    let failed = PayoutState::Failed {
        reason: "late".into(),
    };
    let again = index
        .finish_payout(&hash("w1"), 1, failed, 6, done)
        .await
        .expect("again");
    assert_eq!(again.state, succeeded);
    assert_eq!(balance(&index, &owner).await, 80);
    // A paid invoice is never paid again.
    let retry = index
        .start_payout(
            payout("w1", owner.clone(), 600, 50),
            transfer(
                "w1:retry",
                EntryKind::PayoutStarted,
                owner.clone(),
                LedgerAccount::payouts(),
                650,
            ),
        )
        .await
        .expect("retry");
    assert!(matches!(retry, PayoutStart::Existing(_)));
    // A fee above the reserve cannot be booked.
    let p3 = payout("w3", owner.clone(), 10, 5);
    index
        .start_payout(
            p3,
            transfer(
                "w3:start",
                EntryKind::PayoutStarted,
                owner.clone(),
                LedgerAccount::payouts(),
                15,
            ),
        )
        .await
        .expect("w3");
    let over = PayoutState::Succeeded {
        fee_msat: 6,
        preimage: [1; 32],
    };
    let entry = transfer(
        "w3:done",
        EntryKind::PayoutSucceeded,
        LedgerAccount::payouts(),
        LedgerAccount::lightning(),
        15,
    );
    assert!(matches!(
        index.finish_payout(&hash("w3"), 1, over, 7, entry).await,
        Err(IndexError::Invalid { .. })
    ));
}

/// A failed payout gives everything back; the same invoice may be tried
/// again as attempt 2 (and only as attempt 2).
pub async fn failed_payout_reverses_and_may_be_retried(index: Arc<dyn Index>) {
    let provider = LedgerAccount::provider("p0");
    index
        .record_payment(payment("sale", 1, "owner", "p0", 1000))
        .await
        .expect("sale");
    assert_eq!(balance(&index, &provider).await, 200);
    let p = payout("w", provider.clone(), 150, 10);
    index
        .start_payout(
            p.clone(),
            transfer(
                "w:1",
                EntryKind::PayoutStarted,
                provider.clone(),
                LedgerAccount::payouts(),
                160,
            ),
        )
        .await
        .expect("start");
    let failed = PayoutState::Failed {
        reason: "FAILURE_REASON_NO_ROUTE".into(),
    };
    let back = transfer(
        "w:1:failed",
        EntryKind::PayoutFailed,
        LedgerAccount::payouts(),
        provider.clone(),
        160,
    );
    let record = index
        .finish_payout(&hash("w"), 1, failed.clone(), 9, back)
        .await
        .expect("fail");
    assert_eq!(record.state, failed);
    assert_eq!(balance(&index, &provider).await, 200);

    let mut wrong = p.clone();
    wrong.attempt = 3;
    assert!(matches!(
        index
            .start_payout(
                wrong,
                transfer(
                    "w:3",
                    EntryKind::PayoutStarted,
                    provider.clone(),
                    LedgerAccount::payouts(),
                    160
                )
            )
            .await,
        Err(IndexError::Conflict { .. })
    ));
    let mut other_amount = p.clone();
    other_amount.attempt = 2;
    other_amount.amount_msat = 151;
    assert!(matches!(
        index
            .start_payout(
                other_amount,
                transfer(
                    "w:2x",
                    EntryKind::PayoutStarted,
                    provider.clone(),
                    LedgerAccount::payouts(),
                    161
                )
            )
            .await,
        Err(IndexError::AlreadyExists { .. })
    ));
    let mut second = p;
    second.attempt = 2;
    let started = index
        .start_payout(
            second.clone(),
            transfer(
                "w:2",
                EntryKind::PayoutStarted,
                provider.clone(),
                LedgerAccount::payouts(),
                160,
            ),
        )
        .await
        .expect("attempt 2");
    assert_eq!(started, PayoutStart::Started(second));
    assert_eq!(balance(&index, &provider).await, 40);
    // Attempt 1's outcome arriving late changes nothing.
    let late = transfer(
        "w:1:late",
        EntryKind::PayoutFailed,
        LedgerAccount::payouts(),
        provider.clone(),
        160,
    );
    let record = index
        .finish_payout(
            &hash("w"),
            1,
            PayoutState::Failed {
                reason: "late".into(),
            },
            10,
            late,
        )
        .await
        .expect("late");
    assert_eq!(record.state, PayoutState::InFlight);
    assert_eq!(balance(&index, &provider).await, 40);
}

/// 20 payouts of 100 msat at once against 700 msat: exactly 7 start.
pub async fn concurrent_payouts_never_overdraw(index: Arc<dyn Index>) {
    let owner = LedgerAccount::owner(&tid("owner"));
    index
        .record_payment(payment("sale", 1, "owner", "p0", 1000))
        .await
        .expect("sale");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let index = Arc::clone(&index);
            let owner = owner.clone();
            tokio::spawn(async move {
                let seed = format!("c{i}");
                let entry = transfer(
                    &format!("{seed}:start"),
                    EntryKind::PayoutStarted,
                    owner.clone(),
                    LedgerAccount::payouts(),
                    100,
                );
                index
                    .start_payout(payout(&seed, owner, 100, 0), entry)
                    .await
            })
        })
        .collect();
    let (mut started, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("join") {
            Ok(PayoutStart::Started(_)) => started += 1,
            Err(IndexError::InsufficientBalance { .. }) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((started, refused), (7, 13));
    assert_eq!(balance(&index, &owner).await, 0);
    assert_eq!(
        index
            .payouts_in_flight(None, 100)
            .await
            .expect("list")
            .len(),
        7
    );
}

/// A credit is funded once; 20 downloads of 100 msat at once against a
/// 1000 msat credit: exactly 10 are booked and it ends at 0.
pub async fn credit_funded_once_and_never_overspent(index: Arc<dyn Index>) {
    let c = credit("c", 1000);
    index.insert_credit(c.clone()).await.expect("insert");
    assert!(matches!(
        index.insert_credit(c.clone()).await,
        Err(IndexError::AlreadyExists { .. })
    ));
    let account = LedgerAccount::credit(&c.payment_hash);
    let purchase = || {
        let mut e = transfer(
            "c",
            EntryKind::CreditPurchase,
            LedgerAccount::lightning(),
            account.clone(),
            1000,
        );
        e.entry_id = c.payment_hash;
        e
    };
    let funded = index
        .fund_credit(&c.payment_hash, 3, purchase())
        .await
        .expect("fund");
    assert_eq!(funded.funded_at_unix_ms, Some(3));
    let again = index
        .fund_credit(&c.payment_hash, 4, purchase())
        .await
        .expect("again");
    assert_eq!(again.funded_at_unix_ms, Some(3));
    assert_eq!(balance(&index, &account).await, 1000);
    assert!(matches!(
        index.fund_credit(&hash("nope"), 4, purchase()).await,
        Err(IndexError::NotFound { .. })
    ));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let index = Arc::clone(&index);
            let account = account.clone();
            tokio::spawn(async move {
                let entry = transfer(
                    &format!("spend{i}"),
                    EntryKind::CreditReserved,
                    account,
                    LedgerAccount::credit_held(),
                    100,
                );
                index.record_payment(entry).await
            })
        })
        .collect();
    let (mut booked, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("join") {
            Ok(true) => booked += 1,
            Err(IndexError::InsufficientBalance { .. }) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((booked, refused), (10, 10));
    assert_eq!(balance(&index, &account).await, 0);
    assert_eq!(balance(&index, &LedgerAccount::credit_held()).await, 1000);
    let stored = index
        .credit(&c.payment_hash)
        .await
        .expect("read")
        .expect("some");
    assert_eq!(stored.funded_at_unix_ms, Some(3));
    // Entries of every kind list back with their kind and no blob.
    let (entries, _) = index
        .list_ledger(
            &crate::LedgerFilter {
                account: Some(account),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("list");
    assert_eq!(entries.len(), 11);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == EntryKind::CreditReserved)
            .count(),
        10
    );
    assert!(entries.iter().all(|e| e.blob_id.is_none()));
}

/// Standing payout orders: put, replace, list by account, remove; an
/// account that cannot be paid out of is refused.
pub async fn payout_addresses_round_trip(index: Arc<dyn Index>) {
    let order = |account: LedgerAccount, address: &str| crate::PayoutAddressRecord {
        account,
        address: address.to_owned(),
        threshold_msat: 10_000,
        failures: 0,
        next_attempt_at_unix_ms: 0,
        last_error: None,
        updated_at_unix_ms: 1,
    };
    let owner = LedgerAccount::owner(&tid("owner"));
    let provider = LedgerAccount::provider("p0");
    index
        .put_payout_address(order(provider.clone(), "p0@example.org"))
        .await
        .expect("put");
    index
        .put_payout_address(order(owner.clone(), "alice@example.org"))
        .await
        .expect("put");
    let mut backoff = order(owner.clone(), "alice@example.org");
    backoff.failures = 3;
    backoff.next_attempt_at_unix_ms = 99;
    backoff.last_error = Some("ERROR answer".into());
    index
        .put_payout_address(backoff.clone())
        .await
        .expect("replace");
    assert_eq!(
        index.payout_address(&owner).await.expect("read"),
        Some(backoff.clone())
    );
    let all = index.payout_addresses().await.expect("list");
    assert_eq!(
        all.iter().map(|a| a.account.clone()).collect::<Vec<_>>(),
        vec![owner.clone(), provider.clone()]
    );
    assert!(matches!(
        index
            .put_payout_address(order(LedgerAccount::lightning(), "x@example.org"))
            .await,
        Err(IndexError::Invalid { .. })
    ));
    assert!(matches!(
        index
            .put_payout_address(order(owner.clone(), "no-at-sign"))
            .await,
        Err(IndexError::Invalid { .. })
    ));
    assert!(index.remove_payout_address(&owner).await.expect("remove"));
    assert!(!index.remove_payout_address(&owner).await.expect("again"));
    assert_eq!(index.payout_address(&owner).await.expect("read"), None);
}
