//! Blob records with their by-name and public secondary indexes, and the
//! commit/delete transactions that also move chunk refcounts and quota.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use shardgate_core::ContentId;

use super::chunks;
use super::shares;
use super::tables::{BLOBS, BLOBS_BY_NAME, PUBLIC_BLOBS, TENANTS};
use super::tenants;
use crate::codec::{decode_blob, encode_blob};
use crate::error::IndexError;
use crate::records::{BlobRecord, CommitOutcome, NewBlob, Price, TenantId, Visibility};
use crate::rules;

type ByName<'t> = Table<'t, (&'static str, &'static str, [u8; 32]), ()>;
type Public<'t> = Table<'t, ([u8; 32], &'static str), ()>;

fn load(
    table: &impl ReadableTable<(&'static str, [u8; 32]), &'static [u8]>,
    owner: &TenantId,
    id: &ContentId,
) -> Result<Option<BlobRecord>, IndexError> {
    match table.get((owner.as_str(), *id.as_bytes()))? {
        Some(bytes) => decode_blob(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Adds the secondary index entries of `blob`.
fn index(
    blob: &BlobRecord,
    by_name: &mut ByName<'_>,
    public: &mut Public<'_>,
) -> Result<(), IndexError> {
    let (owner, id) = (blob.owner.as_str(), *blob.blob_id.as_bytes());
    by_name.insert((owner, blob.name.as_str(), id), ())?;
    if blob.visibility == Visibility::Public {
        public.insert((id, owner), ())?;
    }
    Ok(())
}

/// Removes the secondary index entries of `blob`.
fn unindex(
    blob: &BlobRecord,
    by_name: &mut ByName<'_>,
    public: &mut Public<'_>,
) -> Result<(), IndexError> {
    let (owner, id) = (blob.owner.as_str(), *blob.blob_id.as_bytes());
    by_name.remove((owner, blob.name.as_str(), id))?;
    public.remove((id, owner))?;
    Ok(())
}

/// The commit transaction (validation already done by `rules::check_new_blob`).
pub(super) fn commit(txn: &WriteTransaction, new: &NewBlob) -> Result<CommitOutcome, IndexError> {
    let blob = &new.blob;
    let mut tenants_t = txn.open_table(TENANTS)?;
    let mut tenant = tenants::load_existing(&tenants_t, &blob.owner)?;
    let mut blobs = txn.open_table(BLOBS)?;
    let mut by_name = txn.open_table(BLOBS_BY_NAME)?;
    let mut public = txn.open_table(PUBLIC_BLOBS)?;
    let key = (blob.owner.as_str(), *blob.blob_id.as_bytes());

    if let Some(old) = load(&blobs, &blob.owner, &blob.blob_id)? {
        // Same owner and blob id means the same manifest, hence the same
        // size and chunks: replace the descriptive fields only, so neither
        // quota nor refcounts are counted twice.
        unindex(&old, &mut by_name, &mut public)?;
        let replaced = BlobRecord {
            created_at_unix_ms: old.created_at_unix_ms,
            ..blob.clone()
        };
        blobs.insert(key, encode_blob(&replaced).as_slice())?;
        index(&replaced, &mut by_name, &mut public)?;
        return Ok(CommitOutcome::AlreadyExisted);
    }

    rules::check_quota(tenant.used_bytes, tenant.quota_bytes, blob.size)?;
    chunks::reference_for_commit(txn, &new.chunks, new.observed_gc_epoch)?;
    blobs.insert(key, encode_blob(blob).as_slice())?;
    index(blob, &mut by_name, &mut public)?;
    // check_quota proved used + size <= quota, so this cannot overflow.
    tenant.used_bytes += blob.size;
    tenants::store(&mut tenants_t, &tenant)?;
    Ok(CommitOutcome::Created)
}

pub(super) fn get(
    txn: &ReadTransaction,
    owner: &TenantId,
    id: &ContentId,
) -> Result<Option<BlobRecord>, IndexError> {
    load(&txn.open_table(BLOBS)?, owner, id)
}

pub(super) fn public(
    txn: &ReadTransaction,
    id: &ContentId,
) -> Result<Option<BlobRecord>, IndexError> {
    let public = txn.open_table(PUBLIC_BLOBS)?;
    let id_bytes = *id.as_bytes();
    // Entries are ordered by (blob id, owner): the first one at or after
    // (id, "") is the smallest owner that published this id, if any.
    let first = public.range((id_bytes, "")..)?.next().transpose()?;
    let Some((entry, _)) = first else {
        return Ok(None);
    };
    let (found_id, owner) = entry.value();
    if found_id != id_bytes {
        return Ok(None);
    }
    let owner =
        TenantId::new(owner).map_err(|e| IndexError::corrupt(format!("public blob index: {e}")))?;
    let blob = load(&txn.open_table(BLOBS)?, &owner, id)?
        .ok_or_else(|| IndexError::corrupt(format!("public index names missing blob {id}")))?;
    Ok(Some(blob))
}

pub(super) fn list(
    txn: &ReadTransaction,
    owner: &TenantId,
    prefix: &str,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<BlobRecord>, Option<String>), IndexError> {
    let limit = rules::clamp_limit(limit);
    let resume = token.map(rules::decode_page_token).transpose()?;
    let owner_s = owner.as_str();
    // Start at the prefix, or right after the token's position if that is
    // further on. Positions are keys, not offsets, so inserts and deletes
    // between pages neither repeat nor skip the records that remain.
    let start = match &resume {
        Some((name, id)) if name.as_str() >= prefix => {
            Bound::Excluded((owner_s, name.as_str(), *id.as_bytes()))
        }
        _ => Bound::Included((owner_s, prefix, [0u8; 32])),
    };
    let by_name = txn.open_table(BLOBS_BY_NAME)?;
    let blobs = txn.open_table(BLOBS)?;
    let mut page = Vec::new();
    let mut more = false;
    for entry in by_name.range::<(&str, &str, [u8; 32])>((start, Bound::Unbounded))? {
        let (key, _) = entry?;
        let (entry_owner, name, id) = key.value();
        if entry_owner != owner_s || !name.starts_with(prefix) {
            // Sorted by (owner, name): the first name past the prefix range
            // ends it.
            break;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        let id = ContentId::from_bytes(id);
        let blob = load(&blobs, owner, &id)?
            .ok_or_else(|| IndexError::corrupt(format!("name index names missing blob {id}")))?;
        page.push(blob);
    }
    let next = match page.last() {
        Some(last) if more => Some(rules::encode_page_token(&last.name, &last.blob_id)),
        _ => None,
    };
    Ok((page, next))
}

pub(super) fn update(
    txn: &WriteTransaction,
    owner: &TenantId,
    id: &ContentId,
    price: Option<Price>,
    visibility: Option<Visibility>,
) -> Result<BlobRecord, IndexError> {
    let mut blobs = txn.open_table(BLOBS)?;
    let mut by_name = txn.open_table(BLOBS_BY_NAME)?;
    let mut public = txn.open_table(PUBLIC_BLOBS)?;
    let mut blob = load(&blobs, owner, id)?
        .ok_or_else(|| IndexError::not_found(format!("blob {id} of tenant {owner}")))?;
    unindex(&blob, &mut by_name, &mut public)?;
    if let Some(price) = price {
        blob.price = price;
    }
    if let Some(visibility) = visibility {
        blob.visibility = visibility;
    }
    blobs.insert(
        (owner.as_str(), *id.as_bytes()),
        encode_blob(&blob).as_slice(),
    )?;
    index(&blob, &mut by_name, &mut public)?;
    Ok(blob)
}

/// Removes the blob and its shares, gives its bytes back to the quota and
/// drops one reference from each distinct chunk (zero-ref chunks become GC
/// candidates).
pub(super) fn delete(
    txn: &WriteTransaction,
    owner: &TenantId,
    id: &ContentId,
) -> Result<bool, IndexError> {
    let mut blobs = txn.open_table(BLOBS)?;
    let Some(blob) = load(&blobs, owner, id)? else {
        return Ok(false);
    };
    let mut by_name = txn.open_table(BLOBS_BY_NAME)?;
    let mut public = txn.open_table(PUBLIC_BLOBS)?;
    unindex(&blob, &mut by_name, &mut public)?;
    blobs.remove((owner.as_str(), *id.as_bytes()))?;
    shares::delete_of_blob(txn, owner, id)?;

    let chunk_ids = rules::manifest_chunk_ids(&blob.manifest)
        .map_err(|e| IndexError::corrupt(format!("stored manifest of blob {id}: {e}")))?;
    chunks::unreference(txn, chunk_ids.iter())?;

    let mut tenants_t = txn.open_table(TENANTS)?;
    let mut tenant = tenants::load_existing(&tenants_t, owner)?;
    tenant.used_bytes = tenant.used_bytes.checked_sub(blob.size).ok_or_else(|| {
        IndexError::corrupt(format!("tenant {owner} uses less than blob {id}'s size"))
    })?;
    tenants::store(&mut tenants_t, &tenant)?;
    Ok(true)
}
