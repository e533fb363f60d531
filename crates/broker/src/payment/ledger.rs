//! The ledger entry of one settled payment: the invoice amount split
//! between the owner recorded on the invoice, the providers in proportion
//! to the shards they served in that download, and the broker (its share
//! plus every rounding remainder). One entry per payment hash.

use std::collections::BTreeMap;

use shardgate_index::{
    InvoiceRecord, LedgerAccount, LedgerAccountKind, LedgerEntry, LedgerPosting, PostingSide,
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
        blob_id: invoice.blob_id,
        settled_at_unix_ms,
        postings,
    })
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
    use shardgate_core::ContentId;
    use shardgate_index::{InvoiceProgress, TenantId};

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
}
