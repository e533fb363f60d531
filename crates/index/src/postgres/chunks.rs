//! Chunk records, refcounts and the GC state machine (stored → zero-ref →
//! condemned → tombstone), applying `crate::gc`'s decisions under the
//! locks described in `txn.rs`.

use deadpool_postgres::tokio_postgres::{Client, GenericClient, Transaction};
use shardgate_core::ContentId;

use super::errors::{col, col_u64, pg};
use super::numeric::U64;
use super::rows::{self, CHUNK_COLUMNS};
use super::txn;
use crate::error::IndexError;
use crate::gc::{self, ChunkAction, ChunkGcView};
use crate::records::{ChunkRecord, ShardLocation, ShardUpdate};
use crate::rules;

/// (epoch, pruned_through).
async fn gc_meta(client: &(impl GenericClient + Sync)) -> Result<(u64, u64), IndexError> {
    let row = client
        .query_one("SELECT epoch, pruned_through FROM gc_meta", &[])
        .await
        .map_err(pg("read GC state"))?;
    Ok((col_u64(&row, "epoch")?, col_u64(&row, "pruned_through")?))
}

/// Increments the GC epoch (under the exclusive GC state lock).
async fn bump_epoch(txn: &Transaction<'_>) -> Result<u64, IndexError> {
    let row = txn
        .query_one("UPDATE gc_meta SET epoch = epoch + 1 RETURNING epoch", &[])
        .await
        .map_err(pg("bump GC epoch"))?;
    col_u64(&row, "epoch")
}

/// Chunk rows by id (any order), with their condemnation epochs.
async fn load_many(
    client: &(impl GenericClient + Sync),
    ids: &[ContentId],
) -> Result<Vec<(ChunkRecord, Option<u64>)>, IndexError> {
    let keys: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
    let sql = format!("SELECT {CHUNK_COLUMNS} FROM chunks WHERE chunk_id = ANY($1)");
    let found = client
        .query(&sql, &[&keys])
        .await
        .map_err(pg("read chunks"))?;
    found.iter().map(rows::chunk).collect()
}

/// One answer per id, in order.
fn in_order(
    ids: &[ContentId],
    found: Vec<(ChunkRecord, Option<u64>)>,
) -> Vec<Option<(ChunkRecord, Option<u64>)>> {
    let by_id: std::collections::HashMap<ContentId, (ChunkRecord, Option<u64>)> =
        found.into_iter().map(|c| (c.0.chunk_id, c)).collect();
    ids.iter().map(|id| by_id.get(id).cloned()).collect()
}

pub(super) async fn epoch(client: &Client) -> Result<u64, IndexError> {
    Ok(gc_meta(client).await?.0)
}

pub(super) async fn live(
    client: &Client,
    ids: &[ContentId],
) -> Result<Vec<Option<ChunkRecord>>, IndexError> {
    let found = load_many(client, ids).await?;
    Ok(in_order(ids, found)
        .into_iter()
        .map(|c| c.map(|(record, _)| record).filter(|r| r.refcount >= 1))
        .collect())
}

pub(super) async fn all_of(
    client: &Client,
    ids: &[ContentId],
) -> Result<Vec<ChunkRecord>, IndexError> {
    let found = load_many(client, ids).await?;
    ids.iter()
        .zip(in_order(ids, found))
        .map(|(id, c)| {
            c.map(|(record, _)| record)
                .ok_or_else(|| IndexError::not_found(format!("chunk {id}")))
        })
        .collect()
}

/// Writes a chunk row (insert or full replace) and keeps `provider_shards`
/// in step with its shard list (`old` = the shard list being replaced).
async fn store(
    txn: &Transaction<'_>,
    old: Option<&[ShardLocation]>,
    new: &ChunkRecord,
) -> Result<(), IndexError> {
    let id = new.chunk_id.as_bytes().as_slice();
    if let Some(old) = old {
        let providers: Vec<&str> = old.iter().map(|s| s.provider.as_str()).collect();
        txn.execute(
            "DELETE FROM provider_shards WHERE chunk_id = $1 AND provider = ANY($2)",
            &[&id, &providers],
        )
        .await
        .map_err(pg("update provider index"))?;
    }
    let (indexes, providers) = rows::shard_arrays(&new.shards);
    txn.execute(
        "INSERT INTO chunks (chunk_id, k, m, sealed_len, shard_indexes, shard_providers, \
                             wrapped_key, refcount, shards_version, condemned_epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
         ON CONFLICT (chunk_id) DO UPDATE SET k = excluded.k, m = excluded.m, \
             sealed_len = excluded.sealed_len, shard_indexes = excluded.shard_indexes, \
             shard_providers = excluded.shard_providers, wrapped_key = excluded.wrapped_key, \
             refcount = excluded.refcount, shards_version = excluded.shards_version, \
             condemned_epoch = NULL",
        &[
            &id,
            &i16::from(new.k),
            &i16::from(new.m),
            &i64::from(new.sealed_len),
            &indexes,
            &providers,
            &new.wrapped_key,
            &U64(new.refcount),
            // bigint: a version never nears i64::MAX (one per repair).
            &i64::try_from(new.shards_version).unwrap_or(i64::MAX),
        ],
    )
    .await
    .map_err(pg("write chunk"))?;
    txn.execute(
        "INSERT INTO provider_shards (provider, chunk_id) \
         SELECT DISTINCT p, $1::bytea FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING",
        &[&id, &providers],
    )
    .await
    .map_err(pg("update provider index"))?;
    Ok(())
}

async fn set_refcount(
    txn: &Transaction<'_>,
    id: &ContentId,
    refcount: u64,
) -> Result<(), IndexError> {
    txn.execute(
        "UPDATE chunks SET refcount = $2 WHERE chunk_id = $1",
        &[&id.as_bytes().as_slice(), &U64(refcount)],
    )
    .await
    .map_err(pg("update refcount"))?;
    Ok(())
}

pub(super) async fn update_shards(
    txn: &Transaction<'_>,
    schema: &str,
    id: ContentId,
    expected_version: u64,
    shards: Vec<ShardLocation>,
) -> Result<ShardUpdate, IndexError> {
    txn::lock_gc_state(txn, schema, false).await?;
    txn::lock_chunks(txn, schema, [&id]).await?;
    let (old, condemned) = load_many(txn, &[id])
        .await?
        .pop()
        .ok_or_else(|| IndexError::not_found(format!("chunk {id}")))?;
    if condemned.is_some() {
        return Err(IndexError::conflict(format!(
            "chunk {id} is being garbage collected"
        )));
    }
    rules::check_shards(&id, old.k, old.m, &shards)?;
    // The chunk row is locked: no other repair can change it between this
    // compare and the write.
    if old.shards_version != expected_version {
        return Ok(ShardUpdate::Changed(old));
    }
    let new = ChunkRecord {
        shards,
        shards_version: old.shards_version + 1,
        ..old.clone()
    };
    store(txn, Some(&old.shards), &new).await?;
    Ok(ShardUpdate::Updated(new))
}

/// The chunk half of a commit: GC safety check and one reference per
/// distinct chunk. The caller holds the shared GC state lock and the
/// tenant lock; this takes the chunk locks.
pub(super) async fn reference_for_commit(
    txn: &Transaction<'_>,
    schema: &str,
    given: &[ChunkRecord],
    observed_gc_epoch: u64,
) -> Result<(), IndexError> {
    let (epoch, pruned_through) = gc_meta(txn).await?;
    gc::check_observed_epoch(observed_gc_epoch, epoch, pruned_through)?;
    txn::lock_chunks(txn, schema, given.iter().map(|c| &c.chunk_id)).await?;
    let ids: Vec<ContentId> = given.iter().map(|c| c.chunk_id).collect();
    let stored = in_order(&ids, load_many(txn, &ids).await?);
    let tombstones = tombstones_of(txn, &ids).await?;
    for (chunk, stored) in given.iter().zip(stored) {
        let (record, condemned_at) = match stored {
            Some((record, condemned)) => (Some(record), condemned),
            None => (None, None),
        };
        let view = ChunkGcView {
            stored: record.as_ref(),
            condemned_at,
            tombstone: tombstones.get(&chunk.chunk_id).copied(),
        };
        match (gc::decide(view, chunk, observed_gc_epoch)?, record) {
            (ChunkAction::Bump, Some(stored)) => {
                let refcount = stored
                    .refcount
                    .checked_add(1)
                    .ok_or_else(|| IndexError::corrupt("refcount overflow"))?;
                set_refcount(txn, &chunk.chunk_id, refcount).await?;
            }
            (ChunkAction::Revive, Some(_)) => set_refcount(txn, &chunk.chunk_id, 1).await?,
            (ChunkAction::Insert, old) => {
                // New locations for a record a repair may have read: a
                // later version, so that repair's plan cannot land.
                let new = ChunkRecord {
                    refcount: 1,
                    shards_version: old.as_ref().map_or(0, |o| o.shards_version + 1),
                    ..chunk.clone()
                };
                store(txn, old.as_ref().map(|o| o.shards.as_slice()), &new).await?;
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

/// Finish epochs of the tombstones among `ids`.
async fn tombstones_of(
    txn: &Transaction<'_>,
    ids: &[ContentId],
) -> Result<std::collections::HashMap<ContentId, u64>, IndexError> {
    let keys: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
    let found = txn
        .query(
            "SELECT chunk_id, finish_epoch FROM tombstones WHERE chunk_id = ANY($1)",
            &[&keys],
        )
        .await
        .map_err(pg("read tombstones"))?;
    found
        .iter()
        .map(|row| {
            Ok((
                ContentId::from_bytes(super::errors::col_id(row, "chunk_id")?),
                col_u64(row, "finish_epoch")?,
            ))
        })
        .collect()
}

/// Drops one reference from each chunk (the caller holds the tenant
/// lock); zero-ref chunks become GC candidates.
pub(super) async fn unreference(
    txn: &Transaction<'_>,
    schema: &str,
    ids: &[ContentId],
) -> Result<(), IndexError> {
    txn::lock_chunks(txn, schema, ids).await?;
    let stored = in_order(ids, load_many(txn, ids).await?);
    for (id, stored) in ids.iter().zip(stored) {
        let (chunk, _) = stored
            .ok_or_else(|| IndexError::corrupt(format!("blob references missing chunk {id}")))?;
        let refcount = chunk
            .refcount
            .checked_sub(1)
            .ok_or_else(|| IndexError::corrupt(format!("chunk {id} refcount below zero")))?;
        set_refcount(txn, id, refcount).await?;
    }
    Ok(())
}

/// Bumps the epoch; returns chunks still condemned from an earlier pass,
/// then condemns zero-ref chunks up to `limit` in total. The caller holds
/// the GC lease.
pub(super) async fn condemn(
    txn: &Transaction<'_>,
    schema: &str,
    limit: usize,
) -> Result<Vec<ChunkRecord>, IndexError> {
    let limit = rules::clamp_limit(limit) as i64;
    txn::lock_gc_state(txn, schema, true).await?;
    let epoch = bump_epoch(txn).await?;
    let pending_sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM chunks WHERE condemned_epoch IS NOT NULL \
         ORDER BY chunk_id LIMIT $1"
    );
    let pending = txn
        .query(&pending_sql, &[&limit])
        .await
        .map_err(pg("read condemned chunks"))?;
    let mut out = pending
        .iter()
        .map(|r| rows::chunk(r).map(|(c, _)| c))
        .collect::<Result<Vec<_>, _>>()?;
    let room = limit - out.len() as i64;
    if room > 0 {
        // Zero-ref rows cannot change under us: commits (which revive)
        // wait for the GC state lock, and deletes only touch referenced
        // chunks. The sort is applied after the UPDATE's RETURNING.
        let sql = format!(
            "WITH doomed AS ( \
                 UPDATE chunks SET condemned_epoch = $1 WHERE chunk_id IN ( \
                     SELECT chunk_id FROM chunks \
                     WHERE refcount = 0 AND condemned_epoch IS NULL \
                     ORDER BY chunk_id LIMIT $2) \
                 RETURNING {CHUNK_COLUMNS}) \
             SELECT * FROM doomed ORDER BY chunk_id"
        );
        let doomed = txn
            .query(&sql, &[&U64(epoch), &room])
            .await
            .map_err(pg("condemn chunks"))?;
        for row in &doomed {
            out.push(rows::chunk(row)?.0);
        }
    }
    Ok(out)
}

/// Removes finished chunks, leaving tombstones at a fresh epoch. Returns
/// whether condemned chunks remain (the pass is not over). The caller
/// holds the GC lease.
pub(super) async fn finish(
    txn: &Transaction<'_>,
    schema: &str,
    ids: &[ContentId],
    now_ms: u64,
) -> Result<bool, IndexError> {
    txn::lock_gc_state(txn, schema, true).await?;
    let epoch = bump_epoch(txn).await?;
    let keys: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
    // Ids that are not condemned (finished already, or never) are skipped.
    txn.execute(
        "WITH gone AS ( \
             DELETE FROM chunks WHERE chunk_id = ANY($1) AND condemned_epoch IS NOT NULL \
             RETURNING chunk_id), \
         unindexed AS ( \
             DELETE FROM provider_shards WHERE chunk_id IN (SELECT chunk_id FROM gone)) \
         INSERT INTO tombstones (chunk_id, finish_epoch, finished_at_unix_ms) \
         SELECT chunk_id, $2, $3 FROM gone \
         ON CONFLICT (chunk_id) DO UPDATE \
             SET finish_epoch = excluded.finish_epoch, \
                 finished_at_unix_ms = excluded.finished_at_unix_ms",
        &[&keys, &U64(epoch), &U64(now_ms)],
    )
    .await
    .map_err(pg("finish GC"))?;
    let row = txn
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM chunks WHERE condemned_epoch IS NOT NULL) AS pending",
            &[],
        )
        .await
        .map_err(pg("finish GC"))?;
    col(&row, "pending")
}

/// Forgets tombstones finished before `cutoff_ms`, oldest epoch first,
/// stopping at the first young one (so the pruned set is a prefix of
/// epochs even if the clock stepped back), and records the newest
/// forgotten epoch (rule 5 in `crate::gc`).
pub(super) async fn prune_tombstones(
    txn: &Transaction<'_>,
    schema: &str,
    cutoff_ms: u64,
) -> Result<u64, IndexError> {
    txn::lock_gc_state(txn, schema, true).await?;
    let row = txn
        .query_one(
            "WITH first_young AS ( \
                 SELECT finish_epoch, chunk_id FROM tombstones \
                 WHERE finished_at_unix_ms >= $1 \
                 ORDER BY finish_epoch, chunk_id LIMIT 1), \
             gone AS ( \
                 DELETE FROM tombstones t \
                 WHERE NOT EXISTS (SELECT 1 FROM first_young) \
                    OR (t.finish_epoch, t.chunk_id) < (SELECT finish_epoch, chunk_id FROM first_young) \
                 RETURNING t.finish_epoch), \
             meta AS ( \
                 UPDATE gc_meta \
                 SET pruned_through = GREATEST(pruned_through, (SELECT max(finish_epoch) FROM gone)) \
                 RETURNING pruned_through) \
             SELECT (SELECT count(*) FROM gone) AS removed, (SELECT pruned_through FROM meta) AS through",
            &[&U64(cutoff_ms)],
        )
        .await
        .map_err(pg("prune tombstones"))?;
    let removed: i64 = col(&row, "removed")?;
    u64::try_from(removed).map_err(|_| IndexError::corrupt("negative tombstone count"))
}
