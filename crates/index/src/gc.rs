//! The GC safety rule, as one pure function every implementation calls
//! inside its commit transaction.
//!
//! # Why a rule is needed
//!
//! Shard object keys are content addressed (`<chunk id>.<index>`). An upload
//! (1) reads the GC epoch `e0`, (2) asks `live_chunks` which chunks already
//! exist, (3) writes the shards of the others, (4) commits. A GC pass
//! (a) condemns zero-ref chunks (epoch +1), (b) deletes their shards on the
//! providers, (c) `gc_finish` drops the records, leaving a tombstone at a
//! fresh epoch `F` (epoch +1 again). If (b) runs after (3) for the same
//! chunk, the upload's shards are gone; if the commit then succeeded, the
//! blob would point at missing data.
//!
//! # The rule (checked per chunk, in the commit transaction)
//!
//! 1. Condemned now → `Conflict`. Its deletion may be in flight.
//! 2. Record with refcount >= 1 → `Bump`. Refcounts > 0 are never
//!    condemned, and commits and condemnations are serialized, so after
//!    this commit no GC can touch the chunk until its last blob goes.
//! 3. Record with refcount 0, not condemned, same `(k, m, length)` as the
//!    upload's → `Revive` (refcount 1, the STORED record kept). Its shards
//!    were written by the upload that created it, which passed rule 4; no
//!    deletion touched them since: deletion only follows condemnation, and
//!    a condemned record leaves that state only by being removed. (The
//!    upload's own record is ignored: its shard writes may have been hit by
//!    a pass that finished after `e0`.)
//! 4. Otherwise the upload's record is stored (`Insert`, refcount 1) — for
//!    no record, or a zero-ref record with other parameters — unless a
//!    tombstone says a pass finished at `F > e0` → `Conflict`: that pass's
//!    deletes may have hit the upload's writes. This also covers a chunk
//!    condemned *before* `e0` but finished after it; a check on the
//!    condemnation epoch alone would miss that interleaving. With `F <= e0`
//!    every delete of that pass completed before the upload began writing.
//!    Tombstones stay when a chunk is re-created, for this rule.
//! 5. Tombstones are forgotten after a retention period
//!    (`gc_prune_tombstones`); the index remembers the newest forgotten
//!    finish epoch `P`, and a commit with `e0 < P` is a `Conflict` (it might
//!    have needed a tombstone that is gone). So correctness never depends on
//!    how long an upload takes.
//!
//! Dedup against a chunk that is condemned *later* cannot happen: a chunk
//! `live_chunks` reported had refcount >= 1; if its last blob is deleted and
//! GC condemns and finishes it before our commit, rule 1 or 4 applies
//! (condemn and finish both come after `e0`, so `F > e0`); if GC has not
//! condemned it yet, rule 3 revives it and GC will no longer pick it.
//!
//! Assumption: one GC pass at a time, and a pass calls `gc_finish` only
//! after every delete it issued has completed (no late deletes). With
//! several broker replicas the GC role must be held by one of them.

use crate::error::IndexError;
use crate::records::ChunkRecord;

/// What the index holds about one chunk when a commit looks at it.
#[derive(Clone, Copy, Debug)]
pub struct ChunkGcView<'a> {
    /// The chunk record, if any (condemned or not).
    pub stored: Option<&'a ChunkRecord>,
    /// Epoch of the condemnation, if the chunk is condemned now.
    pub condemned_at: Option<u64>,
    /// Finish epoch of the latest GC pass that removed this chunk.
    pub tombstone: Option<u64>,
}

/// What the commit does with the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkAction {
    /// Stored record kept, refcount + 1 (from >= 1).
    Bump,
    /// Stored zero-ref record kept, refcount 1: it is live again.
    Revive,
    /// The upload's record stored with refcount 1.
    Insert,
}

/// Rules 1–4 above.
pub fn decide(
    view: ChunkGcView<'_>,
    given: &ChunkRecord,
    observed_gc_epoch: u64,
) -> Result<ChunkAction, IndexError> {
    let id = &given.chunk_id;
    if let Some(epoch) = view.condemned_at {
        return Err(IndexError::conflict(format!(
            "chunk {} is being garbage collected (condemned at epoch {epoch}); \
             write it again and retry",
            id.short()
        )));
    }
    if let Some(stored) = view.stored {
        if stored.refcount >= 1 {
            check_same_chunk(stored, given)?;
            return Ok(ChunkAction::Bump);
        }
        if same_params(stored, given) {
            return Ok(ChunkAction::Revive);
        }
    }
    match view.tombstone {
        Some(finished) if finished > observed_gc_epoch => Err(IndexError::conflict(format!(
            "chunk {} was garbage collected at epoch {finished}, after the upload \
             observed epoch {observed_gc_epoch}; write it again and retry",
            id.short()
        ))),
        _ => Ok(ChunkAction::Insert),
    }
}

fn same_params(a: &ChunkRecord, b: &ChunkRecord) -> bool {
    (a.k, a.m, a.sealed_len) == (b.k, b.m, b.sealed_len)
}

/// Rule 5, plus: an epoch from the future was not read from this index.
pub fn check_observed_epoch(
    observed_gc_epoch: u64,
    current_epoch: u64,
    pruned_through: u64,
) -> Result<(), IndexError> {
    if observed_gc_epoch > current_epoch {
        return Err(IndexError::invalid(format!(
            "observed GC epoch {observed_gc_epoch} is ahead of the index ({current_epoch})"
        )));
    }
    if observed_gc_epoch < pruned_through {
        return Err(IndexError::conflict(format!(
            "upload observed GC epoch {observed_gc_epoch}, older than the forgotten tombstones \
             (through {pruned_through}); start the upload again"
        )));
    }
    Ok(())
}

/// For a `Bump`: the upload's record must describe the same stored chunk.
/// A different `(k, m)` or length means the upload wrote shards under the
/// same keys with other parameters; refuse rather than index a mix.
fn check_same_chunk(stored: &ChunkRecord, given: &ChunkRecord) -> Result<(), IndexError> {
    if !same_params(stored, given) {
        return Err(IndexError::conflict(format!(
            "chunk {} is stored with k={} m={} len={}, upload has k={} m={} len={}; \
             use the record from live_chunks",
            stored.chunk_id.short(),
            stored.k,
            stored.m,
            stored.sealed_len,
            given.k,
            given.m,
            given.sealed_len
        )));
    }
    Ok(())
}
