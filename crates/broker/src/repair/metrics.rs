//! Repair metrics (no label names a chunk, blob or tenant).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `shardgate_repair_chunks_checked_total` | counter | |
//! | `shardgate_repair_chunks_repaired_total` | counter | |
//! | `shardgate_repair_chunks_failed_total` | counter | |
//! | `shardgate_repair_chunks_unreadable_total` | counter | |
//! | `shardgate_repair_shards_bad_total` | counter | |
//! | `shardgate_repair_shards_rebuilt_total` | counter | |
//! | `shardgate_repair_shards_moved_total` | counter | |
//! | `shardgate_repair_reduced_redundancy_total` | counter | |
//! | `shardgate_repair_queue_length` | gauge | |
//! | `shardgate_repair_pass_seconds` | histogram | scope |

use std::time::Duration;

pub(super) fn chunk_checked(bad_shards: u64) {
    metrics::counter!("shardgate_repair_chunks_checked_total").increment(1);
    metrics::counter!("shardgate_repair_shards_bad_total").increment(bad_shards);
}

pub(super) fn chunk_repaired(rebuilt: u64, moved: u64) {
    metrics::counter!("shardgate_repair_chunks_repaired_total").increment(1);
    metrics::counter!("shardgate_repair_shards_rebuilt_total").increment(rebuilt);
    metrics::counter!("shardgate_repair_shards_moved_total").increment(moved);
}

/// Shards restored in place by a repair whose record update another
/// replica's repair pre-empted (the chunk counts as repaired there).
pub(super) fn shards_restored(rebuilt: u64) {
    metrics::counter!("shardgate_repair_shards_rebuilt_total").increment(rebuilt);
}

pub(super) fn chunk_failed() {
    metrics::counter!("shardgate_repair_chunks_failed_total").increment(1);
}

pub(super) fn chunk_unreadable() {
    metrics::counter!("shardgate_repair_chunks_unreadable_total").increment(1);
}

pub(super) fn reduced_redundancy() {
    metrics::counter!("shardgate_repair_reduced_redundancy_total").increment(1);
}

pub(super) fn queue_length(chunks: u64) {
    metrics::gauge!("shardgate_repair_queue_length").set(chunks as f64);
}

pub(super) fn pass_done(scope: &'static str, took: Duration) {
    metrics::histogram!("shardgate_repair_pass_seconds", "scope" => scope)
        .record(took.as_secs_f64());
}
