//! Payout and prepaid credit records. Each change locks its row
//! (`FOR UPDATE`), applies the same `payment_rules` as redb, and records
//! the ledger entry that moves the money in the same transaction; the
//! ledger's balance upsert is what serializes two payouts of one account.

use deadpool_postgres::tokio_postgres::{Client, Row, Transaction};

use super::errors::{col, col_id, col_int, col_u64, pg};
use super::ledger;
use super::numeric::U64;
use crate::codec::{account_kind_from_tag, account_kind_tag};
use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::payment_rules;
use crate::payments::{LedgerAccount, LedgerEntry, PaymentHash};
use crate::payouts::{PayoutAddressRecord, PayoutOrigin, PayoutRecord, PayoutStart, PayoutState};
use crate::rules;

const PAYOUT_COLUMNS: &str = "payment_hash, account_kind, account_id, amount_msat, \
     fee_reserve_msat, payment_request, attempt, origin, started_at_unix_ms, \
     finished_at_unix_ms, state, fee_msat, preimage, failure_reason";

fn payout(row: &Row) -> Result<PayoutRecord, IndexError> {
    let state = match col::<&str>(row, "state")? {
        "in_flight" => PayoutState::InFlight,
        "succeeded" => PayoutState::Succeeded {
            fee_msat: col::<Option<U64>>(row, "fee_msat")?.map_or(0, |v| v.0),
            preimage: col::<Option<&[u8]>>(row, "preimage")?
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| IndexError::corrupt("succeeded payout without a preimage"))?,
        },
        "failed" => PayoutState::Failed {
            reason: col::<Option<String>>(row, "failure_reason")?.unwrap_or_default(),
        },
        other => {
            return Err(IndexError::corrupt(format!(
                "unknown payout state {other:?}"
            )));
        }
    };
    let origin = match col::<&str>(row, "origin")? {
        "withdrawal" => PayoutOrigin::Withdrawal,
        "lightning_address" => PayoutOrigin::LightningAddress,
        other => {
            return Err(IndexError::corrupt(format!(
                "unknown payout origin {other:?}"
            )));
        }
    };
    Ok(PayoutRecord {
        payment_hash: col_id(row, "payment_hash")?,
        account: LedgerAccount {
            kind: account_kind_from_tag(col_int(row, "account_kind")?, "payout account kind")?,
            id: col(row, "account_id")?,
        },
        amount_msat: col_u64(row, "amount_msat")?,
        fee_reserve_msat: col_u64(row, "fee_reserve_msat")?,
        payment_request: col(row, "payment_request")?,
        attempt: col_int(row, "attempt")?,
        origin,
        started_at_unix_ms: col_u64(row, "started_at_unix_ms")?,
        finished_at_unix_ms: col::<Option<U64>>(row, "finished_at_unix_ms")?.map(|v| v.0),
        state,
    })
}

fn origin_name(o: PayoutOrigin) -> &'static str {
    match o {
        PayoutOrigin::Withdrawal => "withdrawal",
        PayoutOrigin::LightningAddress => "lightning_address",
    }
}

async fn locked(
    txn: &Transaction<'_>,
    hash: &PaymentHash,
) -> Result<Option<PayoutRecord>, IndexError> {
    let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE payment_hash = $1 FOR UPDATE");
    txn.query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("lock payout"))?
        .as_ref()
        .map(payout)
        .transpose()
}

/// Writes every column of `p` (insert, or replace the row of a retry).
async fn store(txn: &Transaction<'_>, p: &PayoutRecord) -> Result<(), IndexError> {
    let (state, fee, preimage, reason) = match &p.state {
        PayoutState::InFlight => ("in_flight", None, None, None),
        PayoutState::Succeeded { fee_msat, preimage } => (
            "succeeded",
            Some(U64(*fee_msat)),
            Some(preimage.as_slice()),
            None,
        ),
        PayoutState::Failed { reason } => ("failed", None, None, Some(reason.as_str())),
    };
    let sql = format!(
        "INSERT INTO payouts ({PAYOUT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (payment_hash) DO UPDATE SET \
           account_kind = excluded.account_kind, account_id = excluded.account_id, \
           amount_msat = excluded.amount_msat, fee_reserve_msat = excluded.fee_reserve_msat, \
           payment_request = excluded.payment_request, attempt = excluded.attempt, \
           origin = excluded.origin, started_at_unix_ms = excluded.started_at_unix_ms, \
           finished_at_unix_ms = excluded.finished_at_unix_ms, state = excluded.state, \
           fee_msat = excluded.fee_msat, preimage = excluded.preimage, \
           failure_reason = excluded.failure_reason"
    );
    txn.execute(
        &sql,
        &[
            &p.payment_hash.as_slice(),
            &i16::from(account_kind_tag(p.account.kind)),
            &p.account.id,
            &U64(p.amount_msat),
            &U64(p.fee_reserve_msat),
            &p.payment_request,
            &i64::from(p.attempt),
            &origin_name(p.origin),
            &U64(p.started_at_unix_ms),
            &p.finished_at_unix_ms.map(U64),
            &state,
            &fee,
            &preimage,
            &reason,
        ],
    )
    .await
    .map_err(pg("store payout"))?;
    Ok(())
}

/// Validation already done (`check_new_payout`, `check_ledger_entry`).
pub(super) async fn start(
    txn: &Transaction<'_>,
    new: PayoutRecord,
    entry: LedgerEntry,
) -> Result<PayoutStart, IndexError> {
    match locked(txn, &new.payment_hash).await? {
        Some(existing) => {
            payment_rules::check_retry(&existing, &new)?;
            if let Some(existing) = payment_rules::still_standing(existing) {
                return Ok(PayoutStart::Existing(existing));
            }
        }
        // Two first attempts racing: the second insert waits on the
        // first's primary key and then fails; the caller retries and
        // finds it.
        None if new.attempt != 1 => {
            return Err(IndexError::conflict(format!(
                "payout {}: no earlier attempt, so this is attempt 1, not {}",
                hex::encode(new.payment_hash),
                new.attempt
            )));
        }
        None => {}
    }
    if !ledger::record(txn, entry).await? {
        return Err(IndexError::conflict(format!(
            "the ledger entry of payout {} exists already",
            hex::encode(new.payment_hash)
        )));
    }
    store(txn, &new).await?;
    Ok(PayoutStart::Started(new))
}

pub(super) async fn finish(
    txn: &Transaction<'_>,
    hash: PaymentHash,
    attempt: u32,
    to: PayoutState,
    at_unix_ms: u64,
    entry: LedgerEntry,
) -> Result<PayoutRecord, IndexError> {
    let mut record = locked(txn, &hash)
        .await?
        .ok_or_else(|| IndexError::not_found(format!("payout {}", hex::encode(hash))))?;
    if record.state.is_final() || record.attempt != attempt {
        return Ok(record);
    }
    payment_rules::check_payout_outcome(&record, &to)?;
    ledger::record(txn, entry).await?;
    record.state = to;
    record.finished_at_unix_ms = Some(at_unix_ms);
    store(txn, &record).await?;
    Ok(record)
}

pub(super) async fn get(
    client: &Client,
    hash: &PaymentHash,
) -> Result<Option<PayoutRecord>, IndexError> {
    let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE payment_hash = $1");
    client
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("read payout"))?
        .as_ref()
        .map(payout)
        .transpose()
}

pub(super) async fn in_flight(
    client: &Client,
    after: Option<PaymentHash>,
    limit: usize,
) -> Result<Vec<PayoutRecord>, IndexError> {
    let limit = i64::try_from(rules::clamp_limit(limit)).unwrap_or(i64::MAX);
    let after = after.unwrap_or_default();
    let sql = format!(
        "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE state = 'in_flight' AND payment_hash > $1 \
         ORDER BY payment_hash LIMIT $2"
    );
    let rows = client
        .query(&sql, &[&after.as_slice(), &limit])
        .await
        .map_err(pg("list payouts in flight"))?;
    rows.iter().map(payout).collect()
}

const CREDIT_COLUMNS: &str = "payment_hash, token_id, amount_msat, payment_request, \
     created_at_unix_ms, expires_at_unix_ms, credential_expires_at_unix_ms, funded_at_unix_ms";

fn credit_row(row: &Row) -> Result<CreditRecord, IndexError> {
    Ok(CreditRecord {
        payment_hash: col_id(row, "payment_hash")?,
        token_id: col_id(row, "token_id")?,
        amount_msat: col_u64(row, "amount_msat")?,
        payment_request: col(row, "payment_request")?,
        created_at_unix_ms: col_u64(row, "created_at_unix_ms")?,
        expires_at_unix_ms: col_u64(row, "expires_at_unix_ms")?,
        credential_expires_at_unix_ms: col_u64(row, "credential_expires_at_unix_ms")?,
        funded_at_unix_ms: col::<Option<U64>>(row, "funded_at_unix_ms")?.map(|v| v.0),
    })
}

pub(super) async fn insert_credit(
    txn: &Transaction<'_>,
    c: CreditRecord,
) -> Result<(), IndexError> {
    let sql = format!(
        "INSERT INTO credits ({CREDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) \
         ON CONFLICT (payment_hash) DO NOTHING"
    );
    let inserted = txn
        .execute(
            &sql,
            &[
                &c.payment_hash.as_slice(),
                &c.token_id.as_slice(),
                &U64(c.amount_msat),
                &c.payment_request,
                &U64(c.created_at_unix_ms),
                &U64(c.expires_at_unix_ms),
                &U64(c.credential_expires_at_unix_ms),
            ],
        )
        .await
        .map_err(pg("insert credit"))?;
    if inserted == 0 {
        return Err(IndexError::already_exists(format!(
            "credit {}",
            hex::encode(c.payment_hash)
        )));
    }
    Ok(())
}

pub(super) async fn credit(
    client: &Client,
    hash: &PaymentHash,
) -> Result<Option<CreditRecord>, IndexError> {
    let sql = format!("SELECT {CREDIT_COLUMNS} FROM credits WHERE payment_hash = $1");
    client
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("read credit"))?
        .as_ref()
        .map(credit_row)
        .transpose()
}

pub(super) async fn fund_credit(
    txn: &Transaction<'_>,
    hash: PaymentHash,
    at_unix_ms: u64,
    entry: LedgerEntry,
) -> Result<CreditRecord, IndexError> {
    let sql = format!("SELECT {CREDIT_COLUMNS} FROM credits WHERE payment_hash = $1 FOR UPDATE");
    let mut record = txn
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("lock credit"))?
        .as_ref()
        .map(credit_row)
        .transpose()?
        .ok_or_else(|| IndexError::not_found(format!("credit {}", hex::encode(hash))))?;
    if record.funded_at_unix_ms.is_some() {
        return Ok(record);
    }
    ledger::record(txn, entry).await?;
    txn.execute(
        "UPDATE credits SET funded_at_unix_ms = $2 WHERE payment_hash = $1",
        &[&hash.as_slice(), &U64(at_unix_ms)],
    )
    .await
    .map_err(pg("fund credit"))?;
    record.funded_at_unix_ms = Some(at_unix_ms);
    Ok(record)
}

const ADDRESS_COLUMNS: &str = "account_kind, account_id, address, threshold_msat, failures, \
     next_attempt_at_unix_ms, last_error, updated_at_unix_ms";

fn address_row(row: &Row) -> Result<PayoutAddressRecord, IndexError> {
    Ok(PayoutAddressRecord {
        account: LedgerAccount {
            kind: account_kind_from_tag(col_int(row, "account_kind")?, "payout address kind")?,
            id: col(row, "account_id")?,
        },
        address: col(row, "address")?,
        threshold_msat: col_u64(row, "threshold_msat")?,
        failures: col_int(row, "failures")?,
        next_attempt_at_unix_ms: col_u64(row, "next_attempt_at_unix_ms")?,
        last_error: col(row, "last_error")?,
        updated_at_unix_ms: col_u64(row, "updated_at_unix_ms")?,
    })
}

pub(super) async fn put_address(
    txn: &Transaction<'_>,
    r: PayoutAddressRecord,
) -> Result<(), IndexError> {
    let sql = format!(
        "INSERT INTO payout_addresses ({ADDRESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (account_kind, account_id) DO UPDATE SET address = excluded.address, \
           threshold_msat = excluded.threshold_msat, failures = excluded.failures, \
           next_attempt_at_unix_ms = excluded.next_attempt_at_unix_ms, \
           last_error = excluded.last_error, updated_at_unix_ms = excluded.updated_at_unix_ms"
    );
    txn.execute(
        &sql,
        &[
            &i16::from(account_kind_tag(r.account.kind)),
            &r.account.id,
            &r.address,
            &U64(r.threshold_msat),
            &i64::from(r.failures),
            &U64(r.next_attempt_at_unix_ms),
            &r.last_error,
            &U64(r.updated_at_unix_ms),
        ],
    )
    .await
    .map_err(pg("store payout address"))?;
    Ok(())
}

pub(super) async fn remove_address(
    txn: &Transaction<'_>,
    account: LedgerAccount,
) -> Result<bool, IndexError> {
    let removed = txn
        .execute(
            "DELETE FROM payout_addresses WHERE account_kind = $1 AND account_id = $2",
            &[&i16::from(account_kind_tag(account.kind)), &account.id],
        )
        .await
        .map_err(pg("remove payout address"))?;
    Ok(removed > 0)
}

pub(super) async fn address(
    client: &Client,
    account: &LedgerAccount,
) -> Result<Option<PayoutAddressRecord>, IndexError> {
    let sql = format!(
        "SELECT {ADDRESS_COLUMNS} FROM payout_addresses WHERE account_kind = $1 AND account_id = $2"
    );
    client
        .query_opt(
            &sql,
            &[&i16::from(account_kind_tag(account.kind)), &account.id],
        )
        .await
        .map_err(pg("read payout address"))?
        .as_ref()
        .map(address_row)
        .transpose()
}

pub(super) async fn addresses(client: &Client) -> Result<Vec<PayoutAddressRecord>, IndexError> {
    let sql =
        format!("SELECT {ADDRESS_COLUMNS} FROM payout_addresses ORDER BY account_kind, account_id");
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(pg("list payout addresses"))?;
    rows.iter().map(address_row).collect()
}
