//! [`KeyedRate`]: one token bucket per key (client address, tenant, link),
//! GCRA from `governor`: a burst of `n`, refilled evenly over the period.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Forget idle keys every this many checks, so the map stays the size of
/// the recent clients, not of every client ever seen.
const PRUNE_EVERY: u64 = 1024;

/// Buckets of `n` per period, one per key.
pub(crate) struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    /// `n` per second (burst `n`); `None` for 0, the limit turned off.
    pub(crate) fn per_second(n: u32) -> Option<KeyedRate<K>> {
        NonZeroU32::new(n).map(|n| KeyedRate::new(Quota::per_second(n).allow_burst(n)))
    }

    /// `n` per minute (burst `n`); at least 1 (validated config never
    /// holds 0 here).
    pub(crate) fn per_minute(n: u32) -> KeyedRate<K> {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        KeyedRate::new(Quota::per_minute(n).allow_burst(n))
    }

    fn new(quota: Quota) -> KeyedRate<K> {
        KeyedRate {
            limiter: RateLimiter::dashmap(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is
    /// there.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_with_a_wait_and_keys_apart() {
        let rate = KeyedRate::per_second(3).expect("on");
        for _ in 0..3 {
            rate.check(&"a").expect("within the burst");
        }
        let wait = rate.check(&"a").expect_err("burst spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
        rate.check(&"b").expect("another key has its own bucket");
        assert!(KeyedRate::<&str>::per_second(0).is_none(), "0 = off");
        let minute = KeyedRate::per_minute(1);
        minute.check(&1).expect("first");
        let wait = minute.check(&1).expect_err("second within the minute");
        assert!(wait > Duration::from_secs(59), "{wait:?}");
    }
}
