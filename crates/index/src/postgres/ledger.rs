//! The double-entry ledger: entries, their postings and the running
//! balance of every account, all written in the entry's own transaction.
//!
//! Concurrency: a second `record_payment` of the same entry id waits on
//! the first's uncommitted primary key, then finds it (`ON CONFLICT DO
//! NOTHING` inserts nothing) and returns `Ok(false)`. Balances change by
//! atomic upserts (`credited = credited + n`), in (kind, id) order so two
//! entries touching the same accounts lock them in the same order.

use deadpool_postgres::tokio_postgres::{Client, Row, Transaction};
use shardgate_core::ContentId;

use super::errors::{col, col_id, col_int, col_u64, from_pg, pg};
use super::numeric::U64;
use crate::codec::{account_kind_from_tag, account_kind_tag, entry_kind_from_tag, entry_kind_tag};
use crate::error::IndexError;
use crate::payment_rules;
use crate::payments::{
    AccountBalance, LedgerAccount, LedgerEntry, LedgerFilter, LedgerPosting, PostingSide,
};
use crate::rules;

fn kind_column(account: &LedgerAccount) -> i16 {
    i16::from(account_kind_tag(account.kind))
}

fn account(row: &Row) -> Result<LedgerAccount, IndexError> {
    let tag: u8 = col_int(row, "account_kind")?;
    Ok(LedgerAccount {
        kind: account_kind_from_tag(tag, "ledger account kind")?,
        id: col(row, "account_id")?,
    })
}

/// Too large for a balance, whatever it is added to.
fn too_large(account: &LedgerAccount) -> IndexError {
    IndexError::invalid(format!(
        "ledger balance of {account:?} would exceed u64 msat"
    ))
}

/// Writes the entry once per id (validation already done by
/// `payment_rules::check_ledger_entry`). `Ok(false)`: already recorded,
/// nothing written.
pub(super) async fn record(txn: &Transaction<'_>, entry: LedgerEntry) -> Result<bool, IndexError> {
    let at = U64(entry.settled_at_unix_ms);
    let inserted = txn
        .execute(
            "INSERT INTO ledger_entries (entry_id, blob_id, settled_at_unix_ms, kind) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (entry_id) DO NOTHING",
            &[
                &entry.entry_id.as_slice(),
                &entry.blob_id.as_ref().map(|b| b.as_bytes().as_slice()),
                &at,
                &i16::from(entry_kind_tag(entry.kind)),
            ],
        )
        .await
        .map_err(pg("record ledger entry"))?;
    if inserted == 0 {
        return Ok(false);
    }
    for (position, p) in entry.postings.iter().enumerate() {
        let side = match p.side {
            PostingSide::Debit => "debit",
            PostingSide::Credit => "credit",
        };
        txn.execute(
            "INSERT INTO ledger_postings (entry_id, position, account_kind, account_id, side, \
                                          amount_msat, settled_at_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &entry.entry_id.as_slice(),
                &i32::try_from(position).map_err(|_| IndexError::invalid("too many postings"))?,
                &kind_column(&p.account),
                &p.account.id,
                &side,
                &U64(p.amount_msat),
                &at,
            ],
        )
        .await
        .map_err(pg("record ledger posting"))?;
    }
    // BTreeMap: (kind, id) order, the same lock order in every entry.
    for (account, (credited, debited)) in payment_rules::entry_totals(&entry) {
        let credited = u64::try_from(credited).map_err(|_| too_large(&account))?;
        let debited = u64::try_from(debited).map_err(|_| too_large(&account))?;
        let row = txn.query_one(
            "INSERT INTO ledger_balances (account_kind, account_id, credited_msat, debited_msat) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_kind, account_id) DO UPDATE \
             SET credited_msat = ledger_balances.credited_msat + excluded.credited_msat, \
                 debited_msat = ledger_balances.debited_msat + excluded.debited_msat \
             RETURNING credited_msat, debited_msat",
            &[
                &kind_column(&account),
                &account.id,
                &U64(credited),
                &U64(debited),
            ],
        )
        .await
        .map_err(|e| match from_pg("update ledger balance", &e) {
            // The u64 CHECK: nothing is written (the transaction aborts).
            IndexError::Invalid { .. } => too_large(&account),
            other => other,
        })?;
        // The upsert holds the row lock until commit, so a concurrent entry
        // on this account waits and then sees this total: a returned
        // error rolls the whole entry back.
        let after = AccountBalance {
            account: account.clone(),
            credited_msat: col_u64(&row, "credited_msat")?,
            debited_msat: col_u64(&row, "debited_msat")?,
        };
        payment_rules::check_not_negative(&after, (u128::from(credited), u128::from(debited)))?;
    }
    Ok(true)
}

fn balance(row: &Row) -> Result<AccountBalance, IndexError> {
    Ok(AccountBalance {
        account: account(row)?,
        credited_msat: col_u64(row, "credited_msat")?,
        debited_msat: col_u64(row, "debited_msat")?,
    })
}

pub(super) async fn balances(client: &Client) -> Result<Vec<AccountBalance>, IndexError> {
    let found = client
        .query(
            "SELECT account_kind, account_id, credited_msat, debited_msat FROM ledger_balances \
             ORDER BY account_kind, account_id",
            &[],
        )
        .await
        .map_err(pg("read ledger balances"))?;
    found.iter().map(balance).collect()
}

pub(super) async fn balance_of(
    client: &Client,
    of: &LedgerAccount,
) -> Result<AccountBalance, IndexError> {
    let row = client
        .query_opt(
            "SELECT account_kind, account_id, credited_msat, debited_msat FROM ledger_balances \
             WHERE account_kind = $1 AND account_id = $2",
            &[&kind_column(of), &of.id],
        )
        .await
        .map_err(pg("read ledger balance"))?;
    match row {
        Some(row) => balance(&row),
        None => Ok(AccountBalance::zero(of.clone())),
    }
}

pub(super) async fn list(
    client: &Client,
    filter: &LedgerFilter,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError> {
    let limit = rules::clamp_limit(limit);
    let resume = token.map(payment_rules::decode_ledger_token).transpose()?;
    // Resume strictly after the token's position when that is further on
    // than the filter's start; (since, empty) sorts before every entry
    // settled at `since`. Positions are keys, so inserts between pages
    // neither repeat nor skip entries.
    let since = filter.since_unix_ms.unwrap_or(0);
    let (after_at, after_id): (u64, Vec<u8>) = match resume {
        Some((at, id)) if (at, id) >= (since, [0u8; 32]) => (at, id.to_vec()),
        _ => (since, Vec::new()),
    };
    let until = filter.until_unix_ms.map(U64);
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let positions = match &filter.account {
        None => {
            client
                .query(
                    "SELECT entry_id, settled_at_unix_ms FROM ledger_entries \
                 WHERE (settled_at_unix_ms, entry_id) > ($1, $2) \
                   AND ($3::numeric IS NULL OR settled_at_unix_ms < $3) \
                 ORDER BY settled_at_unix_ms, entry_id LIMIT $4",
                    &[&U64(after_at), &after_id, &until, &fetch],
                )
                .await
        }
        Some(account) => {
            client
                .query(
                    "SELECT DISTINCT entry_id, settled_at_unix_ms FROM ledger_postings \
                 WHERE account_kind = $5 AND account_id = $6 \
                   AND (settled_at_unix_ms, entry_id) > ($1, $2) \
                   AND ($3::numeric IS NULL OR settled_at_unix_ms < $3) \
                 ORDER BY settled_at_unix_ms, entry_id LIMIT $4",
                    &[
                        &U64(after_at),
                        &after_id,
                        &until,
                        &fetch,
                        &kind_column(account),
                        &account.id,
                    ],
                )
                .await
        }
    }
    .map_err(pg("list ledger"))?;
    let more = positions.len() > limit;
    let ids: Vec<&[u8]> = positions
        .iter()
        .take(limit)
        .map(|r| col::<&[u8]>(r, "entry_id"))
        .collect::<Result<_, _>>()?;
    let page = load_entries(client, &ids).await?;
    let next = match page.last() {
        Some(last) if more => Some(payment_rules::encode_ledger_token(
            last.settled_at_unix_ms,
            &last.entry_id,
        )),
        _ => None,
    };
    Ok((page, next))
}

/// The entries with these ids, with their postings, in (settled at, id)
/// order. Entries never change once written, so two reads agree.
async fn load_entries(client: &Client, ids: &[&[u8]]) -> Result<Vec<LedgerEntry>, IndexError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let entries = client
        .query(
            "SELECT entry_id, kind, blob_id, settled_at_unix_ms FROM ledger_entries \
             WHERE entry_id = ANY($1) ORDER BY settled_at_unix_ms, entry_id",
            &[&ids],
        )
        .await
        .map_err(pg("read ledger entries"))?;
    let postings = client
        .query(
            "SELECT entry_id, account_kind, account_id, side, amount_msat FROM ledger_postings \
             WHERE entry_id = ANY($1) ORDER BY entry_id, position",
            &[&ids],
        )
        .await
        .map_err(pg("read ledger postings"))?;
    let mut by_entry: std::collections::HashMap<[u8; 32], Vec<LedgerPosting>> =
        std::collections::HashMap::new();
    for row in &postings {
        let side = match col::<&str>(row, "side")? {
            "debit" => PostingSide::Debit,
            "credit" => PostingSide::Credit,
            other => {
                return Err(IndexError::corrupt(format!(
                    "unknown posting side {other:?}"
                )));
            }
        };
        by_entry
            .entry(col_id(row, "entry_id")?)
            .or_default()
            .push(LedgerPosting {
                account: account(row)?,
                side,
                amount_msat: col_u64(row, "amount_msat")?,
            });
    }
    entries
        .iter()
        .map(|row| {
            let entry_id = col_id(row, "entry_id")?;
            Ok(LedgerEntry {
                entry_id,
                kind: entry_kind_from_tag(col_int(row, "kind")?, "ledger entry kind")?,
                blob_id: col::<Option<&[u8]>>(row, "blob_id")?
                    .map(|b| {
                        <[u8; 32]>::try_from(b)
                            .map(ContentId::from_bytes)
                            .map_err(|_| {
                                IndexError::corrupt("ledger entry blob_id is not 32 bytes")
                            })
                    })
                    .transpose()?,
                settled_at_unix_ms: col_u64(row, "settled_at_unix_ms")?,
                postings: by_entry.remove(&entry_id).unwrap_or_default(),
            })
        })
        .collect()
}
