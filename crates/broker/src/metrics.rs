//! Broker metrics through the `metrics` facade, exported by `server.rs` as
//! Prometheus text on its own port. No label names a blob, tenant, user,
//! chunk or path. (Per-provider shard metrics come from
//! `shardgate_backends::metrics`, as does `shardgate_reads_hedged_total`,
//! counted by the backends' shard fetcher.)
//!
//! | name | type | labels |
//! |---|---|---|
//! | `shardgate_upload_bytes_total` | counter | |
//! | `shardgate_uploads_committed_total` | counter | |
//! | `shardgate_download_bytes_total` | counter | |
//! | `shardgate_chunk_seal_seconds` | histogram | |
//! | `shardgate_chunk_read_seconds` | histogram | |
//! | `shardgate_chunk_rereads_total` | counter | chunks whose shards failed the whole-chunk check and were read again, each hashed (a bad shard on some provider) |
//! | `shardgate_chunks_deduplicated_total` | counter | |
//! | `shardgate_rpc_errors_total` | counter | code |
//! | `shardgate_limit_refusals_total` | counter | limit (the config key: `requests_per_second_per_address`, `invoices_per_minute_per_tenant`, `node_invoices_per_second`, `transfers_per_address`, `gateway_invoices_per_minute_per_link`, …) |
//! | `shardgate_gc_chunks_released_total` | counter | |
//! | `shardgate_gc_shards_deleted_total` | counter | |
//! | `shardgate_gc_orphan_shards` | gauge | orphan shard objects the last GC pass found and left (dry run, failed deletes) |
//! | `shardgate_gc_orphan_shards_deleted_total` | counter | |
//! | `shardgate_memory_budget_bytes`, `…_in_use_bytes`, `…_waiters` | gauge | (set in `memory_budget.rs`) |
//! | `shardgate_memory_budget_refusals_total` | counter | |

use std::time::Duration;

pub(crate) fn upload_committed(bytes: u64) {
    metrics::counter!("shardgate_upload_bytes_total").increment(bytes);
    metrics::counter!("shardgate_uploads_committed_total").increment(1);
}

pub(crate) fn bytes_served(bytes: usize) {
    metrics::counter!("shardgate_download_bytes_total").increment(bytes as u64);
}

pub(crate) fn chunk_sealed(took: Duration) {
    metrics::histogram!("shardgate_chunk_seal_seconds").record(took.as_secs_f64());
}

pub(crate) fn chunk_read(took: Duration) {
    metrics::histogram!("shardgate_chunk_read_seconds").record(took.as_secs_f64());
}

/// A chunk whose unhashed shards did not open was read again with every
/// shard hashed (a shard was bad, or a header lied).
pub(crate) fn chunk_reread() {
    metrics::counter!("shardgate_chunk_rereads_total").increment(1);
}

pub(crate) fn chunk_deduplicated() {
    metrics::counter!("shardgate_chunks_deduplicated_total").increment(1);
}

pub(crate) fn rpc_error(code: tonic::Code) {
    metrics::counter!("shardgate_rpc_errors_total", "code" => format!("{code:?}")).increment(1);
}

/// A request refused by an abuse limit (`limits/`).
pub(crate) fn limit_refused(limit: &'static str) {
    metrics::counter!("shardgate_limit_refusals_total", "limit" => limit).increment(1);
}

/// Orphan shard objects (no index record names them) the last GC pass
/// found, and a running count of those it deleted.
pub(crate) fn gc_orphans(found: u64, deleted: u64) {
    metrics::gauge!("shardgate_gc_orphan_shards").set(found.saturating_sub(deleted) as f64);
    metrics::counter!("shardgate_gc_orphan_shards_deleted_total").increment(deleted);
}

pub(crate) fn gc_pass(chunks_released: u64, shards_deleted: u64) {
    metrics::counter!("shardgate_gc_chunks_released_total").increment(chunks_released);
    metrics::counter!("shardgate_gc_shards_deleted_total").increment(shards_deleted);
}
