//! Garbage collection behind a small [`Worker`] trait (garage-style): a
//! pass condemns zero-reference chunks in the index, deletes their shards
//! on the providers, then finishes them in the index. The index's epoch
//! protocol keeps it safe against uploads in flight (see `put/mod.rs`).
//!
//! One pass at a time: Admin.RunGc during a pass gets ABORTED.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use shardgate_backends::{BackendErrorKind, ProviderRegistry};
use shardgate_core::SHARD_HEADER_LEN;
use shardgate_core::erasure::shard_len_for;
use shardgate_index::{Index, MAX_PAGE_LIMIT};
use tokio::sync::Mutex;

use crate::clock::now_unix_ms;
use crate::config::DEFAULT_ORPHAN_GRACE;
use crate::error::BrokerError;
use crate::gc_orphans::{OrphanReport, sweep_orphans};
use crate::metrics;

/// A background job the server runs periodically and on demand.
pub(crate) trait Worker: Send + Sync + 'static {
    /// For logs.
    fn name(&self) -> &'static str;
    /// One full pass.
    fn run_once(&self) -> BoxFuture<'_, Result<GcReport, BrokerError>>;
}

/// What one GC pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GcReport {
    /// Shard objects of released chunks.
    pub shards_found: u64,
    /// Of those, deleted (or already absent).
    pub shards_deleted: u64,
    /// Bytes those shard objects held.
    pub bytes_freed: u64,
    /// Chunks whose index records were removed.
    pub chunks_released: u64,
    /// Shard objects no index record names, older than the grace period
    /// (see `gc_orphans.rs`), and how many of them were deleted.
    pub orphans: OrphanReport,
}

/// The GC worker.
#[derive(Clone)]
pub(crate) struct GcWorker {
    index: Arc<dyn Index>,
    registry: ProviderRegistry,
    batch: usize,
    tombstone_retention: Duration,
    orphan_grace: Duration,
    running: Arc<Mutex<()>>,
}

impl GcWorker {
    /// `tombstone_retention`: how long the index remembers finished chunks
    /// (an upload that takes longer than this is refused at commit and
    /// must be retried; see the index's GC rule 5).
    pub(crate) fn new(
        index: Arc<dyn Index>,
        registry: ProviderRegistry,
        batch: usize,
        tombstone_retention: Duration,
    ) -> Self {
        Self {
            index,
            registry,
            batch: batch.max(1),
            tombstone_retention,
            orphan_grace: DEFAULT_ORPHAN_GRACE,
            running: Arc::new(Mutex::new(())),
        }
    }

    /// Orphan shard objects younger than `grace` are left alone (uploads
    /// in flight; see `gc_orphans.rs`).
    pub(crate) fn with_orphan_grace(mut self, grace: Duration) -> Self {
        self.orphan_grace = grace;
        self
    }

    /// The grace period of the orphan sweep.
    pub(crate) fn orphan_grace(&self) -> Duration {
        self.orphan_grace
    }

    async fn pass(&self) -> Result<GcReport, BrokerError> {
        let _guard = self.running.try_lock().map_err(|_| {
            BrokerError::Aborted(
                "a garbage-collection pass is already running; retry when it ends".to_owned(),
            )
        })?;
        let mut report = GcReport::default();
        loop {
            let condemned = self.index.gc_condemn(self.batch).await?;
            if condemned.is_empty() {
                break;
            }
            let mut finished = Vec::with_capacity(condemned.len());
            let mut incomplete = 0usize;
            for chunk in &condemned {
                let shard_bytes = (SHARD_HEADER_LEN
                    + shard_len_for(chunk.sealed_len as usize, usize::from(chunk.k)))
                    as u64;
                let deletes = chunk.shards.iter().map(|loc| async move {
                    match self
                        .registry
                        .delete_shard(&loc.provider, &chunk.chunk_id, loc.index)
                        .await
                    {
                        Ok(()) => Ok(true),
                        // A provider that left is no longer ours to clean:
                        // its copy counts as gone, or the chunk would stay
                        // condemned forever.
                        Err(e) if *e.kind() == BackendErrorKind::UnknownProvider => Ok(false),
                        Err(e) => Err(e),
                    }
                });
                let results = join_all(deletes).await;
                report.shards_found += results.len() as u64;
                let deleted = results.iter().filter(|r| matches!(r, Ok(true))).count() as u64;
                report.shards_deleted += deleted;
                report.bytes_freed += deleted * shard_bytes;
                if results.iter().all(Result::is_ok) {
                    finished.push(chunk.chunk_id);
                } else {
                    // Left condemned: the next pass returns it first and
                    // tries again (a provider may be down right now).
                    incomplete += 1;
                }
            }
            self.index.gc_finish(&finished).await?;
            report.chunks_released += finished.len() as u64;
            if incomplete > 0 {
                tracing::warn!(
                    chunks = incomplete,
                    "GC could not delete every shard; will retry"
                );
                break;
            }
        }
        report.orphans =
            sweep_orphans(&*self.index, &self.registry, self.orphan_grace, false).await?;
        let horizon = now_unix_ms().saturating_sub(self.tombstone_retention.as_millis() as u64);
        self.index.gc_prune_tombstones(horizon).await?;
        metrics::gc_pass(report.chunks_released, report.shards_deleted);
        metrics::gc_orphans(report.orphans.found, report.orphans.deleted);
        Ok(report)
    }

    /// Counts what a pass would release, changing nothing: every chunk
    /// record with no reference left, found through each joined provider's
    /// shard list (a full scan of the index's provider table).
    pub(crate) async fn dry_run(&self) -> Result<GcReport, BrokerError> {
        let mut unreferenced = std::collections::BTreeMap::new();
        for provider in self.registry.list() {
            let mut after = None;
            loop {
                let page = self
                    .index
                    .shards_on_provider(&provider.name, after, MAX_PAGE_LIMIT)
                    .await?;
                for chunk in &page {
                    if chunk.refcount == 0 {
                        unreferenced.insert(chunk.chunk_id, chunk.clone());
                    }
                }
                match page.last() {
                    Some(last) if page.len() == MAX_PAGE_LIMIT => after = Some(last.chunk_id),
                    _ => break,
                }
            }
        }
        let mut report = GcReport::default();
        for chunk in unreferenced.values() {
            let shard_bytes = (SHARD_HEADER_LEN
                + shard_len_for(chunk.sealed_len as usize, usize::from(chunk.k)))
                as u64;
            report.shards_found += chunk.shards.len() as u64;
            report.bytes_freed += chunk.shards.len() as u64 * shard_bytes;
            report.chunks_released += 1;
        }
        report.orphans =
            sweep_orphans(&*self.index, &self.registry, self.orphan_grace, true).await?;
        Ok(report)
    }

    /// Runs a pass every `every`, forever: the server spawns this in its
    /// worker set and aborts it at shutdown.
    pub(crate) async fn run_periodic(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await; // the first tick is immediate: skip it
        loop {
            tick.tick().await;
            match self.run_once().await {
                Ok(r) => tracing::info!(worker = self.name(), ?r, "pass done"),
                Err(e) => tracing::warn!(worker = self.name(), error = %e, "pass failed"),
            }
        }
    }
}

impl Worker for GcWorker {
    fn name(&self) -> &'static str {
        "gc"
    }

    fn run_once(&self) -> BoxFuture<'_, Result<GcReport, BrokerError>> {
        Box::pin(self.pass())
    }
}
