//! Invoice records: insert, the use counter, hold acceptance and the final
//! state, each one write transaction (redb serializes writers, so two
//! concurrent `reserve_use` calls never both take the last use).
//! `pending_holds` lists the hold invoices still `Issued` for the watcher;
//! it changes in the same transaction as the invoice's progress.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::{INVOICES, PENDING_HOLDS};
use crate::codec::{decode_invoice, encode_invoice};
use crate::error::IndexError;
use crate::payment_rules;
use crate::payments::{InvoiceProgress, InvoiceRecord, PaymentHash};
use crate::rules;

fn load(
    table: &impl ReadableTable<[u8; 32], &'static [u8]>,
    hash: &PaymentHash,
) -> Result<Option<InvoiceRecord>, IndexError> {
    match table.get(*hash)? {
        Some(bytes) => decode_invoice(bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn not_found(hash: &PaymentHash) -> IndexError {
    IndexError::not_found(format!("invoice {}", hex::encode(hash)))
}

/// Validation already done by `payment_rules::check_new_invoice`.
pub(super) fn insert(txn: &WriteTransaction, inv: &InvoiceRecord) -> Result<(), IndexError> {
    let mut invoices = txn.open_table(INVOICES)?;
    if invoices.get(inv.payment_hash)?.is_some() {
        return Err(IndexError::already_exists(format!(
            "invoice {}",
            hex::encode(inv.payment_hash)
        )));
    }
    invoices.insert(inv.payment_hash, encode_invoice(inv).as_slice())?;
    if inv.hold {
        txn.open_table(PENDING_HOLDS)?
            .insert(inv.payment_hash, ())?;
    }
    Ok(())
}

pub(super) fn get(
    txn: &ReadTransaction,
    hash: &PaymentHash,
) -> Result<Option<InvoiceRecord>, IndexError> {
    load(&txn.open_table(INVOICES)?, hash)
}

/// Loads the invoice (`NotFound`), applies `change` and stores the record
/// if `change` says it changed. Returns the record after the change.
pub(super) fn update(
    txn: &WriteTransaction,
    hash: &PaymentHash,
    change: impl FnOnce(&mut InvoiceRecord) -> Result<bool, IndexError>,
) -> Result<InvoiceRecord, IndexError> {
    let mut invoices = txn.open_table(INVOICES)?;
    let mut inv = load(&invoices, hash)?.ok_or_else(|| not_found(hash))?;
    if change(&mut inv)? {
        invoices.insert(*hash, encode_invoice(&inv).as_slice())?;
    }
    Ok(inv)
}

pub(super) fn reserve_use(
    txn: &WriteTransaction,
    hash: &PaymentHash,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, |inv| {
        payment_rules::reserve_use(inv).map(|()| true)
    })
}

pub(super) fn release_use(
    txn: &WriteTransaction,
    hash: &PaymentHash,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, |inv| Ok(payment_rules::release_use(inv)))
}

pub(super) fn mark_hold_accepted(
    txn: &WriteTransaction,
    hash: &PaymentHash,
    at_unix_ms: u64,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, |inv| {
        Ok(payment_rules::mark_hold_accepted(inv, at_unix_ms))
    })
}

/// Issued → `to`; the invoice leaves `pending_holds` in the same transaction.
pub(super) fn finish(
    txn: &WriteTransaction,
    hash: &PaymentHash,
    to: InvoiceProgress,
) -> Result<InvoiceRecord, IndexError> {
    let inv = update(txn, hash, |inv| payment_rules::finish(inv, to))?;
    if inv.progress != InvoiceProgress::Issued {
        txn.open_table(PENDING_HOLDS)?.remove(*hash)?;
    }
    Ok(inv)
}

pub(super) fn pending_holds(
    txn: &ReadTransaction,
    after: Option<PaymentHash>,
    limit: usize,
) -> Result<Vec<InvoiceRecord>, IndexError> {
    let limit = rules::clamp_limit(limit);
    let start = match after {
        Some(hash) => Bound::Excluded(hash),
        None => Bound::Unbounded,
    };
    let pending = txn.open_table(PENDING_HOLDS)?;
    let invoices = txn.open_table(INVOICES)?;
    let mut out = Vec::new();
    for entry in pending
        .range::<[u8; 32]>((start, Bound::Unbounded))?
        .take(limit)
    {
        let (key, _) = entry?;
        let hash = key.value();
        let inv = load(&invoices, &hash)?.ok_or_else(|| {
            IndexError::corrupt(format!(
                "pending hold index names missing invoice {}",
                hex::encode(hash)
            ))
        })?;
        out.push(inv);
    }
    Ok(out)
}
