//! What the repair worker has done, for Admin.GetRepairStatus: counters
//! since start, the counts of the last full pass, and the pass in progress.

use std::sync::{Mutex, PoisonError};

/// Counts of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PassReport {
    /// Chunks scrubbed.
    pub chunks_checked: u64,
    /// All `k + m` shards verified on distinct healthy providers (after
    /// this pass's repair).
    pub chunks_healthy: u64,
    /// Readable but still missing shards or sharing a provider after this
    /// pass (no target, failed writes, providers DOWN within their grace).
    pub chunks_degraded: u64,
    /// Fewer than `k` verified shards.
    pub chunks_unreadable: u64,
    /// Chunks whose record now lists re-created or moved shards.
    pub chunks_repaired: u64,
    /// Chunks whose repair failed (index or rebuild error).
    pub chunks_failed: u64,
    /// Chunks garbage-collected while being repaired (nothing kept).
    pub chunks_collected: u64,
    /// Shards verified.
    pub shards_scrubbed: u64,
    /// Shards found missing, corrupt or on a provider that is gone.
    pub shards_bad: u64,
    /// Shards re-created (missing, corrupt, lost).
    pub shards_rebuilt: u64,
    /// Shards moved off draining or shared providers.
    pub shards_moved: u64,
    /// Chunks repaired onto a provider that already held one of their
    /// shards, for want of another.
    pub chunks_reduced: u64,
}

impl PassReport {
    fn add(&mut self, other: &PassReport) {
        self.chunks_checked += other.chunks_checked;
        self.chunks_healthy += other.chunks_healthy;
        self.chunks_degraded += other.chunks_degraded;
        self.chunks_unreadable += other.chunks_unreadable;
        self.chunks_repaired += other.chunks_repaired;
        self.chunks_failed += other.chunks_failed;
        self.chunks_collected += other.chunks_collected;
        self.shards_scrubbed += other.shards_scrubbed;
        self.shards_bad += other.shards_bad;
        self.shards_rebuilt += other.shards_rebuilt;
        self.shards_moved += other.shards_moved;
        self.chunks_reduced += other.chunks_reduced;
    }
}

/// The state shown by Admin.GetRepairStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RepairSnapshot {
    pub running: bool,
    /// The pass in progress so far (zeros when none).
    pub current: PassReport,
    /// The last completed full pass, if any.
    pub last_full: Option<PassReport>,
    /// Every pass since the broker started, summed.
    pub totals: PassReport,
    pub last_scrub_started_at_unix_ms: Option<u64>,
    pub last_scrub_finished_at_unix_ms: Option<u64>,
    /// Draining providers the index places no shard on any more: ready for
    /// Providers.Leave.
    pub drained: Vec<String>,
}

impl RepairSnapshot {
    /// Chunks known to need repair that are not repaired yet: those the
    /// last full pass left degraded, or more if the running pass found more.
    pub(crate) fn queue_length(&self) -> u64 {
        let last = self.last_full.map_or(0, |r| r.chunks_degraded);
        last.max(self.current.chunks_degraded)
    }
}

/// Shared, updated as chunks are checked.
#[derive(Debug, Default)]
pub(super) struct StatusCell(Mutex<RepairSnapshot>);

impl StatusCell {
    pub(super) fn snapshot(&self) -> RepairSnapshot {
        self.lock().clone()
    }

    pub(super) fn pass_started(&self, full: bool, now_unix_ms: u64) {
        let mut s = self.lock();
        s.running = true;
        s.current = PassReport::default();
        if full {
            s.last_scrub_started_at_unix_ms = Some(now_unix_ms);
        }
    }

    /// Adds one chunk's counts to the running pass and the totals.
    pub(super) fn record(&self, chunk: &PassReport) {
        let mut s = self.lock();
        s.current.add(chunk);
        s.totals.add(chunk);
    }

    pub(super) fn pass_finished(&self, full: bool, now_unix_ms: u64) -> PassReport {
        let mut s = self.lock();
        s.running = false;
        let done = std::mem::take(&mut s.current);
        if full {
            s.last_full = Some(done);
            s.last_scrub_finished_at_unix_ms = Some(now_unix_ms);
        }
        done
    }

    pub(super) fn set_drained(&self, drained: Vec<String>) {
        self.lock().drained = drained;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RepairSnapshot> {
        // Every update is a few field writes: a panic cannot leave it torn
        // in a way that matters more than a miscount.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
