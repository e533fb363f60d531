//! Share records with their by-owner and by-blob indexes. Every change is
//! one write transaction (redb serializes writers, so two concurrent
//! `take_share_download` calls never both take the last download); a blob's
//! shares are removed in the transaction that deletes the blob.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use shardgate_core::ContentId;

use super::tables::{BLOBS, SHARES, SHARES_BY_BLOB, SHARES_BY_OWNER, ShareKey};
use crate::codec::{decode_share, encode_share};
use crate::error::IndexError;
use crate::records::TenantId;
use crate::rules;
use crate::share_rules;
use crate::shares::{SHARE_ID_LEN, ShareId, ShareRecord};

/// Sorts before every other share id: the inclusive start of a key range.
const FIRST_SHARE_KEY: ShareKey = [0; SHARE_ID_LEN];
/// Sorts after every other share id: the inclusive end of a key range.
const LAST_SHARE_KEY: ShareKey = [0xff; SHARE_ID_LEN];

fn load(
    table: &impl ReadableTable<ShareKey, &'static [u8]>,
    id: &ShareId,
) -> Result<Option<ShareRecord>, IndexError> {
    match table.get(id.0)? {
        Some(bytes) => decode_share(bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn not_found(id: &ShareId) -> IndexError {
    IndexError::not_found(format!("share {id}"))
}

/// Validation already done by `share_rules::check_new_share`.
pub(super) fn create(txn: &WriteTransaction, share: &ShareRecord) -> Result<(), IndexError> {
    let (owner, blob) = (share.owner.as_str(), *share.blob_id.as_bytes());
    if txn.open_table(BLOBS)?.get((owner, blob))?.is_none() {
        return Err(IndexError::not_found(format!(
            "blob {} of tenant {}",
            share.blob_id, share.owner
        )));
    }
    let mut shares = txn.open_table(SHARES)?;
    let id = share.share_id.0;
    if shares.get(id)?.is_some() {
        return Err(IndexError::already_exists(format!(
            "share {}",
            share.share_id
        )));
    }
    shares.insert(id, encode_share(share).as_slice())?;
    txn.open_table(SHARES_BY_OWNER)?.insert((owner, id), ())?;
    txn.open_table(SHARES_BY_BLOB)?
        .insert((owner, blob, id), ())?;
    Ok(())
}

pub(super) fn get(txn: &ReadTransaction, id: &ShareId) -> Result<Option<ShareRecord>, IndexError> {
    load(&txn.open_table(SHARES)?, id)
}

pub(super) fn list(
    txn: &ReadTransaction,
    owner: &TenantId,
    blob: Option<&ContentId>,
    after: Option<&ShareId>,
    limit: usize,
) -> Result<Vec<ShareRecord>, IndexError> {
    let limit = rules::clamp_limit(limit);
    let owner_s = owner.as_str();
    let mut ids = Vec::new();
    // Both indexes hold each key range in share id order; the range ends
    // at the last possible share id of this owner (and blob).
    if let Some(blob) = blob {
        let blob = *blob.as_bytes();
        let start = match after {
            Some(after) => Bound::Excluded((owner_s, blob, after.0)),
            None => Bound::Included((owner_s, blob, FIRST_SHARE_KEY)),
        };
        let end = Bound::Included((owner_s, blob, LAST_SHARE_KEY));
        let by_blob = txn.open_table(SHARES_BY_BLOB)?;
        for entry in by_blob
            .range::<(&str, [u8; 32], ShareKey)>((start, end))?
            .take(limit)
        {
            ids.push(entry?.0.value().2);
        }
    } else {
        let start = match after {
            Some(after) => Bound::Excluded((owner_s, after.0)),
            None => Bound::Included((owner_s, FIRST_SHARE_KEY)),
        };
        let end = Bound::Included((owner_s, LAST_SHARE_KEY));
        let by_owner = txn.open_table(SHARES_BY_OWNER)?;
        for entry in by_owner
            .range::<(&str, ShareKey)>((start, end))?
            .take(limit)
        {
            ids.push(entry?.0.value().1);
        }
    }
    let shares = txn.open_table(SHARES)?;
    ids.into_iter()
        .map(|id| {
            let id = ShareId(id);
            load(&shares, &id)?
                .ok_or_else(|| IndexError::corrupt(format!("share index names missing share {id}")))
        })
        .collect()
}

/// Loads the share (`NotFound`), applies `change` and stores the record if
/// `change` says it changed. Returns the record after the change.
fn update(
    txn: &WriteTransaction,
    id: &ShareId,
    change: impl FnOnce(&mut ShareRecord) -> Result<bool, IndexError>,
) -> Result<ShareRecord, IndexError> {
    let mut shares = txn.open_table(SHARES)?;
    let mut share = load(&shares, id)?.ok_or_else(|| not_found(id))?;
    if change(&mut share)? {
        shares.insert(id.0, encode_share(&share).as_slice())?;
    }
    Ok(share)
}

pub(super) fn revoke(
    txn: &WriteTransaction,
    owner: &TenantId,
    id: &ShareId,
    now_unix_ms: u64,
) -> Result<Option<ShareRecord>, IndexError> {
    let mut shares = txn.open_table(SHARES)?;
    // Another owner's share is answered like a missing one.
    let Some(mut share) = load(&shares, id)?.filter(|s| s.owner == *owner) else {
        return Ok(None);
    };
    if share_rules::revoke(&mut share, now_unix_ms) {
        shares.insert(id.0, encode_share(&share).as_slice())?;
    }
    Ok(Some(share))
}

pub(super) fn take_download(
    txn: &WriteTransaction,
    id: &ShareId,
    now_unix_ms: u64,
) -> Result<ShareRecord, IndexError> {
    update(txn, id, |share| {
        share_rules::take_download(share, now_unix_ms).map(|()| true)
    })
}

pub(super) fn return_download(txn: &WriteTransaction, id: &ShareId) -> Result<(), IndexError> {
    update(txn, id, |share| Ok(share_rules::return_download(share))).map(|_| ())
}

/// Removes every share of the owner's blob `blob` (part of deleting it).
pub(super) fn delete_of_blob(
    txn: &WriteTransaction,
    owner: &TenantId,
    blob: &ContentId,
) -> Result<(), IndexError> {
    let (owner_s, blob) = (owner.as_str(), *blob.as_bytes());
    let mut by_blob = txn.open_table(SHARES_BY_BLOB)?;
    let range = (owner_s, blob, FIRST_SHARE_KEY)..=(owner_s, blob, LAST_SHARE_KEY);
    let mut ids = Vec::new();
    for entry in by_blob.range(range)? {
        ids.push(entry?.0.value().2);
    }
    let mut shares = txn.open_table(SHARES)?;
    let mut by_owner = txn.open_table(SHARES_BY_OWNER)?;
    for id in ids {
        shares.remove(id)?;
        by_owner.remove((owner_s, id))?;
        by_blob.remove((owner_s, blob, id))?;
    }
    Ok(())
}

/// Removes every share of `owner` (part of deleting the tenant). redb has
/// no foreign keys, so this keeps "no share without its owner" even if a
/// share outlived its blob through some earlier bug.
pub(super) fn delete_of_owner(txn: &WriteTransaction, owner: &TenantId) -> Result<(), IndexError> {
    let owner_s = owner.as_str();
    let mut by_owner = txn.open_table(SHARES_BY_OWNER)?;
    let range = (owner_s, FIRST_SHARE_KEY)..=(owner_s, LAST_SHARE_KEY);
    let mut ids = Vec::new();
    for entry in by_owner.range(range)? {
        ids.push(ShareId(entry?.0.value().1));
    }
    let mut shares = txn.open_table(SHARES)?;
    let mut by_blob = txn.open_table(SHARES_BY_BLOB)?;
    for id in ids {
        if let Some(share) = load(&shares, &id)? {
            by_blob.remove((owner_s, *share.blob_id.as_bytes(), id.0))?;
        }
        shares.remove(id.0)?;
        by_owner.remove((owner_s, id.0))?;
    }
    Ok(())
}
