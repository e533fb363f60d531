//! [`ProviderRegistry`]: the providers the broker can use, changed at run
//! time (join, drain, leave) and read on every shard operation.
//!
//! Reads clone an `Arc` under a short read lock, so concurrent readers never
//! wait on I/O; a join probes the provider *before* taking the write lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use shardgate_core::ContentId;
use tokio::time::Instant;

use crate::config::ProviderConfig;
use crate::error::{BackendError, BackendErrorKind};
use crate::health::{Health, HealthPolicy};
use crate::metrics::StoreMetrics;
use crate::placement::{Placement, PlacementCandidate, PlacementPolicy, place};
use crate::probe::probe;
use crate::store::ShardStore;

/// One registered provider.
#[derive(Debug)]
struct Entry {
    kind: &'static str,
    weight: f64,
    store: ShardStore,
    draining: AtomicBool,
    health: Mutex<Health>,
    metrics: StoreMetrics,
}

/// A provider's state as shown to operators.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Kind label (`s3`, `gcs`, ...).
    pub kind: &'static str,
    /// Placement weight.
    pub weight: f64,
    /// No new shards go here; existing ones are being moved away.
    pub draining: bool,
    /// False while DOWN after repeated failures.
    pub up: bool,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// The set of providers; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: Arc<RwLock<BTreeMap<String, Arc<Entry>>>>,
    policy: HealthPolicy,
}

impl ProviderRegistry {
    /// An empty registry with this health policy.
    pub fn new(policy: HealthPolicy) -> Self {
        Self {
            providers: Arc::default(),
            policy,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Entry>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every change is one insert/remove), so poisoning is ignored.
        self.providers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>, BackendError> {
        self.read().get(name).cloned().ok_or_else(|| unknown(name))
    }

    /// Validate, build, probe, then add a provider. A config error names the
    /// field; an unreachable endpoint, missing bucket or rejected credentials
    /// are reported by the probe with the field to fix.
    pub async fn join(&self, cfg: ProviderConfig) -> Result<(), BackendError> {
        let store = ShardStore::from_config(&cfg)?;
        self.join_store(cfg.kind.label(), cfg.weight, store).await
    }

    /// Add an already-built store (tests inject failing operators this way).
    pub async fn join_store(
        &self,
        kind: &'static str,
        weight: f64,
        store: ShardStore,
    ) -> Result<(), BackendError> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(BackendError::invalid_config(
                store.name(),
                "weight",
                "must be a finite number > 0",
            ));
        }
        if self.read().contains_key(store.name()) {
            return Err(already(store.name()));
        }
        probe(&store, kind).await?;
        let name = store.name().to_owned();
        let metrics = StoreMetrics::new(&name);
        let entry = Arc::new(Entry {
            kind,
            weight,
            store,
            draining: AtomicBool::new(false),
            health: Mutex::new(Health::default()),
            metrics,
        });
        let mut map = self
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked again: another join of the same name may have won the race.
        if map.contains_key(&name) {
            return Err(already(&name));
        }
        entry.metrics.set_up(true);
        map.insert(name, entry);
        Ok(())
    }

    /// Every provider, sorted by name.
    pub fn list(&self) -> Vec<ProviderStatus> {
        self.read()
            .iter()
            .map(|(name, e)| {
                let h = e.health.lock().unwrap_or_else(PoisonError::into_inner);
                ProviderStatus {
                    name: name.clone(),
                    kind: e.kind,
                    weight: e.weight,
                    draining: e.draining.load(Ordering::Relaxed),
                    up: h.is_up(),
                    consecutive_failures: h.consecutive_failures(),
                }
            })
            .collect()
    }

    /// The store of a provider (for reads, including from DOWN or draining
    /// providers: a read that may succeed is worth trying).
    pub fn store(&self, name: &str) -> Result<ShardStore, BackendError> {
        Ok(self.entry(name)?.store.clone())
    }

    /// Stop placing new shards on a provider; its existing shards stay
    /// readable until the repair worker has moved them.
    pub fn drain(&self, name: &str) -> Result<(), BackendError> {
        self.entry(name)?.draining.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Remove a provider. Returns its store so the caller can finish moving
    /// shards away or clean up.
    pub fn leave(&self, name: &str) -> Result<ShardStore, BackendError> {
        let mut map = self
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.remove(name)
            .map(|e| e.store.clone())
            .ok_or_else(|| unknown(name))
    }

    /// Providers that may receive new shards: UP and not draining.
    pub fn writable(&self) -> Vec<PlacementCandidate> {
        self.read()
            .iter()
            .filter(|(_, e)| !e.draining.load(Ordering::Relaxed))
            .filter(|(_, e)| {
                e.health
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_up()
            })
            .map(|(name, e)| PlacementCandidate {
                provider: name.clone(),
                weight: e.weight,
            })
            .collect()
    }

    /// Place the shards of a chunk on writable providers.
    pub fn place(
        &self,
        chunk: &ContentId,
        policy: PlacementPolicy,
    ) -> Result<Placement, BackendError> {
        place(chunk, &self.writable(), policy)
    }

    /// Feed the result of an operation on `name` into its health. Errors
    /// about one object (not found, conflict) do not count; see
    /// [`BackendError::counts_against_health`]. Only this crate calls it:
    /// every shard operation goes through [`ProviderRegistry::call`]
    /// (`provider_io.rs`), so callers cannot forget to report.
    pub(crate) fn observe<T>(&self, name: &str, result: &Result<T, BackendError>) {
        let Ok(entry) = self.entry(name) else { return };
        let mut h = entry.health.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(_) => {
                if h.record_success() {
                    tracing::info!(provider = name, "provider is UP again");
                    entry.metrics.set_up(true);
                }
            }
            Err(e) if e.counts_against_health() => {
                if h.record_failure(Instant::now(), &self.policy) {
                    tracing::warn!(provider = name, error = %e, "provider marked DOWN");
                    entry.metrics.set_up(false);
                }
            }
            Err(_) => {}
        }
    }

    /// Half-open probes: every DOWN provider whose back-off has passed gets
    /// one probe round trip; success marks it UP, failure doubles the wait.
    /// Returns the names that came back. Call it periodically.
    pub async fn probe_down_providers(&self) -> Vec<String> {
        let now = Instant::now();
        let due: Vec<(String, Arc<Entry>)> = self
            .read()
            .iter()
            .filter(|(_, e)| {
                e.health
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .probe_due(now)
            })
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        let mut revived = Vec::new();
        for (name, entry) in due {
            let result = probe(&entry.store, entry.kind).await;
            let mut h = entry.health.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(()) => {
                    h.record_success();
                    entry.metrics.set_up(true);
                    tracing::info!(provider = %name, "half-open probe succeeded; provider is UP");
                    revived.push(name);
                }
                Err(e) => {
                    h.record_probe_failure(Instant::now(), &self.policy);
                    tracing::warn!(provider = %name, error = %e, "half-open probe failed; provider stays DOWN");
                }
            }
        }
        revived
    }

    /// Run [`ProviderRegistry::probe_down_providers`] every `every`, forever.
    /// Spawn it next to the server and abort it on shutdown.
    pub async fn probe_loop(&self, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.probe_down_providers().await;
        }
    }
}

fn unknown(name: &str) -> BackendError {
    BackendError::new(
        BackendErrorKind::UnknownProvider,
        name,
        "lookup",
        "no provider with this name",
    )
}

fn already(name: &str) -> BackendError {
    BackendError::new(
        BackendErrorKind::AlreadyExists,
        name,
        "join",
        "a provider with this name is registered",
    )
}
