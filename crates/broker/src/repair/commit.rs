//! Carrying out a plan: write the re-created shards, point the index at
//! them, then delete the copies they replace.
//!
//! Order is what keeps data safe:
//! 1. new shard objects are written (and acknowledged) first;
//! 2. `update_chunk_shards` switches the record in one transaction — only
//!    if the record is still at the version the plan was made from (a
//!    compare-and-set in the index, so repair may run on every replica);
//! 3. only then are replaced copies deleted (never one the index lists).
//!
//! The compare is on the record's `shards_version`, not its list: a shard
//! rewritten in place (missing or corrupt on a healthy provider) leaves the
//! list as it was but still moves the version on, so a replica that has not
//! yet seen a drain and restores a shard in place, and one that moves the
//! same shard elsewhere, cannot both land. Two in-place restores of the
//! same shard are told apart by the put: of two identical writes only the
//! first creates the object (a conditional create where the provider has
//! one), and only that repair counts the shard — if its object stands
//! (is listed after the commit, even one that lost the compare-and-set).
//!
//! If GC condemned or released the chunk meanwhile (`Conflict` or
//! `NotFound`), what this repair wrote is deleted again, so nothing is
//! orphaned and nothing GC deleted comes back. Shard objects are content
//! addressed, so a re-upload of the same chunk racing with that cleanup
//! would use the same keys: after the cleanup the record is read again and,
//! if a live record now lists one of those objects, the identical bytes are
//! put back.

use bytes::Bytes;
use futures::future::join_all;
use shardgate_backends::{BackendError, BackendErrorKind, ProviderRegistry, PutOutcome};
use shardgate_index::{ChunkRecord, Index, IndexError, ShardLocation, ShardUpdate};

use crate::error::BrokerError;
use crate::repair::plan::{Reason, Rebuild};

/// What happened to one chunk's repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    /// The index now lists the new shards.
    Done {
        /// Shards re-created (missing, corrupt, lost).
        rebuilt: u64,
        /// Shards moved (off a draining provider, or off a shared one).
        moved: u64,
        /// Planned shards whose write failed (retried next pass).
        failed: u64,
    },
    /// No planned write succeeded; nothing changed.
    NothingWritten,
    /// GC condemned or released the chunk meanwhile; what was written is
    /// deleted again.
    Collected,
    /// The record changed meanwhile (another repair); retried next pass.
    Changed {
        /// Shards this repair restored in place that the record, as the
        /// other repair left it, still lists (counted here, not there).
        rebuilt: u64,
    },
}

/// Writes `objects` (index, object) to the plan's targets and commits.
pub(super) async fn commit(
    registry: &ProviderRegistry,
    index: &dyn Index,
    record: &ChunkRecord,
    rebuilds: &[Rebuild],
    objects: &[(u8, Bytes)],
) -> Result<Committed, BrokerError> {
    let writes = rebuilds
        .iter()
        .zip(objects)
        .map(|(r, (_, object))| registry.put_shard(&r.target, object.clone()));
    let mut written = Vec::new();
    // In-place rewrites whose object this repair created (see the top).
    let mut restored: Vec<&Rebuild> = Vec::new();
    let mut failed = 0u64;
    for (r, result) in rebuilds.iter().zip(join_all(writes).await) {
        let in_place = r.old.as_deref() == Some(r.target.as_str());
        match result {
            // Put back meanwhile by another replica's repair: nothing of
            // ours to commit or count.
            Ok(PutOutcome::AlreadyPresent) if in_place => {}
            Ok(_) if in_place => {
                restored.push(r);
                written.push(r);
            }
            Ok(_) => written.push(r),
            Err(e) => {
                failed += 1;
                tracing::warn!(chunk = %record.chunk_id.short(), shard = r.index, target = %r.target, error = %e, "repair write failed");
            }
        }
    }
    if written.is_empty() {
        return Ok(if failed < rebuilds.len() as u64 {
            Committed::Changed { rebuilt: 0 }
        } else {
            Committed::NothingWritten
        });
    }
    let mut shards = record.shards.clone();
    for r in &written {
        shards.retain(|l| l.index != r.index);
        shards.push(ShardLocation {
            index: r.index,
            provider: r.target.clone(),
        });
    }
    shards.sort();

    // Compare-and-set: lands only if the record is still at the version the
    // plan was made from, so every replica may run repair.
    match index
        .update_chunk_shards(&record.chunk_id, record.shards_version, shards)
        .await
    {
        Ok(ShardUpdate::Updated(_)) => {}
        Ok(ShardUpdate::Changed(current)) => {
            // Another repair landed first: drop what we wrote, unless the
            // winner happens to list the same object.
            let unlisted: Vec<&Rebuild> = written
                .iter()
                .copied()
                .filter(|r| !lists(&current.shards, r.index, &r.target))
                .collect();
            delete_written(registry, record, &unlisted).await;
            let rebuilt = restored
                .iter()
                .filter(|r| lists(&current.shards, r.index, &r.target))
                .count() as u64;
            return Ok(Committed::Changed { rebuilt });
        }
        Err(IndexError::Conflict { .. } | IndexError::NotFound { .. }) => {
            undo(registry, index, record, &written, objects).await;
            return Ok(Committed::Collected);
        }
        // Unknown whether anything changed: keep every object (at worst
        // unreferenced copies), never delete one the index may list.
        Err(e) => return Err(e.into()),
    }
    let (mut rebuilt, mut moved) = (0u64, 0u64);
    for r in &written {
        match r.reason {
            Reason::Bad | Reason::Lost => rebuilt += 1,
            Reason::Drain | Reason::Shared => moved += 1,
        }
        if let Some(old) = r.old.as_deref().filter(|old| *old != r.target) {
            delete_old(registry, record, r.index, old).await;
        }
    }
    Ok(Committed::Done {
        rebuilt,
        moved,
        failed,
    })
}

fn lists(shards: &[ShardLocation], index: u8, provider: &str) -> bool {
    shards
        .iter()
        .any(|l| l.index == index && l.provider == provider)
}

/// The replaced copy, after the commit. A provider that left is not ours to
/// clean; a failed delete leaves an unreferenced object (logged).
async fn delete_old(registry: &ProviderRegistry, record: &ChunkRecord, index: u8, old: &str) {
    let result = registry.delete_shard(old, &record.chunk_id, index).await;
    if let Err(e) = result.or_else(left_is_fine) {
        tracing::warn!(chunk = %record.chunk_id.short(), shard = index, provider = old, error = %e, "could not delete the replaced shard copy");
    }
}

async fn delete_written(registry: &ProviderRegistry, record: &ChunkRecord, written: &[&Rebuild]) {
    for r in written {
        delete_old(registry, record, r.index, &r.target).await;
    }
}

/// GC won the race: delete what this repair wrote, then put back any object
/// a live record (a re-upload that committed meanwhile) lists.
async fn undo(
    registry: &ProviderRegistry,
    index: &dyn Index,
    record: &ChunkRecord,
    written: &[&Rebuild],
    objects: &[(u8, Bytes)],
) {
    tracing::info!(chunk = %record.chunk_id.short(), "chunk collected during repair; removing the shards repair wrote");
    delete_written(registry, record, written).await;
    let live = match index.live_chunks(&[record.chunk_id]).await {
        Ok(mut found) => found.pop().flatten(),
        Err(e) => {
            tracing::warn!(chunk = %record.chunk_id.short(), error = %e, "could not re-check the chunk after undoing a repair");
            None
        }
    };
    // Same (k, m, length) or the objects are not the ones it lists.
    let Some(live) =
        live.filter(|l| (l.k, l.m, l.sealed_len) == (record.k, record.m, record.sealed_len))
    else {
        return;
    };
    for r in written {
        if !lists(&live.shards, r.index, &r.target) {
            continue;
        }
        let Some((_, object)) = objects.iter().find(|(i, _)| *i == r.index) else {
            continue;
        };
        let result = registry.put_shard(&r.target, object.clone()).await;
        if let Err(e) = result.map(|_| ()).or_else(left_is_fine) {
            tracing::error!(chunk = %record.chunk_id.short(), shard = r.index, provider = %r.target, error = %e, "could not restore a re-uploaded shard");
        }
    }
}

/// A provider that left meanwhile: its objects are no longer ours to
/// clean or restore, so there is nothing to report.
fn left_is_fine(e: BackendError) -> Result<(), BackendError> {
    match e.kind() {
        BackendErrorKind::UnknownProvider => Ok(()),
        _ => Err(e),
    }
}
