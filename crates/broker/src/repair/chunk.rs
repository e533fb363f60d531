//! One chunk, start to end: scrub, plan, rebuild, commit; returns its
//! counts for the pass report.

use bytes::Bytes;
use shardgate_backends::ProviderRegistry;
use shardgate_index::{ChunkRecord, Index};

use crate::error::BrokerError;
use crate::repair::commit::{Committed, commit};
use crate::repair::inspect::{ShardState, inspect};
use crate::repair::metrics;
use crate::repair::plan::{Plan, Verdict, plan};
use crate::repair::progress::PassReport;
use crate::repair::rebuild::rebuild_shards;
use crate::repair::view::ProviderView;

/// Checks and, if needed, repairs one chunk. Never fails: problems are
/// logged and counted (the next pass tries again).
pub(super) async fn check_chunk(
    registry: &ProviderRegistry,
    index: &dyn Index,
    view: &ProviderView,
    record: &ChunkRecord,
) -> PassReport {
    let shards = inspect(registry, view, record).await;
    let mut report = PassReport {
        chunks_checked: 1,
        shards_scrubbed: shards.iter().filter(|s| s.state.is_intact()).count() as u64,
        shards_bad: shards.iter().filter(|s| s.state.is_bad()).count() as u64,
        ..PassReport::default()
    };
    metrics::chunk_checked(report.shards_bad);
    match plan(record, &shards, view) {
        Verdict::Healthy => report.chunks_healthy = 1,
        Verdict::Unreadable { intact } => {
            tracing::warn!(chunk = %record.chunk_id.short(), intact, k = record.k, "chunk unreadable: fewer than k verified shards");
            metrics::chunk_unreadable();
            report.chunks_unreadable = 1;
        }
        Verdict::Repair(plan) => {
            let intact: Vec<(u8, Bytes)> = shards
                .iter()
                .filter_map(|s| match &s.state {
                    ShardState::Intact(object) => Some((s.index, object.clone())),
                    _ => None,
                })
                .collect();
            drop(shards);
            match repair(registry, index, record, &plan, intact).await {
                Ok(outcome) => count(&mut report, record, &plan, outcome),
                Err(e) => {
                    tracing::warn!(chunk = %record.chunk_id.short(), error = %e, "chunk repair failed");
                    metrics::chunk_failed();
                    report.chunks_failed = 1;
                    report.chunks_degraded = 1;
                }
            }
        }
    }
    report
}

async fn repair(
    registry: &ProviderRegistry,
    index: &dyn Index,
    record: &ChunkRecord,
    plan: &Plan,
    intact: Vec<(u8, Bytes)>,
) -> Result<Option<Committed>, BrokerError> {
    if plan.rebuilds.is_empty() {
        return Ok(None);
    }
    let wanted: Vec<u8> = plan.rebuilds.iter().map(|r| r.index).collect();
    let owned = record.clone();
    let objects = tokio::task::spawn_blocking(move || rebuild_shards(&owned, &intact, &wanted))
        .await
        .map_err(|e| BrokerError::Internal(format!("rebuild task failed: {e}")))??;
    commit(registry, index, record, &plan.rebuilds, &objects)
        .await
        .map(Some)
}

fn count(report: &mut PassReport, record: &ChunkRecord, plan: &Plan, outcome: Option<Committed>) {
    let id = record.chunk_id.short();
    match outcome {
        Some(Committed::Done {
            rebuilt,
            moved,
            failed,
        }) => {
            metrics::chunk_repaired(rebuilt, moved);
            report.chunks_repaired = 1;
            report.shards_rebuilt = rebuilt;
            report.shards_moved = moved;
            if plan.reduced {
                tracing::warn!(chunk = %id, "repaired with reduced redundancy: a provider holds two shards of this chunk (add providers)");
                metrics::reduced_redundancy();
                report.chunks_reduced = 1;
            }
            let whole = failed == 0 && plan.stuck == 0 && plan.unknown == 0 && !plan.reduced;
            if whole {
                report.chunks_healthy = 1;
            } else {
                report.chunks_degraded = 1;
            }
        }
        Some(Committed::Collected) => report.chunks_collected = 1,
        Some(Committed::Changed { rebuilt }) => {
            // Another replica's repair landed first; what this one restored
            // in place still counts (see `commit.rs`). Re-checked next pass.
            metrics::shards_restored(rebuilt);
            report.shards_rebuilt = rebuilt;
            report.chunks_degraded = 1;
        }
        Some(Committed::NothingWritten) | None => {
            if plan.stuck > 0 {
                tracing::warn!(chunk = %id, shards = plan.stuck, "no healthy provider can take this chunk's shards");
            }
            report.chunks_degraded = 1;
        }
    }
}
