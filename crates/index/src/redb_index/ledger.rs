//! The double-entry ledger: entries keyed by id, two listing indexes, and
//! the running balance of every account, all written in the entry's own
//! transaction — a balance can never disagree with the entries it sums,
//! whatever crashes or races happen between two payments.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::{LEDGER, LEDGER_BALANCES, LEDGER_BY_ACCOUNT, LEDGER_BY_TIME};
use crate::codec::{
    account_kind_from_tag, account_kind_tag, decode_ledger_entry, encode_ledger_entry,
};
use crate::error::IndexError;
use crate::payment_rules;
use crate::payments::{AccountBalance, LedgerAccount, LedgerEntry, LedgerFilter, PaymentHash};
use crate::rules;

/// A listing position: (settled at ms, entry id).
type Position = (u64, PaymentHash);

/// Writes the entry once per id (validation already done by
/// `payment_rules::check_ledger_entry`). `Ok(false)`: already recorded,
/// nothing written.
pub(super) fn record(txn: &WriteTransaction, entry: &LedgerEntry) -> Result<bool, IndexError> {
    let mut ledger = txn.open_table(LEDGER)?;
    if ledger.get(entry.entry_id)?.is_some() {
        return Ok(false);
    }
    ledger.insert(entry.entry_id, encode_ledger_entry(entry).as_slice())?;
    let at = entry.settled_at_unix_ms;
    txn.open_table(LEDGER_BY_TIME)?
        .insert((at, entry.entry_id), ())?;
    let mut by_account = txn.open_table(LEDGER_BY_ACCOUNT)?;
    let mut balances = txn.open_table(LEDGER_BALANCES)?;
    for (account, change) in payment_rules::entry_totals(entry) {
        let tag = account_kind_tag(account.kind);
        by_account.insert((tag, account.id.as_str(), at, entry.entry_id), ())?;
        let key = (tag, account.id.as_str());
        let (credited_msat, debited_msat) = balances.get(key)?.map(|g| g.value()).unwrap_or((0, 0));
        let mut balance = AccountBalance {
            account: account.clone(),
            credited_msat,
            debited_msat,
        };
        // An overflow is `Invalid`, a balance below zero
        // `InsufficientBalance`: the transaction is dropped, nothing written.
        payment_rules::add_to_balance(&mut balance, change)?;
        payment_rules::check_not_negative(&balance, change)?;
        balances.insert(key, (balance.credited_msat, balance.debited_msat))?;
    }
    Ok(true)
}

pub(super) fn balances(txn: &ReadTransaction) -> Result<Vec<AccountBalance>, IndexError> {
    let table = txn.open_table(LEDGER_BALANCES)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let (tag, id) = key.value();
        let (credited_msat, debited_msat) = value.value();
        out.push(AccountBalance {
            account: LedgerAccount {
                kind: account_kind_from_tag(tag, "ledger balance key")?,
                id: id.to_owned(),
            },
            credited_msat,
            debited_msat,
        });
    }
    Ok(out)
}

pub(super) fn balance(
    txn: &ReadTransaction,
    account: &LedgerAccount,
) -> Result<AccountBalance, IndexError> {
    let table = txn.open_table(LEDGER_BALANCES)?;
    let key = (account_kind_tag(account.kind), account.id.as_str());
    let Some((credited_msat, debited_msat)) = table.get(key)?.map(|g| g.value()) else {
        return Ok(AccountBalance::zero(account.clone()));
    };
    Ok(AccountBalance {
        account: account.clone(),
        credited_msat,
        debited_msat,
    })
}

/// Where a page starts and ends, as positions; `None` if it is empty.
fn page_bounds(
    filter: &LedgerFilter,
    resume: Option<Position>,
) -> Option<(Bound<Position>, Bound<Position>)> {
    let first = (filter.since_unix_ms.unwrap_or(0), [0u8; 32]);
    // Resume strictly after the token's position when that is further on
    // than the filter's start: positions are keys, so inserts between pages
    // neither repeat nor skip entries.
    let start = match resume {
        Some(pos) if pos >= first => Bound::Excluded(pos),
        _ => Bound::Included(first),
    };
    let end = match filter.until_unix_ms {
        // (until, 0…0) is the smallest position at `until`: excluding it
        // excludes every entry settled at `until`.
        Some(until) => {
            let end = (until, [0u8; 32]);
            let empty = match start {
                Bound::Included(s) | Bound::Excluded(s) => s >= end,
                Bound::Unbounded => false,
            };
            if empty {
                return None;
            }
            Bound::Excluded(end)
        }
        None => Bound::Unbounded,
    };
    Some((start, end))
}

/// Entry positions matching `filter` within the bounds, in order, at most
/// `limit + 1` (one more tells whether a next page exists).
fn positions(
    txn: &ReadTransaction,
    filter: &LedgerFilter,
    (start, end): (Bound<Position>, Bound<Position>),
    limit: usize,
) -> Result<Vec<Position>, IndexError> {
    let mut out = Vec::new();
    match &filter.account {
        None => {
            let table = txn.open_table(LEDGER_BY_TIME)?;
            for entry in table.range::<Position>((start, end))?.take(limit + 1) {
                out.push(entry?.0.value());
            }
        }
        Some(account) => {
            let (tag, id) = (account_kind_tag(account.kind), account.id.as_str());
            let widen = |b: Bound<Position>, open_end: Position| match b {
                Bound::Included((at, e)) => Bound::Included((tag, id, at, e)),
                Bound::Excluded((at, e)) => Bound::Excluded((tag, id, at, e)),
                Bound::Unbounded => Bound::Included((tag, id, open_end.0, open_end.1)),
            };
            let range = (
                widen(start, (0, [0; 32])),
                widen(end, (u64::MAX, [0xff; 32])),
            );
            let table = txn.open_table(LEDGER_BY_ACCOUNT)?;
            for entry in table
                .range::<(u8, &str, u64, PaymentHash)>(range)?
                .take(limit + 1)
            {
                let (_, _, at, entry_id) = entry?.0.value();
                out.push((at, entry_id));
            }
        }
    }
    Ok(out)
}

pub(super) fn list(
    txn: &ReadTransaction,
    filter: &LedgerFilter,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError> {
    let limit = rules::clamp_limit(limit);
    let resume = token.map(payment_rules::decode_ledger_token).transpose()?;
    let Some(bounds) = page_bounds(filter, resume) else {
        return Ok((Vec::new(), None));
    };
    let mut found = positions(txn, filter, bounds, limit)?;
    let more = found.len() > limit;
    found.truncate(limit);
    let ledger = txn.open_table(LEDGER)?;
    let mut page = Vec::with_capacity(found.len());
    for (_, entry_id) in &found {
        let bytes = ledger.get(*entry_id)?.ok_or_else(|| {
            IndexError::corrupt(format!(
                "ledger index names missing entry {}",
                hex::encode(entry_id)
            ))
        })?;
        page.push(decode_ledger_entry(bytes.value())?);
    }
    let next = match found.last() {
        Some((at, id)) if more => Some(payment_rules::encode_ledger_token(*at, id)),
        _ => None,
    };
    Ok((page, next))
}
