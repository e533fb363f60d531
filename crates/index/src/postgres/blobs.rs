//! Blobs, and the commit/delete transactions that also move chunk
//! refcounts and quota.

use deadpool_postgres::tokio_postgres::types::ToSql;
use deadpool_postgres::tokio_postgres::{Client, Transaction};
use shardgate_core::ContentId;

use super::errors::pg;
use super::numeric::U64;
use super::rows::{self, BLOB_COLUMNS};
use super::{chunks, tenants, txn};
use crate::error::IndexError;
use crate::records::{BlobRecord, CommitOutcome, NewBlob, Price, TenantId, Visibility};
use crate::rules;

/// Inserts `blob`, or (`replace`) overwrites every field but the creation
/// time of the stored one.
async fn write(txn: &Transaction<'_>, blob: &BlobRecord, replace: bool) -> Result<(), IndexError> {
    let (keys, values): (Vec<&str>, Vec<&str>) = blob
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .unzip();
    let sql = if replace {
        "UPDATE blobs SET name = $3, content_type = $4, size = $5, content_hash = $6, \
             key_mode = $7, visibility = $8, flat_msat = $9, per_mib_msat = $10, \
             metadata_keys = $11, metadata_values = $12, manifest = $13 \
         WHERE owner = $1 AND blob_id = $2"
    } else {
        "INSERT INTO blobs (owner, blob_id, name, content_type, size, content_hash, key_mode, \
             visibility, flat_msat, per_mib_msat, metadata_keys, metadata_values, manifest, \
             created_at_unix_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    };
    let params: [&(dyn ToSql + Sync); 14] = [
        &blob.owner.as_str(),
        &blob.blob_id.as_bytes().as_slice(),
        &blob.name,
        &blob.content_type,
        &U64(blob.size),
        &blob.content_hash.as_bytes().as_slice(),
        &rows::key_mode_name(blob.key_mode),
        &rows::visibility_name(blob.visibility),
        &U64(blob.price.flat_msat),
        &U64(blob.price.per_mib_msat),
        &keys,
        &values,
        &blob.manifest,
        &U64(blob.created_at_unix_ms),
    ];
    // The UPDATE keeps the stored creation time: it binds all but the last.
    let bound = if replace { &params[..13] } else { &params[..] };
    txn.execute(sql, bound).await.map_err(pg("write blob"))?;
    Ok(())
}

/// The commit transaction (validation already done by `rules::check_new_blob`).
pub(super) async fn commit(
    txn: &Transaction<'_>,
    schema: &str,
    new: NewBlob,
) -> Result<CommitOutcome, IndexError> {
    let blob = &new.blob;
    txn::lock_gc_state(txn, schema, false).await?;
    let tenant = tenants::lock(txn, &blob.owner).await?;
    let exists = txn
        .query_opt(
            "SELECT 1 FROM blobs WHERE owner = $1 AND blob_id = $2",
            &[&blob.owner.as_str(), &blob.blob_id.as_bytes().as_slice()],
        )
        .await
        .map_err(pg("read blob"))?
        .is_some();
    if exists {
        // Same owner and blob id means the same manifest, hence the same
        // size and chunks: replace the descriptive fields only, so neither
        // quota nor refcounts are counted twice.
        write(txn, blob, true).await?;
        return Ok(CommitOutcome::AlreadyExisted);
    }
    rules::check_quota(tenant.used_bytes, tenant.quota_bytes, blob.size)?;
    chunks::reference_for_commit(txn, schema, &new.chunks, new.observed_gc_epoch).await?;
    write(txn, blob, false).await?;
    // check_quota proved used + size <= quota, so this cannot overflow.
    tenants::set_used(txn, &blob.owner, tenant.used_bytes + blob.size).await?;
    Ok(CommitOutcome::Created)
}

pub(super) async fn get(
    client: &Client,
    owner: &TenantId,
    id: &ContentId,
) -> Result<Option<BlobRecord>, IndexError> {
    let sql = format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE owner = $1 AND blob_id = $2");
    let row = client
        .query_opt(&sql, &[&owner.as_str(), &id.as_bytes().as_slice()])
        .await
        .map_err(pg("read blob"))?;
    row.as_ref().map(rows::blob).transpose()
}

/// If several tenants published this id, the smallest tenant id answers.
pub(super) async fn public(
    client: &Client,
    id: &ContentId,
) -> Result<Option<BlobRecord>, IndexError> {
    let sql = format!(
        "SELECT {BLOB_COLUMNS} FROM blobs WHERE blob_id = $1 AND visibility = 'public' \
         ORDER BY owner LIMIT 1"
    );
    let row = client
        .query_opt(&sql, &[&id.as_bytes().as_slice()])
        .await
        .map_err(pg("read public blob"))?;
    row.as_ref().map(rows::blob).transpose()
}

pub(super) async fn list(
    client: &Client,
    owner: &TenantId,
    prefix: &str,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<BlobRecord>, Option<String>), IndexError> {
    let limit = rules::clamp_limit(limit);
    let resume = token.map(rules::decode_page_token).transpose()?;
    // Start strictly after the token's position if that is further on than
    // the prefix, else at the prefix ((prefix, empty) sorts before every
    // (prefix, 32-byte id)). Positions are keys, not offsets, so inserts
    // and deletes between pages neither repeat nor skip what remains.
    let (after_name, after_id): (String, Vec<u8>) = match resume {
        Some((name, id)) if name.as_str() >= prefix => (name, id.as_bytes().to_vec()),
        _ => (prefix.to_owned(), Vec::new()),
    };
    let sql = format!(
        "SELECT {BLOB_COLUMNS} FROM blobs \
         WHERE owner = $1 AND starts_with(name, $2) AND (name, blob_id) > ($3, $4) \
         ORDER BY name, blob_id LIMIT $5"
    );
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let found = client
        .query(
            &sql,
            &[&owner.as_str(), &prefix, &after_name, &after_id, &fetch],
        )
        .await
        .map_err(pg("list blobs"))?;
    let more = found.len() > limit;
    let page = found
        .iter()
        .take(limit)
        .map(rows::blob)
        .collect::<Result<Vec<_>, _>>()?;
    let next = match page.last() {
        Some(last) if more => Some(rules::encode_page_token(&last.name, &last.blob_id)),
        _ => None,
    };
    Ok((page, next))
}

pub(super) async fn update(
    txn: &Transaction<'_>,
    owner: TenantId,
    id: ContentId,
    price: Option<Price>,
    visibility: Option<Visibility>,
) -> Result<BlobRecord, IndexError> {
    // One statement: NULL parameters leave a field unchanged.
    let sql = format!(
        "UPDATE blobs SET flat_msat = coalesce($3, flat_msat), \
             per_mib_msat = coalesce($4, per_mib_msat), \
             visibility = coalesce($5, visibility) \
         WHERE owner = $1 AND blob_id = $2 RETURNING {BLOB_COLUMNS}"
    );
    let row = txn
        .query_opt(
            &sql,
            &[
                &owner.as_str(),
                &id.as_bytes().as_slice(),
                &price.map(|p| U64(p.flat_msat)),
                &price.map(|p| U64(p.per_mib_msat)),
                &visibility.map(rows::visibility_name),
            ],
        )
        .await
        .map_err(pg("update blob"))?
        .ok_or_else(|| IndexError::not_found(format!("blob {id} of tenant {owner}")))?;
    rows::blob(&row)
}

/// Removes the blob, gives its bytes back to the quota and drops one
/// reference from each distinct chunk (zero-ref chunks become GC candidates).
pub(super) async fn delete(
    txn: &Transaction<'_>,
    schema: &str,
    owner: TenantId,
    id: ContentId,
) -> Result<bool, IndexError> {
    // The tenant lock first (lock order), even though only usage changes.
    let tenant = match tenants::lock(txn, &owner).await {
        Ok(t) => t,
        Err(IndexError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let sql =
        format!("DELETE FROM blobs WHERE owner = $1 AND blob_id = $2 RETURNING {BLOB_COLUMNS}");
    let Some(row) = txn
        .query_opt(&sql, &[&owner.as_str(), &id.as_bytes().as_slice()])
        .await
        .map_err(pg("delete blob"))?
    else {
        return Ok(false);
    };
    let blob = rows::blob(&row)?;
    let chunk_ids: Vec<ContentId> = rules::manifest_chunk_ids(&blob.manifest)
        .map_err(|e| IndexError::corrupt(format!("stored manifest of blob {id}: {e}")))?
        .into_iter()
        .collect();
    chunks::unreference(txn, schema, &chunk_ids).await?;
    let used = tenant.used_bytes.checked_sub(blob.size).ok_or_else(|| {
        IndexError::corrupt(format!("tenant {owner} uses less than blob {id}'s size"))
    })?;
    tenants::set_used(txn, &owner, used).await?;
    Ok(true)
}
