//! The ledger entries the broker writes.
//!
//! * A paid download: the invoice amount split between the owner recorded
//!   on the invoice, the providers in proportion to the shards they served
//!   in that download, and the broker (its share plus every rounding
//!   remainder). One entry per payment hash.
//! * A download on prepaid credit: the same split, paid out of the credit
//!   held for it rather than from Lightning.
//! * Credit purchases and payouts: two- or three-line transfers.
//!
//! Entry ids other than payment hashes are SHA-256 of a purpose label and
//! the ids they derive from, so a retried write finds its own entry.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use shardgate_core::ContentId;
use shardgate_index::{
    CreditRecord, EntryKind, InvoiceRecord, LedgerAccount, LedgerAccountKind, LedgerEntry,
    LedgerPosting, PayoutRecord, PayoutState, PostingSide, TenantId,
};
use shardgate_payments::{AccountKind, Direction, SplitConfig};

use crate::error::BrokerError;

/// Shards served per provider name in one download.
pub(crate) type ServedShards = BTreeMap<String, u64>;

/// The balanced entry for `invoice`, settled at `settled_at_unix_ms`.
pub(crate) fn ledger_entry(
    split: &SplitConfig,
    invoice: &InvoiceRecord,
    served: &ServedShards,
    settled_at_unix_ms: u64,
) -> Result<LedgerEntry, BrokerError> {
    let parts = split.split(
        invoice.amount_msat,
        invoice.owner.as_str(),
        served.iter().map(|(name, n)| (name.as_str(), *n)),
    )?;
    let postings = parts
        .postings()
        .into_iter()
        .map(|p| LedgerPosting {
            account: LedgerAccount {
                kind: account_kind(p.account.kind),
                id: p.account.id,
            },
            side: match p.direction {
                Direction::Debit => PostingSide::Debit,
                Direction::Credit => PostingSide::Credit,
            },
            amount_msat: p.amount_msat,
        })
        .collect();
    Ok(LedgerEntry {
        entry_id: invoice.payment_hash,
        kind: EntryKind::Download,
        blob_id: Some(invoice.blob_id),
        settled_at_unix_ms,
        postings,
    })
}

/// `sha256(label ‖ parts…)`: the id of an entry derived from other ids.
pub(crate) fn derived_id(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"shardgate/v1/ledger/");
    hasher.update(label.as_bytes());
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn line(account: LedgerAccount, side: PostingSide, amount_msat: u64) -> LedgerPosting {
    LedgerPosting {
        account,
        side,
        amount_msat,
    }
}

/// Drops zero-amount lines (a fee of 0, a reserve fully used).
fn entry(
    entry_id: [u8; 32],
    kind: EntryKind,
    blob_id: Option<ContentId>,
    at_unix_ms: u64,
    postings: Vec<LedgerPosting>,
) -> LedgerEntry {
    LedgerEntry {
        entry_id,
        kind,
        blob_id,
        settled_at_unix_ms: at_unix_ms,
        postings: postings.into_iter().filter(|p| p.amount_msat > 0).collect(),
    }
}

/// Amount + fee reserve leave `payout.account` for the payouts account.
pub(crate) fn payout_started(payout: &PayoutRecord, at_unix_ms: u64) -> LedgerEntry {
    let total = payout.amount_msat.saturating_add(payout.fee_reserve_msat);
    entry(
        derived_id(
            "payout-started",
            &[&payout.payment_hash, &payout.attempt.to_be_bytes()],
        ),
        EntryKind::PayoutStarted,
        None,
        at_unix_ms,
        vec![
            line(payout.account.clone(), PostingSide::Debit, total),
            line(LedgerAccount::payouts(), PostingSide::Credit, total),
        ],
    )
}

/// Where the money of a finished payout goes: paid → amount + fee leave
/// the node (credit Lightning), the unused reserve returns; failed → all
/// of it returns.
pub(crate) fn payout_finished(
    payout: &PayoutRecord,
    outcome: &PayoutState,
    at_unix_ms: u64,
) -> LedgerEntry {
    let total = payout.amount_msat.saturating_add(payout.fee_reserve_msat);
    let id = derived_id(
        "payout-finished",
        &[&payout.payment_hash, &payout.attempt.to_be_bytes()],
    );
    let from = line(LedgerAccount::payouts(), PostingSide::Debit, total);
    match outcome {
        PayoutState::Succeeded { fee_msat, .. } => {
            let fee = (*fee_msat).min(payout.fee_reserve_msat);
            entry(
                id,
                EntryKind::PayoutSucceeded,
                None,
                at_unix_ms,
                vec![
                    from,
                    line(
                        LedgerAccount::lightning(),
                        PostingSide::Credit,
                        payout.amount_msat + fee,
                    ),
                    line(
                        payout.account.clone(),
                        PostingSide::Credit,
                        payout.fee_reserve_msat - fee,
                    ),
                ],
            )
        }
        PayoutState::Failed { .. } | PayoutState::InFlight => entry(
            id,
            EntryKind::PayoutFailed,
            None,
            at_unix_ms,
            vec![
                from,
                line(payout.account.clone(), PostingSide::Credit, total),
            ],
        ),
    }
}

/// A paid credit invoice: `amount_msat` from Lightning into the credit.
pub(crate) fn credit_purchase(credit: &CreditRecord, at_unix_ms: u64) -> LedgerEntry {
    entry(
        credit.payment_hash,
        EntryKind::CreditPurchase,
        None,
        at_unix_ms,
        vec![
            line(
                LedgerAccount::lightning(),
                PostingSide::Debit,
                credit.amount_msat,
            ),
            line(
                LedgerAccount::credit(&credit.payment_hash),
                PostingSide::Credit,
                credit.amount_msat,
            ),
        ],
    )
}

/// One download on credit, identified by a random `spend_id`.
#[derive(Debug, Clone)]
pub(crate) struct CreditSpend {
    pub spend_id: [u8; 32],
    pub credit: [u8; 32],
    pub price_msat: u64,
    pub blob_id: ContentId,
    pub owner: TenantId,
}

/// The download's price from the credit into "held".
pub(crate) fn credit_reserved(spend: &CreditSpend, at_unix_ms: u64) -> LedgerEntry {
    entry(
        spend.spend_id,
        EntryKind::CreditReserved,
        Some(spend.blob_id),
        at_unix_ms,
        vec![
            line(
                LedgerAccount::credit(&spend.credit),
                PostingSide::Debit,
                spend.price_msat,
            ),
            line(
                LedgerAccount::credit_held(),
                PostingSide::Credit,
                spend.price_msat,
            ),
        ],
    )
}

/// The held price back to the credit (the broker failed to deliver).
pub(crate) fn credit_released(spend: &CreditSpend, at_unix_ms: u64) -> LedgerEntry {
    entry(
        derived_id("credit-released", &[&spend.spend_id]),
        EntryKind::CreditReleased,
        Some(spend.blob_id),
        at_unix_ms,
        vec![
            line(
                LedgerAccount::credit_held(),
                PostingSide::Debit,
                spend.price_msat,
            ),
            line(
                LedgerAccount::credit(&spend.credit),
                PostingSide::Credit,
                spend.price_msat,
            ),
        ],
    )
}

/// The held price split like a paid download's (owner, providers by shards
/// served, broker).
pub(crate) fn credit_download(
    split: &SplitConfig,
    spend: &CreditSpend,
    served: &ServedShards,
    at_unix_ms: u64,
) -> Result<LedgerEntry, BrokerError> {
    let parts = split.split(
        spend.price_msat,
        spend.owner.as_str(),
        served.iter().map(|(name, n)| (name.as_str(), *n)),
    )?;
    let postings = parts
        .postings()
        .into_iter()
        .map(|p| {
            let account = match p.account.kind {
                // The split's one debit is "the money came in": here it
                // comes out of the credit held for this download.
                AccountKind::Lightning => LedgerAccount::credit_held(),
                kind => LedgerAccount {
                    kind: account_kind(kind),
                    id: p.account.id,
                },
            };
            line(
                account,
                match p.direction {
                    Direction::Debit => PostingSide::Debit,
                    Direction::Credit => PostingSide::Credit,
                },
                p.amount_msat,
            )
        })
        .collect();
    Ok(entry(
        derived_id("credit-download", &[&spend.spend_id]),
        EntryKind::CreditDownload,
        Some(spend.blob_id),
        at_unix_ms,
        postings,
    ))
}

fn account_kind(kind: AccountKind) -> LedgerAccountKind {
    match kind {
        AccountKind::Owner => LedgerAccountKind::Owner,
        AccountKind::Provider => LedgerAccountKind::Provider,
        AccountKind::Broker => LedgerAccountKind::Broker,
        AccountKind::Lightning => LedgerAccountKind::Lightning,
    }
}

#[cfg(test)]
mod tests {
    use shardgate_index::{InvoiceProgress, PayoutOrigin};

    use super::*;

    fn invoice(amount_msat: u64) -> InvoiceRecord {
        InvoiceRecord {
            payment_hash: [7; 32],
            blob_id: ContentId::of(b"blob"),
            owner: TenantId::new("alice").expect("id"),
            range_offset: 0,
            range_length: 10,
            amount_msat,
            uses: 1,
            used: 1,
            hold: false,
            token_id: [1; 32],
            payment_request: "lnbcrt1".into(),
            created_at_unix_ms: 1,
            expires_at_unix_ms: 2,
            credential_expires_at_unix_ms: 3,
            hold_accepted_at_unix_ms: None,
            progress: InvoiceProgress::Issued,
        }
    }

    #[test]
    fn providers_share_by_shards_served_and_the_broker_takes_the_rest() {
        let served = ServedShards::from([("p0".to_owned(), 2), ("p1".to_owned(), 1)]);
        let entry =
            ledger_entry(&SplitConfig::default(), &invoice(1_001), &served, 5).expect("entry");
        assert_eq!(entry.entry_id, [7; 32]);
        let credit = |kind, id: &str| {
            entry
                .postings
                .iter()
                .find(|p| p.account.kind == kind && p.account.id == id)
                .map(|p| p.amount_msat)
        };
        assert_eq!(credit(LedgerAccountKind::Lightning, ""), Some(1_001));
        assert_eq!(credit(LedgerAccountKind::Owner, "alice"), Some(700));
        // 20 % of 1001 = 200.2 msat, 2:1 → 133 and 66 (rounded down).
        assert_eq!(credit(LedgerAccountKind::Provider, "p0"), Some(133));
        assert_eq!(credit(LedgerAccountKind::Provider, "p1"), Some(66));
        assert_eq!(
            credit(LedgerAccountKind::Broker, ""),
            Some(1_001 - 700 - 199)
        );
        let (debits, credits) = entry
            .postings
            .iter()
            .fold((0, 0), |(d, c), p| match p.side {
                PostingSide::Debit => (d + p.amount_msat, c),
                PostingSide::Credit => (d, c + p.amount_msat),
            });
        assert_eq!(debits, credits);
    }

    #[test]
    fn no_shards_served_gives_the_provider_pool_to_the_broker() {
        let entry = ledger_entry(
            &SplitConfig::default(),
            &invoice(1_000),
            &ServedShards::new(),
            5,
        )
        .expect("entry");
        assert_eq!(entry.postings.len(), 3, "lightning, owner, broker");
    }

    fn payout(amount: u64, reserve: u64) -> PayoutRecord {
        PayoutRecord {
            payment_hash: [3; 32],
            account: LedgerAccount::owner(&TenantId::new("alice").expect("id")),
            amount_msat: amount,
            fee_reserve_msat: reserve,
            payment_request: "lnbcrt1".into(),
            attempt: 2,
            origin: PayoutOrigin::Withdrawal,
            started_at_unix_ms: 1,
            finished_at_unix_ms: None,
            state: PayoutState::InFlight,
        }
    }

    fn net(entry: &LedgerEntry, account: &LedgerAccount) -> i128 {
        entry
            .postings
            .iter()
            .filter(|p| &p.account == account)
            .map(|p| match p.side {
                PostingSide::Credit => i128::from(p.amount_msat),
                PostingSide::Debit => -i128::from(p.amount_msat),
            })
            .sum()
    }

    #[test]
    fn a_payout_takes_amount_and_reserve_then_books_the_real_fee() {
        let p = payout(10_000, 500);
        let owner = p.account.clone();
        let started = payout_started(&p, 1);
        assert_eq!(net(&started, &owner), -10_500);
        assert_eq!(net(&started, &LedgerAccount::payouts()), 10_500);

        let paid = PayoutState::Succeeded {
            fee_msat: 120,
            preimage: [1; 32],
        };
        let done = payout_finished(&p, &paid, 2);
        assert_eq!(done.kind, EntryKind::PayoutSucceeded);
        assert_eq!(net(&done, &LedgerAccount::payouts()), -10_500);
        assert_eq!(net(&done, &LedgerAccount::lightning()), 10_120);
        assert_eq!(net(&done, &owner), 380, "unused reserve back");
        assert_ne!(done.entry_id, started.entry_id);
        // Another attempt of the same invoice gets other ids.
        let mut next = p.clone();
        next.attempt = 3;
        assert_ne!(payout_started(&next, 1).entry_id, started.entry_id);

        // The whole reserve used: no zero line.
        let all = PayoutState::Succeeded {
            fee_msat: 500,
            preimage: [1; 32],
        };
        assert_eq!(payout_finished(&p, &all, 2).postings.len(), 2);

        let failed = payout_finished(&p, &PayoutState::Failed { reason: "x".into() }, 2);
        assert_eq!(net(&failed, &owner), 10_500);
        assert_eq!(net(&failed, &LedgerAccount::lightning()), 0);
    }

    #[test]
    fn a_credit_download_splits_the_held_price() {
        let spend = CreditSpend {
            spend_id: [4; 32],
            credit: [5; 32],
            price_msat: 1_001,
            blob_id: ContentId::of(b"blob"),
            owner: TenantId::new("alice").expect("id"),
        };
        let reserved = credit_reserved(&spend, 1);
        assert_eq!(net(&reserved, &LedgerAccount::credit(&[5; 32])), -1_001);
        let served = ServedShards::from([("p0".to_owned(), 1)]);
        let done = credit_download(&SplitConfig::default(), &spend, &served, 2).expect("entry");
        assert_eq!(net(&done, &LedgerAccount::credit_held()), -1_001);
        assert_eq!(net(&done, &LedgerAccount::lightning()), 0);
        assert_eq!(net(&done, &LedgerAccount::owner(&spend.owner)), 700);
        let released = credit_released(&spend, 2);
        assert_eq!(net(&released, &LedgerAccount::credit(&[5; 32])), 1_001);
        assert_ne!(released.entry_id, done.entry_id);
    }
}
