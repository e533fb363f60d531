//! [`RepairSettings`]: the repair worker's knobs, taken from
//! [`crate::config::BrokerConfig`].

use std::time::Duration;

use crate::config::BrokerConfig;

/// Chunks repaired at once. Each one holds its `k + m` shard objects plus
/// the rebuilt chunk in memory (about 2.5 × the chunk size at 2+1), so four
/// keep a pass under ~100 MiB at the largest chunk size while the shard
/// reads of different chunks overlap.
pub(crate) const REPAIR_CONCURRENCY: usize = 4;

/// How often draining and DOWN providers are looked at between full passes.
/// Cheap (in-memory state plus one index page), so a drain starts within
/// seconds instead of waiting for the next full pass.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// How the repair worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RepairSettings {
    /// Between full passes; `None` = no periodic passes.
    pub interval: Option<Duration>,
    /// Chunks per index page (at least 1).
    pub batch: usize,
    /// A provider DOWN this long counts as gone: its shards are re-created.
    pub down_grace: Duration,
    /// Chunks repaired at once (at least 1).
    pub concurrency: usize,
}

impl RepairSettings {
    pub(crate) fn from_config(config: &BrokerConfig) -> Self {
        Self {
            interval: (config.repair_interval_secs > 0)
                .then(|| Duration::from_secs(config.repair_interval_secs)),
            batch: config.repair_batch.max(1),
            down_grace: Duration::from_secs(config.repair_down_grace_secs),
            concurrency: REPAIR_CONCURRENCY,
        }
    }
}
