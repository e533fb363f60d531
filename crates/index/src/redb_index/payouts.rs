//! Payout records and prepaid credit records, each state change in the
//! same write transaction as the ledger entry that moves its money (redb
//! serializes writers, so two withdrawals of one account never both pass
//! the balance check on the same balance).

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::ledger;
use super::tables::{CREDITS, PAYOUT_ADDRESSES, PAYOUTS, PAYOUTS_IN_FLIGHT};
use crate::codec::{
    account_kind_tag, decode_credit, decode_payout, decode_payout_address, encode_credit,
    encode_payout, encode_payout_address,
};
use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::payments::LedgerAccount;
use crate::payments::{LedgerEntry, PaymentHash};
use crate::payouts::{PayoutAddressRecord, PayoutRecord, PayoutStart, PayoutState};
use crate::rules;

fn load_payout(
    table: &impl ReadableTable<[u8; 32], &'static [u8]>,
    hash: &PaymentHash,
) -> Result<Option<PayoutRecord>, IndexError> {
    match table.get(*hash)? {
        Some(bytes) => decode_payout(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Validation already done (`check_new_payout`, `check_ledger_entry`).
pub(super) fn start(
    txn: &WriteTransaction,
    payout: &PayoutRecord,
    entry: &LedgerEntry,
) -> Result<PayoutStart, IndexError> {
    let mut payouts = txn.open_table(PAYOUTS)?;
    if let Some(existing) = load_payout(&payouts, &payout.payment_hash)? {
        crate::payment_rules::check_retry(&existing, payout)?;
        if let Some(existing) = crate::payment_rules::still_standing(existing) {
            return Ok(PayoutStart::Existing(existing));
        }
    } else if payout.attempt != 1 {
        return Err(IndexError::conflict(format!(
            "payout {}: no earlier attempt, so this is attempt 1, not {}",
            hex::encode(payout.payment_hash),
            payout.attempt
        )));
    }
    if !ledger::record(txn, entry)? {
        return Err(IndexError::conflict(format!(
            "ledger entry {} of payout {} exists already",
            hex::encode(entry.entry_id),
            hex::encode(payout.payment_hash)
        )));
    }
    payouts.insert(payout.payment_hash, encode_payout(payout).as_slice())?;
    txn.open_table(PAYOUTS_IN_FLIGHT)?
        .insert(payout.payment_hash, ())?;
    Ok(PayoutStart::Started(payout.clone()))
}

/// InFlight → final for `attempt`, with its entry; a final or other-attempt
/// record comes back unchanged.
pub(super) fn finish(
    txn: &WriteTransaction,
    hash: &PaymentHash,
    attempt: u32,
    to: &PayoutState,
    at_unix_ms: u64,
    entry: &LedgerEntry,
) -> Result<PayoutRecord, IndexError> {
    let mut payouts = txn.open_table(PAYOUTS)?;
    let mut record = load_payout(&payouts, hash)?
        .ok_or_else(|| IndexError::not_found(format!("payout {}", hex::encode(hash))))?;
    if record.state.is_final() || record.attempt != attempt {
        return Ok(record);
    }
    crate::payment_rules::check_payout_outcome(&record, to)?;
    ledger::record(txn, entry)?;
    record.state = to.clone();
    record.finished_at_unix_ms = Some(at_unix_ms);
    payouts.insert(*hash, encode_payout(&record).as_slice())?;
    txn.open_table(PAYOUTS_IN_FLIGHT)?.remove(*hash)?;
    Ok(record)
}

pub(super) fn get(
    txn: &ReadTransaction,
    hash: &PaymentHash,
) -> Result<Option<PayoutRecord>, IndexError> {
    load_payout(&txn.open_table(PAYOUTS)?, hash)
}

pub(super) fn in_flight(
    txn: &ReadTransaction,
    after: Option<PaymentHash>,
    limit: usize,
) -> Result<Vec<PayoutRecord>, IndexError> {
    let limit = rules::clamp_limit(limit);
    let pending = txn.open_table(PAYOUTS_IN_FLIGHT)?;
    let payouts = txn.open_table(PAYOUTS)?;
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    for item in pending
        .range::<[u8; 32]>((start, Bound::Unbounded))?
        .take(limit)
    {
        let hash = item?.0.value();
        let record = load_payout(&payouts, &hash)?.ok_or_else(|| {
            IndexError::corrupt(format!(
                "payouts_in_flight names missing payout {}",
                hex::encode(hash)
            ))
        })?;
        out.push(record);
    }
    Ok(out)
}

pub(super) fn insert_credit(txn: &WriteTransaction, c: &CreditRecord) -> Result<(), IndexError> {
    let mut credits = txn.open_table(CREDITS)?;
    if credits.get(c.payment_hash)?.is_some() {
        return Err(IndexError::already_exists(format!(
            "credit {}",
            hex::encode(c.payment_hash)
        )));
    }
    credits.insert(c.payment_hash, encode_credit(c).as_slice())?;
    Ok(())
}

pub(super) fn credit(
    txn: &ReadTransaction,
    hash: &PaymentHash,
) -> Result<Option<CreditRecord>, IndexError> {
    match txn.open_table(CREDITS)?.get(*hash)? {
        Some(bytes) => decode_credit(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Marks the credit funded and books the purchase, once.
pub(super) fn fund_credit(
    txn: &WriteTransaction,
    hash: &PaymentHash,
    at_unix_ms: u64,
    entry: &LedgerEntry,
) -> Result<CreditRecord, IndexError> {
    let mut credits = txn.open_table(CREDITS)?;
    let mut record = match credits.get(*hash)? {
        Some(bytes) => decode_credit(bytes.value())?,
        None => {
            return Err(IndexError::not_found(format!(
                "credit {}",
                hex::encode(hash)
            )));
        }
    };
    if record.funded_at_unix_ms.is_some() {
        return Ok(record);
    }
    ledger::record(txn, entry)?;
    record.funded_at_unix_ms = Some(at_unix_ms);
    credits.insert(*hash, encode_credit(&record).as_slice())?;
    Ok(record)
}

pub(super) fn put_address(
    txn: &WriteTransaction,
    r: &PayoutAddressRecord,
) -> Result<(), IndexError> {
    txn.open_table(PAYOUT_ADDRESSES)?.insert(
        (account_kind_tag(r.account.kind), r.account.id.as_str()),
        encode_payout_address(r).as_slice(),
    )?;
    Ok(())
}

pub(super) fn remove_address(
    txn: &WriteTransaction,
    account: &LedgerAccount,
) -> Result<bool, IndexError> {
    let removed = txn
        .open_table(PAYOUT_ADDRESSES)?
        .remove((account_kind_tag(account.kind), account.id.as_str()))?
        .is_some();
    Ok(removed)
}

pub(super) fn address(
    txn: &ReadTransaction,
    account: &LedgerAccount,
) -> Result<Option<PayoutAddressRecord>, IndexError> {
    match txn
        .open_table(PAYOUT_ADDRESSES)?
        .get((account_kind_tag(account.kind), account.id.as_str()))?
    {
        Some(bytes) => decode_payout_address(bytes.value()).map(Some),
        None => Ok(None),
    }
}

pub(super) fn addresses(txn: &ReadTransaction) -> Result<Vec<PayoutAddressRecord>, IndexError> {
    let table = txn.open_table(PAYOUT_ADDRESSES)?;
    let mut out = Vec::new();
    for item in table.iter()? {
        out.push(decode_payout_address(item?.1.value())?);
    }
    Ok(out)
}
