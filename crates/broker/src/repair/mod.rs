//! The repair worker: scrubs every shard the index lists, re-creates the
//! missing, corrupt and lost ones from `k` verified survivors onto healthy
//! providers, and moves shards off draining providers.
//!
//! * A **full pass** (every `repair_interval_secs`, and within seconds of
//!   a provider leaving) visits every chunk once: it pages through each
//!   joined provider's chunks and handles a chunk when visiting the first
//!   joined provider (by name) its record lists.
//! * An **evacuation pass** handles only the chunks on draining providers
//!   and on providers DOWN longer than `repair_down_grace_secs`. The worker
//!   looks for those every few seconds and starts once the same providers
//!   were due at two looks in a row, so a drain starts within ~10 s; a pass
//!   that makes no progress (nowhere to put the shards) is not repeated
//!   until the set of such providers changes or a full pass ran.
//!
//! One pass at a time (a second one gets ABORTED), chunks in pages of
//! `repair_batch`, a few chunks at once (see `settings.rs`). Safety rules
//! (never delete a listed shard before its replacement is committed; GC
//! races) are in `commit.rs`.

mod chunk;
mod commit;
mod inspect;
mod metrics;
mod plan;
mod progress;
mod rebuild;
mod settings;
mod view;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use shardgate_backends::ProviderRegistry;
use shardgate_core::ContentId;
use shardgate_index::{ChunkRecord, Index};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub(crate) use progress::{PassReport, RepairSnapshot};
pub(crate) use settings::{RepairSettings, WATCH_INTERVAL};
pub(crate) use view::{ProviderView, Standing};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::memory_budget::{MemoryBudget, shard_object_bytes};
use chunk::check_chunk;
use progress::StatusCell;
use view::DownTracker;

/// Which chunks a pass visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every chunk.
    Full,
    /// Chunks with a shard on a draining or long-DOWN provider.
    Evacuate,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Evacuate => "evacuate",
        }
    }
}

/// The worker; cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub(crate) struct RepairWorker {
    inner: Arc<Inner>,
}

struct Inner {
    index: Arc<dyn Index>,
    registry: ProviderRegistry,
    settings: RepairSettings,
    down: DownTracker,
    status: StatusCell,
    running: Mutex<()>,
    /// Shared with the transfers: a pass reads every shard of the chunks
    /// it checks, so it reserves them first (`chunk_cost`).
    memory: MemoryBudget,
}

impl RepairWorker {
    pub(crate) fn new(
        index: Arc<dyn Index>,
        registry: ProviderRegistry,
        settings: RepairSettings,
        memory: MemoryBudget,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                index,
                registry,
                settings,
                down: DownTracker::default(),
                status: StatusCell::default(),
                running: Mutex::new(()),
                memory,
            }),
        }
    }

    /// What the worker has done and is doing.
    pub(crate) fn status(&self) -> RepairSnapshot {
        self.inner.status.snapshot()
    }

    /// Runs one pass now and waits for it. ABORTED if one is running.
    pub(crate) async fn run_pass(&self, scope: Scope) -> Result<PassReport, BrokerError> {
        let inner = &self.inner;
        let _guard = inner.running.try_lock().map_err(|_| {
            BrokerError::Aborted("a repair pass is already running; retry when it ends".to_owned())
        })?;
        let full = scope == Scope::Full;
        let started = Instant::now();
        inner.status.pass_started(full, now_unix_ms());
        let view = ProviderView::capture(&inner.registry, &inner.down, inner.settings.down_grace);
        if scope == Scope::Evacuate {
            // What an operator watching a drain wants to see start: which
            // providers are emptied (a DOWN one by rebuilding from the rest).
            tracing::info!(
                providers = ?evacuated(&view),
                "evacuation started: moving shards off draining or gone providers"
            );
        }
        let result = self.visit(scope, &view).await;
        let report = inner
            .status
            .pass_finished(full && result.is_ok(), now_unix_ms());
        metrics::pass_done(scope.label(), started.elapsed());
        metrics::queue_length(inner.status.snapshot().queue_length());
        self.note_drained(&view).await;
        result?;
        tracing::info!(scope = scope.label(), ?report, "repair pass done");
        Ok(report)
    }

    async fn visit(&self, scope: Scope, view: &ProviderView) -> Result<(), BrokerError> {
        // Chunks repaired this pass: one moved onto a provider visited later
        // may now have that provider as its owner, and must not be handled
        // twice. (Only repaired ones: the set stays small.)
        let mut repaired = HashSet::new();
        let providers: Vec<String> = match scope {
            Scope::Full => view.joined().map(str::to_owned).collect(),
            Scope::Evacuate => evacuated(view),
        };
        for provider in &providers {
            let mut after = None;
            loop {
                let page = self
                    .inner
                    .index
                    .shards_on_provider(provider, after, self.inner.settings.batch)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.chunk_id);
                let full_page = page.len() >= self.inner.settings.batch;
                let todo: Vec<ChunkRecord> = page
                    .into_iter()
                    .filter(|c| scope == Scope::Evacuate || owner(c, view) == Some(provider))
                    .filter(|c| !repaired.contains(&c.chunk_id))
                    .collect();
                repaired.extend(self.check_all(view, todo).await);
                if !full_page {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Checks `chunks`, a few at once; returns the ids of those repaired.
    async fn check_all(&self, view: &ProviderView, chunks: Vec<ChunkRecord>) -> Vec<ContentId> {
        let inner = &self.inner;
        futures::stream::iter(chunks)
            .map(|record| async move {
                // Only fails if the budget is closed, which it never is
                // while the worker lives; a chunk not checked is checked
                // by the next pass.
                let _memory = inner
                    .memory
                    .reserve_waiting(chunk_cost(&record))
                    .await
                    .ok()?;
                let counts =
                    check_chunk(&inner.registry, inner.index.as_ref(), view, &record).await;
                inner.status.record(&counts);
                (counts.chunks_repaired > 0).then_some(record.chunk_id)
            })
            .buffer_unordered(inner.settings.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Draining providers the index no longer places any shard on.
    async fn note_drained(&self, view: &ProviderView) {
        let mut drained = Vec::new();
        for name in view.draining() {
            match self.inner.index.shards_on_provider(name, None, 1).await {
                Ok(page) if page.is_empty() => drained.push(name.to_owned()),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(provider = name, error = %e, "could not count shards left")
                }
            }
        }
        let before = self.inner.status.snapshot().drained;
        for name in drained.iter().filter(|n| !before.contains(n)) {
            tracing::info!(provider = %name, "drain complete: no shards left on it; it can leave (Providers.Leave)");
        }
        self.inner.status.set_drained(drained);
    }

    /// Providers whose shards an evacuation pass would move, if any of them
    /// still holds a shard.
    async fn evacuation_due(&self) -> Option<Vec<String>> {
        let inner = &self.inner;
        let view = ProviderView::capture(&inner.registry, &inner.down, inner.settings.down_grace);
        let names = evacuated(&view);
        for name in &names {
            if let Ok(page) = inner.index.shards_on_provider(name, None, 1).await
                && !page.is_empty()
            {
                return Some(names);
            }
        }
        None
    }

    fn joined_now(&self) -> Vec<String> {
        self.inner
            .registry
            .list()
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    /// Full passes every `interval` (and soon after a provider leaves),
    /// evacuations in between; forever (the
    /// server spawns this in its worker set and aborts it at shutdown).
    pub(crate) async fn run_periodic(self) {
        let Some(interval) = self.inner.settings.interval else {
            return;
        };
        let mut last_full = Instant::now();
        // Evacuation that made no progress: not retried for the same set
        // of providers before the next full pass.
        let mut stalled: Option<Vec<String>> = None;
        // What the previous look found: an evacuation starts only when the
        // same providers were due at two looks in a row, so a provider that
        // is drained and then force-removed at once (or a DOWN blip at the
        // grace boundary) does not start a move that is moot a moment later.
        let mut previous: Option<Vec<String>> = None;
        // A provider that left (forced Leave) is in no listing any more:
        // only a full pass finds the chunks that still name it, so its
        // departure brings the next full pass forward.
        let mut joined = self.joined_now();
        loop {
            tokio::time::sleep(WATCH_INTERVAL.min(interval)).await;
            let now_joined = self.joined_now();
            let someone_left = joined.iter().any(|n| !now_joined.contains(n));
            joined = now_joined;
            if someone_left || last_full.elapsed() >= interval {
                last_full = Instant::now();
                stalled = None;
                if let Err(e) = self.run_pass(Scope::Full).await {
                    tracing::warn!(error = %e, "repair pass failed");
                }
                continue;
            }
            let due = self.evacuation_due().await;
            let settled = due.is_some() && due == previous;
            previous = due;
            let Some(names) = previous.clone().filter(|_| settled) else {
                continue;
            };
            if stalled.as_ref() == Some(&names) {
                continue;
            }
            match self.run_pass(Scope::Evacuate).await {
                Ok(r) if r.chunks_repaired == 0 => stalled = Some(names),
                Ok(_) => stalled = None,
                Err(e) => tracing::warn!(error = %e, "repair evacuation failed"),
            }
        }
    }
}

/// The first joined provider (by name) a record lists: the one whose
/// visit handles the chunk in a full pass.
fn owner<'a>(record: &'a ChunkRecord, view: &ProviderView) -> Option<&'a String> {
    record
        .shards
        .iter()
        .map(|l| &l.provider)
        .filter(|p| view.is_joined(p))
        .min()
}

/// Draining providers and joined providers that count as gone.
fn evacuated(view: &ProviderView) -> Vec<String> {
    view.joined()
        .filter(|p| matches!(view.standing(p), Standing::Draining | Standing::Gone))
        .map(str::to_owned)
        .collect()
}

/// Memory a check of `record` may hold: every shard read (k+m), plus the
/// shards it rebuilds (at most m).
fn chunk_cost(record: &ChunkRecord) -> u64 {
    let (k, m) = (u64::from(record.k.max(1)), u64::from(record.m));
    shard_object_bytes(record.sealed_len, record.k) * (k + 2 * m)
}
