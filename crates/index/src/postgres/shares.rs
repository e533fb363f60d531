//! Share records. Each change locks the share row (`FOR UPDATE`), applies
//! the same `share_rules` function as redb and writes the mutable fields
//! back, so concurrent `take_share_download` calls (from any replica) never
//! exceed `max_downloads`: each waits for the previous commit and sees its
//! count. A blob's shares go with it through the foreign key's
//! `ON DELETE CASCADE` (migration 0003), in the deleting transaction.

use deadpool_postgres::tokio_postgres::{Client, Row, Transaction};
use shardgate_core::ContentId;

use super::errors::{col, col_id, col_int, col_u64, from_pg, pg};
use super::numeric::U64;
use super::rows::tenant_id;
use crate::error::IndexError;
use crate::records::TenantId;
use crate::rules;
use crate::share_rules;
use crate::shares::{SHARE_ID_LEN, ShareId, ShareRecord};

const COLUMNS: &str = "share_id, owner, blob_id, token_hash, wrapped_key, sealed_name, \
     price_msat, expires_at_unix_ms, max_downloads, downloads, revoked_at_unix_ms, \
     created_at_unix_ms";

fn share(row: &Row) -> Result<ShareRecord, IndexError> {
    let id: &[u8] = col(row, "share_id")?;
    let id: [u8; SHARE_ID_LEN] = id.try_into().map_err(|_| {
        IndexError::corrupt(format!(
            "column share_id: {} bytes, not {SHARE_ID_LEN}",
            id.len()
        ))
    })?;
    let opt_u64 = |name: &str| Ok::<_, IndexError>(col::<Option<U64>>(row, name)?.map(|v| v.0));
    Ok(ShareRecord {
        share_id: ShareId(id),
        blob_id: ContentId::from_bytes(col_id(row, "blob_id")?),
        owner: tenant_id(col(row, "owner")?)?,
        token_hash: col_id(row, "token_hash")?,
        wrapped_key: col(row, "wrapped_key")?,
        sealed_name: col(row, "sealed_name")?,
        price_msat: opt_u64("price_msat")?,
        expires_at_unix_ms: opt_u64("expires_at_unix_ms")?,
        max_downloads: col_int(row, "max_downloads")?,
        downloads: col_int(row, "downloads")?,
        revoked_at_unix_ms: opt_u64("revoked_at_unix_ms")?,
        created_at_unix_ms: col_u64(row, "created_at_unix_ms")?,
    })
}

fn not_found(id: &ShareId) -> IndexError {
    IndexError::not_found(format!("share {id}"))
}

/// Validation already done by `share_rules::check_new_share`.
pub(super) async fn create(txn: &Transaction<'_>, s: ShareRecord) -> Result<(), IndexError> {
    // FOR KEY SHARE keeps the blob from being deleted until this commits
    // (a concurrent delete_blob waits, then cascades to this share).
    let blob = txn
        .query_opt(
            "SELECT 1 FROM blobs WHERE owner = $1 AND blob_id = $2 FOR KEY SHARE",
            &[&s.owner.as_str(), &s.blob_id.as_bytes().as_slice()],
        )
        .await
        .map_err(pg("read shared blob"))?;
    if blob.is_none() {
        return Err(IndexError::not_found(format!(
            "blob {} of tenant {}",
            s.blob_id, s.owner
        )));
    }
    let sql = format!(
        "INSERT INTO shares ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, NULL, $10)"
    );
    txn.execute(
        &sql,
        &[
            &s.share_id.as_bytes().as_slice(),
            &s.owner.as_str(),
            &s.blob_id.as_bytes().as_slice(),
            &s.token_hash.as_slice(),
            &s.wrapped_key,
            &s.sealed_name,
            &s.price_msat.map(U64),
            &s.expires_at_unix_ms.map(U64),
            &i64::from(s.max_downloads),
            &U64(s.created_at_unix_ms),
        ],
    )
    .await
    .map_err(|e| match from_pg("create share", &e) {
        IndexError::AlreadyExists { .. } => {
            IndexError::already_exists(format!("share {}", s.share_id))
        }
        other => other,
    })?;
    Ok(())
}

pub(super) async fn get(client: &Client, id: &ShareId) -> Result<Option<ShareRecord>, IndexError> {
    let sql = format!("SELECT {COLUMNS} FROM shares WHERE share_id = $1");
    let row = client
        .query_opt(&sql, &[&id.as_bytes().as_slice()])
        .await
        .map_err(pg("read share"))?;
    row.as_ref().map(share).transpose()
}

pub(super) async fn list(
    client: &Client,
    owner: &TenantId,
    blob: Option<&ContentId>,
    after: Option<&ShareId>,
    limit: usize,
) -> Result<Vec<ShareRecord>, IndexError> {
    let limit = i64::try_from(rules::clamp_limit(limit)).unwrap_or(i64::MAX);
    // The empty byte string sorts before every share id.
    let after: &[u8] = after.map(|id| id.as_bytes().as_slice()).unwrap_or(&[]);
    // Two statements rather than `blob_id = $2 OR $2 IS NULL`, so each
    // walks its own index (shares_by_blob, shares_by_owner) in id order.
    let found = match blob {
        Some(blob) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM shares WHERE owner = $1 AND blob_id = $2 AND share_id > $3 \
                 ORDER BY share_id LIMIT $4"
            );
            let blob = blob.as_bytes().as_slice();
            client
                .query(&sql, &[&owner.as_str(), &blob, &after, &limit])
                .await
        }
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM shares WHERE owner = $1 AND share_id > $2 \
                 ORDER BY share_id LIMIT $3"
            );
            client.query(&sql, &[&owner.as_str(), &after, &limit]).await
        }
    }
    .map_err(pg("list shares"))?;
    found.iter().map(share).collect()
}

/// Locks the share (`None` if absent or, with `owner`, another owner's),
/// applies `change` and writes the mutable fields back if it says it
/// changed. Returns the record after the change.
async fn update(
    txn: &Transaction<'_>,
    id: &ShareId,
    owner: Option<&TenantId>,
    change: impl FnOnce(&mut ShareRecord) -> Result<bool, IndexError> + Send,
) -> Result<Option<ShareRecord>, IndexError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM shares WHERE share_id = $1 AND ($2::text IS NULL OR owner = $2) \
         FOR UPDATE"
    );
    let Some(row) = txn
        .query_opt(
            &sql,
            &[&id.as_bytes().as_slice(), &owner.map(TenantId::as_str)],
        )
        .await
        .map_err(pg("lock share"))?
    else {
        return Ok(None);
    };
    let mut s = share(&row)?;
    if change(&mut s)? {
        txn.execute(
            "UPDATE shares SET downloads = $2, revoked_at_unix_ms = $3 WHERE share_id = $1",
            &[
                &id.as_bytes().as_slice(),
                &i64::from(s.downloads),
                &s.revoked_at_unix_ms.map(U64),
            ],
        )
        .await
        .map_err(pg("update share"))?;
    }
    Ok(Some(s))
}

pub(super) async fn revoke(
    txn: &Transaction<'_>,
    owner: TenantId,
    id: ShareId,
    now_unix_ms: u64,
) -> Result<Option<ShareRecord>, IndexError> {
    update(txn, &id, Some(&owner), |s| {
        Ok(share_rules::revoke(s, now_unix_ms))
    })
    .await
}

pub(super) async fn take_download(
    txn: &Transaction<'_>,
    id: ShareId,
    now_unix_ms: u64,
) -> Result<ShareRecord, IndexError> {
    update(txn, &id, None, |s| {
        share_rules::take_download(s, now_unix_ms).map(|()| true)
    })
    .await?
    .ok_or_else(|| not_found(&id))
}

pub(super) async fn return_download(txn: &Transaction<'_>, id: ShareId) -> Result<(), IndexError> {
    update(txn, &id, None, |s| Ok(share_rules::return_download(s)))
        .await?
        .map(|_| ())
        .ok_or_else(|| not_found(&id))
}
