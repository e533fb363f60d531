//! What the repair worker thinks of each provider during one pass: where
//! shards may go, which shards must move, which count as lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use shardgate_backends::{PlacementCandidate, ProviderRegistry, ProviderStatus};
use tokio::time::Instant;

/// One provider as the repair worker treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// UP and not draining: its shards stay, new shards may go there.
    Healthy,
    /// Drain requested and still readable: its shards are copied away,
    /// then deleted there.
    Draining,
    /// DOWN for less than the grace period: its shards are neither read
    /// nor replaced yet (it may come back).
    Down,
    /// Left the broker, DOWN longer than the grace period, or DOWN and
    /// being drained: its shards count as lost and are re-created
    /// elsewhere.
    Gone,
}

/// Since when each provider has been seen DOWN (by this worker).
#[derive(Debug, Default)]
pub(crate) struct DownTracker(Mutex<HashMap<String, Instant>>);

impl DownTracker {
    /// Notes which providers are DOWN now; a provider seen UP is forgotten,
    /// so its grace period starts over the next time it goes DOWN.
    pub(crate) fn observe(&self, statuses: &[ProviderStatus], now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|name, _| statuses.iter().any(|s| &s.name == name && !s.up));
        for s in statuses.iter().filter(|s| !s.up) {
            map.entry(s.name.clone()).or_insert(now);
        }
    }

    fn down_for(&self, name: &str, now: Instant) -> Duration {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name).map_or(Duration::ZERO, |since| {
            now.saturating_duration_since(*since)
        })
    }
}

/// A snapshot of the providers for one pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderView {
    standing: BTreeMap<String, Standing>,
    candidates: Vec<PlacementCandidate>,
    /// Providers an operator drains, readable or not (a DOWN one stands
    /// as `Gone`, but its drain still completes when it holds nothing).
    drained_by_operator: Vec<String>,
}

impl ProviderView {
    /// Reads the registry now; `down_grace` turns long-DOWN providers into
    /// [`Standing::Gone`].
    pub(crate) fn capture(
        registry: &ProviderRegistry,
        tracker: &DownTracker,
        down_grace: Duration,
    ) -> Self {
        let statuses = registry.list();
        let now = Instant::now();
        tracker.observe(&statuses, now);
        let mut view = Self::default();
        for s in statuses {
            let standing = match (s.up, s.draining) {
                (true, false) => Standing::Healthy,
                (true, true) => Standing::Draining,
                // An operator's drain of a provider that cannot be read:
                // rebuild its shards from the survivors now, rather than
                // wait out the DOWN grace period (meant for providers that
                // may come back on their own) with no spare shard.
                (false, true) => Standing::Gone,
                (false, _) if tracker.down_for(&s.name, now) >= down_grace => Standing::Gone,
                (false, _) => Standing::Down,
            };
            if standing == Standing::Healthy {
                view.candidates.push(PlacementCandidate {
                    provider: s.name.clone(),
                    weight: s.weight,
                });
            }
            if s.draining {
                view.drained_by_operator.push(s.name.clone());
            }
            view.standing.insert(s.name, standing);
        }
        view
    }

    /// A view from explicit standings (tests of the planner).
    #[cfg(test)]
    pub(crate) fn from_standings(list: &[(&str, Standing)]) -> Self {
        let mut view = Self::default();
        for (name, standing) in list {
            if *standing == Standing::Healthy {
                view.candidates.push(PlacementCandidate {
                    provider: (*name).to_owned(),
                    weight: 1.0,
                });
            }
            view.standing.insert((*name).to_owned(), *standing);
        }
        view
    }

    /// A provider that is not joined is [`Standing::Gone`].
    pub(crate) fn standing(&self, name: &str) -> Standing {
        self.standing.get(name).copied().unwrap_or(Standing::Gone)
    }

    /// Healthy providers: where re-created shards may go.
    pub(crate) fn candidates(&self) -> &[PlacementCandidate] {
        &self.candidates
    }

    /// Joined providers, by name.
    pub(crate) fn joined(&self) -> impl Iterator<Item = &str> {
        self.standing.keys().map(String::as_str)
    }

    /// Providers an operator is draining (readable or DOWN), by name.
    pub(crate) fn draining(&self) -> impl Iterator<Item = &str> {
        self.drained_by_operator.iter().map(String::as_str)
    }

    /// Whether this provider is joined (whatever its state).
    pub(crate) fn is_joined(&self, name: &str) -> bool {
        self.standing.contains_key(name)
    }
}
