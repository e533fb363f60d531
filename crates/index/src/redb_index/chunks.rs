//! Chunk records, refcounts and the GC state machine
//! (stored → zero-ref → condemned → tombstone). The safety argument is in
//! `crate::gc`; this file applies its decisions inside one transaction.

use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};
use shardgate_core::ContentId;

use super::tables::{
    CHUNKS, CONDEMNED, GC_EPOCH, GC_META, GC_PRUNED_THROUGH, PROVIDER_SHARDS, TOMBSTONES,
    TOMBSTONES_BY_EPOCH, ZERO_REF,
};
use crate::codec::{decode_chunk, encode_chunk};
use crate::error::IndexError;
use crate::gc::{self, ChunkAction, ChunkGcView};
use crate::records::{ChunkRecord, ShardLocation, ShardUpdate};
use crate::rules;

type Chunks<'t> = Table<'t, [u8; 32], &'static [u8]>;

fn load(
    table: &impl ReadableTable<[u8; 32], &'static [u8]>,
    id: &ContentId,
) -> Result<Option<ChunkRecord>, IndexError> {
    match table.get(id.as_bytes())? {
        Some(bytes) => decode_chunk(bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn meta(table: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64, IndexError> {
    Ok(table.get(key)?.map(|g| g.value()).unwrap_or(0))
}

/// Increments the GC epoch and returns the new value.
fn bump_epoch(txn: &WriteTransaction) -> Result<u64, IndexError> {
    let mut gc_meta = txn.open_table(GC_META)?;
    let next = meta(&gc_meta, GC_EPOCH)?
        .checked_add(1)
        .ok_or_else(|| IndexError::corrupt("GC epoch overflow"))?;
    gc_meta.insert(GC_EPOCH, next)?;
    Ok(next)
}

/// Stores a chunk record and keeps `provider_shards` in step with its
/// shard list (`old` is the record being replaced, if any).
fn store(
    txn: &WriteTransaction,
    chunks: &mut Chunks<'_>,
    old: Option<&ChunkRecord>,
    new: &ChunkRecord,
) -> Result<(), IndexError> {
    let mut by_provider = txn.open_table(PROVIDER_SHARDS)?;
    let id = *new.chunk_id.as_bytes();
    for shard in old.map(|c| c.shards.as_slice()).unwrap_or_default() {
        by_provider.remove((shard.provider.as_str(), id))?;
    }
    for shard in &new.shards {
        by_provider.insert((shard.provider.as_str(), id), ())?;
    }
    chunks.insert(id, encode_chunk(new).as_slice())?;
    Ok(())
}

pub(super) fn epoch(txn: &ReadTransaction) -> Result<u64, IndexError> {
    meta(&txn.open_table(GC_META)?, GC_EPOCH)
}

pub(super) fn live(
    txn: &ReadTransaction,
    ids: &[ContentId],
) -> Result<Vec<Option<ChunkRecord>>, IndexError> {
    let chunks = txn.open_table(CHUNKS)?;
    ids.iter()
        .map(|id| Ok(load(&chunks, id)?.filter(|c| c.refcount >= 1)))
        .collect()
}

pub(super) fn all_of(
    txn: &ReadTransaction,
    ids: &[ContentId],
) -> Result<Vec<ChunkRecord>, IndexError> {
    let chunks = txn.open_table(CHUNKS)?;
    ids.iter()
        .map(|id| load(&chunks, id)?.ok_or_else(|| IndexError::not_found(format!("chunk {id}"))))
        .collect()
}

pub(super) fn update_shards(
    txn: &WriteTransaction,
    id: &ContentId,
    expected_version: u64,
    shards: Vec<ShardLocation>,
) -> Result<ShardUpdate, IndexError> {
    let mut chunks = txn.open_table(CHUNKS)?;
    let old = load(&chunks, id)?.ok_or_else(|| IndexError::not_found(format!("chunk {id}")))?;
    if txn.open_table(CONDEMNED)?.get(id.as_bytes())?.is_some() {
        return Err(IndexError::conflict(format!(
            "chunk {id} is being garbage collected"
        )));
    }
    rules::check_shards(id, old.k, old.m, &shards)?;
    if old.shards_version != expected_version {
        return Ok(ShardUpdate::Changed(old));
    }
    let new = ChunkRecord {
        shards,
        shards_version: old.shards_version + 1,
        ..old.clone()
    };
    store(txn, &mut chunks, Some(&old), &new)?;
    Ok(ShardUpdate::Updated(new))
}

/// The chunk half of a commit: GC safety check and one reference per
/// distinct chunk (see `crate::gc` for the rule and why it is safe).
pub(super) fn reference_for_commit(
    txn: &WriteTransaction,
    given: &[ChunkRecord],
    observed_gc_epoch: u64,
) -> Result<(), IndexError> {
    let gc_meta = txn.open_table(GC_META)?;
    gc::check_observed_epoch(
        observed_gc_epoch,
        meta(&gc_meta, GC_EPOCH)?,
        meta(&gc_meta, GC_PRUNED_THROUGH)?,
    )?;
    let mut chunks = txn.open_table(CHUNKS)?;
    let mut zero_ref = txn.open_table(ZERO_REF)?;
    let condemned = txn.open_table(CONDEMNED)?;
    let tombstones = txn.open_table(TOMBSTONES)?;
    for chunk in given {
        let id = chunk.chunk_id.as_bytes();
        let stored = load(&chunks, &chunk.chunk_id)?;
        let view = ChunkGcView {
            stored: stored.as_ref(),
            condemned_at: condemned.get(id)?.map(|g| g.value()),
            tombstone: tombstones.get(id)?.map(|g| g.value().0),
        };
        match (gc::decide(view, chunk, observed_gc_epoch)?, stored) {
            (ChunkAction::Bump, Some(mut stored)) => {
                stored.refcount = stored
                    .refcount
                    .checked_add(1)
                    .ok_or_else(|| IndexError::corrupt("refcount overflow"))?;
                chunks.insert(id, encode_chunk(&stored).as_slice())?;
            }
            (ChunkAction::Revive, Some(mut stored)) => {
                stored.refcount = 1;
                zero_ref.remove(id)?;
                chunks.insert(id, encode_chunk(&stored).as_slice())?;
            }
            (ChunkAction::Insert, old) => {
                zero_ref.remove(id)?;
                // New locations for a record a repair may have read: a
                // later version, so that repair's plan cannot land.
                let new = ChunkRecord {
                    refcount: 1,
                    shards_version: old.as_ref().map_or(0, |o| o.shards_version + 1),
                    ..chunk.clone()
                };
                store(txn, &mut chunks, old.as_ref(), &new)?;
            }
            (action, None) => {
                return Err(IndexError::corrupt(format!(
                    "GC rule chose {action:?} for chunk {} without a record",
                    chunk.chunk_id
                )));
            }
        }
    }
    Ok(())
}

/// Drops one reference from each chunk; zero-ref chunks become GC
/// candidates.
pub(super) fn unreference<'a>(
    txn: &WriteTransaction,
    ids: impl Iterator<Item = &'a ContentId>,
) -> Result<(), IndexError> {
    let mut chunks = txn.open_table(CHUNKS)?;
    let mut zero_ref = txn.open_table(ZERO_REF)?;
    for id in ids {
        let mut chunk = load(&chunks, id)?
            .ok_or_else(|| IndexError::corrupt(format!("blob references missing chunk {id}")))?;
        chunk.refcount = chunk
            .refcount
            .checked_sub(1)
            .ok_or_else(|| IndexError::corrupt(format!("chunk {id} refcount below zero")))?;
        if chunk.refcount == 0 {
            zero_ref.insert(id.as_bytes(), ())?;
        }
        chunks.insert(id.as_bytes(), encode_chunk(&chunk).as_slice())?;
    }
    Ok(())
}

/// Bumps the epoch; returns chunks still condemned from an earlier pass,
/// then condemns zero-ref chunks up to `limit` in total.
pub(super) fn condemn(
    txn: &WriteTransaction,
    limit: usize,
) -> Result<Vec<ChunkRecord>, IndexError> {
    let limit = rules::clamp_limit(limit);
    let epoch = bump_epoch(txn)?;
    let chunks = txn.open_table(CHUNKS)?;
    let mut condemned = txn.open_table(CONDEMNED)?;
    let mut zero_ref = txn.open_table(ZERO_REF)?;
    let mut out = Vec::new();
    for entry in condemned.iter()?.take(limit) {
        let (id, _) = entry?;
        out.push(load_condemned(&chunks, id.value())?);
    }
    while out.len() < limit {
        let Some((id, _)) = zero_ref.pop_first()? else {
            break;
        };
        let id = id.value();
        let chunk = load_condemned(&chunks, id)?;
        if chunk.refcount != 0 {
            return Err(IndexError::corrupt(format!(
                "GC candidate {} has refcount {}",
                chunk.chunk_id, chunk.refcount
            )));
        }
        condemned.insert(id, epoch)?;
        out.push(chunk);
    }
    Ok(out)
}

fn load_condemned(
    chunks: &impl ReadableTable<[u8; 32], &'static [u8]>,
    id: [u8; 32],
) -> Result<ChunkRecord, IndexError> {
    let id = ContentId::from_bytes(id);
    load(chunks, &id)?
        .ok_or_else(|| IndexError::corrupt(format!("GC state names missing chunk {id}")))
}

/// Removes finished chunks, leaving tombstones at a fresh epoch.
pub(super) fn finish(
    txn: &WriteTransaction,
    ids: &[ContentId],
    now_ms: u64,
) -> Result<(), IndexError> {
    let epoch = bump_epoch(txn)?;
    let mut chunks = txn.open_table(CHUNKS)?;
    let mut condemned = txn.open_table(CONDEMNED)?;
    let mut tombstones = txn.open_table(TOMBSTONES)?;
    let mut by_epoch = txn.open_table(TOMBSTONES_BY_EPOCH)?;
    let mut by_provider = txn.open_table(PROVIDER_SHARDS)?;
    for id in ids {
        let key = *id.as_bytes();
        if condemned.remove(key)?.is_none() {
            continue; // not condemned (already finished, or never): skip
        }
        let chunk = load_condemned(&chunks, key)?;
        for shard in &chunk.shards {
            by_provider.remove((shard.provider.as_str(), key))?;
        }
        chunks.remove(key)?;
        let previous = tombstones
            .insert(key, (epoch, now_ms))?
            .map(|g| g.value().0);
        if let Some(previous) = previous {
            by_epoch.remove((previous, key))?;
        }
        by_epoch.insert((epoch, key), now_ms)?;
    }
    Ok(())
}

/// Forgets tombstones finished before `cutoff_ms`, oldest epoch first, and
/// records the newest forgotten epoch (rule 5 in `crate::gc`).
pub(super) fn prune_tombstones(txn: &WriteTransaction, cutoff_ms: u64) -> Result<u64, IndexError> {
    let mut tombstones = txn.open_table(TOMBSTONES)?;
    let mut by_epoch = txn.open_table(TOMBSTONES_BY_EPOCH)?;
    let mut gc_meta = txn.open_table(GC_META)?;
    let mut pruned_through = meta(&gc_meta, GC_PRUNED_THROUGH)?;
    let mut removed = 0u64;
    loop {
        let Some((key, finished_ms)) = by_epoch.first()?.map(|(k, v)| (k.value(), v.value()))
        else {
            break;
        };
        // Epochs grow with time; stopping at the first young one keeps the
        // pruned set a prefix of epochs even if the clock stepped back.
        if finished_ms >= cutoff_ms {
            break;
        }
        let (epoch, id) = key;
        by_epoch.remove((epoch, id))?;
        tombstones.remove(id)?;
        pruned_through = pruned_through.max(epoch);
        removed += 1;
    }
    gc_meta.insert(GC_PRUNED_THROUGH, pruned_through)?;
    Ok(removed)
}
