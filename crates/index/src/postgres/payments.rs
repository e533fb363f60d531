//! Invoices: insert, the use counter, hold acceptance and the final state.
//! Each change locks the invoice row (`FOR UPDATE`), applies the same
//! `payment_rules` function as redb, and writes the mutable fields back,
//! so two brokers calling `reserve_use` at once never both take the last
//! use: the second waits for the first's commit and sees its count.

use deadpool_postgres::tokio_postgres::{Client, Row, Transaction};
use shardgate_core::ContentId;

use super::errors::{col, col_id, col_int, col_u64, pg};
use super::numeric::U64;
use super::rows::tenant_id;
use crate::error::IndexError;
use crate::payment_rules;
use crate::payments::{InvoiceProgress, InvoiceRecord, PaymentHash};
use crate::rules;

const COLUMNS: &str = "payment_hash, blob_id, owner, range_offset, range_length, amount_msat, \
     uses, used, hold, token_id, payment_request, created_at_unix_ms, expires_at_unix_ms, \
     credential_expires_at_unix_ms, hold_accepted_at_unix_ms, progress";

fn progress_name(p: InvoiceProgress) -> &'static str {
    match p {
        InvoiceProgress::Issued => "issued",
        InvoiceProgress::Settled => "settled",
        InvoiceProgress::Canceled => "canceled",
    }
}

fn invoice(row: &Row) -> Result<InvoiceRecord, IndexError> {
    let progress = match col::<&str>(row, "progress")? {
        "issued" => InvoiceProgress::Issued,
        "settled" => InvoiceProgress::Settled,
        "canceled" => InvoiceProgress::Canceled,
        other => {
            return Err(IndexError::corrupt(format!(
                "unknown invoice progress {other:?}"
            )));
        }
    };
    Ok(InvoiceRecord {
        payment_hash: col_id(row, "payment_hash")?,
        blob_id: ContentId::from_bytes(col_id(row, "blob_id")?),
        owner: tenant_id(col(row, "owner")?)?,
        range_offset: col_u64(row, "range_offset")?,
        range_length: col_u64(row, "range_length")?,
        amount_msat: col_u64(row, "amount_msat")?,
        uses: col_int(row, "uses")?,
        used: col_int(row, "used")?,
        hold: col(row, "hold")?,
        token_id: col_id(row, "token_id")?,
        payment_request: col(row, "payment_request")?,
        created_at_unix_ms: col_u64(row, "created_at_unix_ms")?,
        expires_at_unix_ms: col_u64(row, "expires_at_unix_ms")?,
        credential_expires_at_unix_ms: col_u64(row, "credential_expires_at_unix_ms")?,
        hold_accepted_at_unix_ms: col::<Option<U64>>(row, "hold_accepted_at_unix_ms")?.map(|v| v.0),
        progress,
    })
}

fn not_found(hash: &PaymentHash) -> IndexError {
    IndexError::not_found(format!("invoice {}", hex::encode(hash)))
}

/// Validation already done by `payment_rules::check_new_invoice`.
pub(super) async fn insert(txn: &Transaction<'_>, inv: InvoiceRecord) -> Result<(), IndexError> {
    let sql = format!(
        "INSERT INTO invoices ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, 'issued')"
    );
    txn.execute(
        &sql,
        &[
            &inv.payment_hash.as_slice(),
            &inv.blob_id.as_bytes().as_slice(),
            &inv.owner.as_str(),
            &U64(inv.range_offset),
            &U64(inv.range_length),
            &U64(inv.amount_msat),
            &i64::from(inv.uses),
            &i64::from(inv.used),
            &inv.hold,
            &inv.token_id.as_slice(),
            &inv.payment_request,
            &U64(inv.created_at_unix_ms),
            &U64(inv.expires_at_unix_ms),
            &U64(inv.credential_expires_at_unix_ms),
        ],
    )
    .await
    .map_err(|e| match super::errors::from_pg("insert invoice", &e) {
        IndexError::AlreadyExists { .. } => {
            IndexError::already_exists(format!("invoice {}", hex::encode(inv.payment_hash)))
        }
        other => other,
    })?;
    Ok(())
}

pub(super) async fn get(
    client: &Client,
    hash: &PaymentHash,
) -> Result<Option<InvoiceRecord>, IndexError> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE payment_hash = $1");
    let row = client
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("read invoice"))?;
    row.as_ref().map(invoice).transpose()
}

/// Locks the invoice (`NotFound`), applies `change` and writes the record
/// back if `change` says it changed. Returns the record after the change.
pub(super) async fn update(
    txn: &Transaction<'_>,
    hash: PaymentHash,
    change: impl FnOnce(&mut InvoiceRecord) -> Result<bool, IndexError> + Send,
) -> Result<InvoiceRecord, IndexError> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE payment_hash = $1 FOR UPDATE");
    let row = txn
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("lock invoice"))?
        .ok_or_else(|| not_found(&hash))?;
    let mut inv = invoice(&row)?;
    if change(&mut inv)? {
        txn.execute(
            "UPDATE invoices SET used = $2, hold_accepted_at_unix_ms = $3, progress = $4 \
             WHERE payment_hash = $1",
            &[
                &hash.as_slice(),
                &i64::from(inv.used),
                &inv.hold_accepted_at_unix_ms.map(U64),
                &progress_name(inv.progress),
            ],
        )
        .await
        .map_err(pg("update invoice"))?;
    }
    Ok(inv)
}

pub(super) async fn reserve_use(
    txn: &Transaction<'_>,
    hash: PaymentHash,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, |inv| {
        payment_rules::reserve_use(inv).map(|()| true)
    })
    .await
}

pub(super) async fn release_use(
    txn: &Transaction<'_>,
    hash: PaymentHash,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, |inv| Ok(payment_rules::release_use(inv))).await
}

pub(super) async fn mark_hold_accepted(
    txn: &Transaction<'_>,
    hash: PaymentHash,
    at_unix_ms: u64,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, move |inv| {
        Ok(payment_rules::mark_hold_accepted(inv, at_unix_ms))
    })
    .await
}

pub(super) async fn finish(
    txn: &Transaction<'_>,
    hash: PaymentHash,
    to: InvoiceProgress,
) -> Result<InvoiceRecord, IndexError> {
    update(txn, hash, move |inv| payment_rules::finish(inv, to)).await
}

pub(super) async fn pending_holds(
    client: &Client,
    after: Option<PaymentHash>,
    limit: usize,
) -> Result<Vec<InvoiceRecord>, IndexError> {
    let limit = rules::clamp_limit(limit) as i64;
    // The empty byte string sorts before every hash.
    let after: Vec<u8> = after.map(|h| h.to_vec()).unwrap_or_default();
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE hold AND progress = 'issued' \
         AND payment_hash > $1 ORDER BY payment_hash LIMIT $2"
    );
    let found = client
        .query(&sql, &[&after, &limit])
        .await
        .map_err(pg("list pending hold invoices"))?;
    found.iter().map(invoice).collect()
}
