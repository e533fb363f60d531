//! Provider health: UP until `failure_threshold` consecutive failures, then
//! DOWN (skipped for writes) until a back-off passes; then one half-open
//! probe decides: success → UP, failure → DOWN again with a doubled back-off.
//!
//! Uses `tokio::time::Instant` so tests drive it with `tokio::time::pause()`.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// When to mark a provider DOWN and how long to wait before re-probing.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthPolicy {
    /// Consecutive failed or timed-out operations that mark a provider DOWN.
    /// Default 3.
    pub failure_threshold: u32,
    /// First wait before a half-open probe, ms. Default 5000.
    pub base_backoff_ms: u64,
    /// Longest wait between probes, ms (the back-off doubles). Default 300000.
    pub max_backoff_ms: u64,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            base_backoff_ms: 5_000,
            max_backoff_ms: 300_000,
        }
    }
}

/// The two states a provider can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Receives writes and reads.
    Up,
    /// Skipped for writes until `retry_at`, then probed.
    Down {
        /// When the next half-open probe is allowed.
        retry_at: Instant,
        /// The wait that produced `retry_at` (doubles on each failed probe).
        backoff: Duration,
    },
}

/// Per-provider health bookkeeping.
#[derive(Debug, Clone)]
pub struct Health {
    state: HealthState,
    consecutive_failures: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: HealthState::Up,
            consecutive_failures: 0,
        }
    }
}

impl Health {
    /// Current state.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Whether new shards may be written here.
    pub fn is_up(&self) -> bool {
        self.state == HealthState::Up
    }

    /// A half-open probe is allowed now.
    pub fn probe_due(&self, now: Instant) -> bool {
        matches!(self.state, HealthState::Down { retry_at, .. } if now >= retry_at)
    }

    /// Any success clears the failure count and marks the provider UP.
    /// Returns true when this changed the state.
    pub fn record_success(&mut self) -> bool {
        self.consecutive_failures = 0;
        let changed = self.state != HealthState::Up;
        self.state = HealthState::Up;
        changed
    }

    /// A failure that says something about the provider (not a missing
    /// object). Returns true when this marked the provider DOWN.
    pub fn record_failure(&mut self, now: Instant, policy: &HealthPolicy) -> bool {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let max = Duration::from_millis(policy.max_backoff_ms.max(policy.base_backoff_ms));
        match self.state {
            HealthState::Up if self.consecutive_failures >= policy.failure_threshold.max(1) => {
                let backoff = Duration::from_millis(policy.base_backoff_ms).min(max);
                self.state = HealthState::Down {
                    retry_at: now + backoff,
                    backoff,
                };
                true
            }
            // Already DOWN: reads still tried here do not move the probe
            // schedule; only a failed half-open probe does.
            HealthState::Up | HealthState::Down { .. } => false,
        }
    }

    /// A half-open probe failed: stay DOWN and double the wait (up to the
    /// cap) before the next one.
    pub fn record_probe_failure(&mut self, now: Instant, policy: &HealthPolicy) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let max = Duration::from_millis(policy.max_backoff_ms.max(policy.base_backoff_ms));
        let backoff = match self.state {
            HealthState::Down { backoff, .. } => (backoff * 2).min(max),
            HealthState::Up => Duration::from_millis(policy.base_backoff_ms).min(max),
        };
        self.state = HealthState::Down {
            retry_at: now + backoff,
            backoff,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            failure_threshold: 3,
            base_backoff_ms: 1_000,
            max_backoff_ms: 4_000,
        }
    }

    #[test]
    fn goes_down_after_threshold_and_backs_off_doubling_to_the_cap() {
        let now = Instant::now();
        let mut h = Health::default();
        assert!(!h.record_failure(now, &policy()));
        assert!(!h.record_failure(now, &policy()));
        assert!(h.is_up(), "two failures are below the threshold");
        assert!(h.record_failure(now, &policy()));
        assert!(!h.is_up());
        assert!(!h.probe_due(now + Duration::from_millis(999)));
        assert!(h.probe_due(now + Duration::from_millis(1_000)));
        // Ordinary failures while DOWN leave the schedule alone.
        h.record_failure(now + Duration::from_millis(500), &policy());
        assert!(h.probe_due(now + Duration::from_millis(1_000)));
        // failed probes: 2 s, then 4 s, then capped at 4 s
        for expect in [2_000, 4_000, 4_000] {
            h.record_probe_failure(now, &policy());
            match h.state() {
                HealthState::Down { backoff, .. } => {
                    assert_eq!(backoff, Duration::from_millis(expect))
                }
                HealthState::Up => panic!("must stay down"),
            }
        }
        assert!(h.record_success());
        assert!(h.is_up());
        assert_eq!(h.consecutive_failures(), 0);
    }

    #[test]
    fn a_success_between_failures_resets_the_count() {
        let now = Instant::now();
        let mut h = Health::default();
        h.record_failure(now, &policy());
        h.record_failure(now, &policy());
        h.record_success();
        h.record_failure(now, &policy());
        h.record_failure(now, &policy());
        assert!(h.is_up(), "failures were not consecutive");
    }
}
