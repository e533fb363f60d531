//! [`ShardFetcher`]: the shard reads of one chunk, with hedging.
//!
//! Order: data shards first (with all `k` of them the rebuild is a plain
//! concatenation), shards on providers known to be DOWN last. Exactly the
//! shards still needed are requested; each failure starts the next one;
//! if they have not all arrived after the hedge delay, every remaining
//! shard is requested at once, and the first arrivals win.
//!
//! Reads go through [`ShardSource`]: the [`ProviderRegistry`] in
//! production (each read through [`ProviderRegistry::get_shard`], so it
//! counts in the provider's health), a fake in the tests below, which check
//! the timing under paused time. Whether the shards that arrived rebuild
//! the chunk is the caller's to judge; it may then ask for the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use shardgate_core::ContentId;

use crate::error::BackendError;
use crate::metrics::READS_HEDGED_TOTAL;
use crate::placement::PlacedShard;
use crate::registry::ProviderRegistry;
use crate::store::BodyCheck;

/// Where shard objects are read from.
pub trait ShardSource: Send + Sync + 'static {
    /// The shard object (header ‖ body) of `chunk` at `index`, checked as
    /// `check` says.
    fn read(
        &self,
        provider: &str,
        chunk: ContentId,
        index: u8,
        check: BodyCheck,
    ) -> BoxFuture<'static, Result<Bytes, BackendError>>;
    /// Providers currently known to be DOWN (asked last).
    fn down(&self) -> BTreeSet<String>;
}

impl ShardSource for ProviderRegistry {
    fn read(
        &self,
        provider: &str,
        chunk: ContentId,
        index: u8,
        check: BodyCheck,
    ) -> BoxFuture<'static, Result<Bytes, BackendError>> {
        let registry = self.clone();
        let provider = provider.to_owned();
        Box::pin(async move {
            let shard = registry.read_shard(&provider, &chunk, index, check).await?;
            Ok(shard.object().clone())
        })
    }

    fn down(&self) -> BTreeSet<String> {
        self.list()
            .into_iter()
            .filter(|p| !p.up)
            .map(|p| p.name)
            .collect()
    }
}

impl ProviderRegistry {
    /// A [`ShardFetcher`] for `chunk` (coded with `k` data shards) over
    /// these shard locations, reading through this registry and checking
    /// each shard as `check` says.
    pub fn fetcher(
        &self,
        chunk: ContentId,
        k: u8,
        shards: &[PlacedShard],
        check: BodyCheck,
    ) -> ShardFetcher {
        ShardFetcher::new(Arc::new(self.clone()), chunk, k, shards, check)
    }
}

/// Issues shard reads for one chunk and remembers what failed.
pub struct ShardFetcher {
    source: Arc<dyn ShardSource>,
    chunk: ContentId,
    check: BodyCheck,
    queue: std::vec::IntoIter<PlacedShard>,
    errors: Vec<BackendError>,
    /// Provider of each filled slot (by shard index): who gets paid.
    sources: BTreeMap<u8, String>,
}

impl ShardFetcher {
    /// Reads of `chunk` (`k` data shards) from `shards`, in request order,
    /// each checked as `check` says.
    pub fn new(
        source: Arc<dyn ShardSource>,
        chunk: ContentId,
        k: u8,
        shards: &[PlacedShard],
        check: BodyCheck,
    ) -> Self {
        let down = source.down();
        let mut shards = shards.to_vec();
        shards.sort_by_key(|l| (down.contains(&l.provider), l.index >= k, l.index));
        Self {
            source,
            chunk,
            check,
            queue: shards.into_iter(),
            errors: Vec::new(),
            sources: BTreeMap::new(),
        }
    }

    /// Shards not requested yet.
    pub fn remaining(&self) -> usize {
        self.queue.len()
    }

    /// Fills `slots` (indexed by shard index) until `want` are present, or
    /// every shard was tried.
    pub async fn fetch(&mut self, slots: &mut [Option<Bytes>], want: usize, hedge: Duration) {
        let mut have = slots.iter().filter(|s| s.is_some()).count();
        let mut inflight = FuturesUnordered::new();
        let first: Vec<_> = self
            .queue
            .by_ref()
            .take(want.saturating_sub(have))
            .collect();
        for loc in first {
            inflight.push(self.read(loc));
        }
        let timer = tokio::time::sleep(hedge);
        tokio::pin!(timer);
        let mut hedged = false;
        while have < want && !inflight.is_empty() {
            tokio::select! {
                Some((loc, result)) = inflight.next() => match result {
                    Ok(object) => {
                        if let Some(slot) = slots.get_mut(usize::from(loc.index))
                            && slot.is_none()
                        {
                            *slot = Some(object);
                            have += 1;
                            self.sources.insert(loc.index, loc.provider);
                        }
                    }
                    Err(e) => {
                        self.errors.push(e);
                        if let Some(next) = self.queue.next() {
                            inflight.push(self.read(next));
                        }
                    }
                },
                _ = &mut timer, if !hedged => {
                    hedged = true;
                    if self.queue.len() > 0 {
                        metrics::counter!(READS_HEDGED_TOTAL).increment(1);
                    }
                    let rest: Vec<_> = self.queue.by_ref().collect();
                    for loc in rest {
                        inflight.push(self.read(loc));
                    }
                }
            }
        }
    }

    fn read(
        &self,
        loc: PlacedShard,
    ) -> BoxFuture<'static, (PlacedShard, Result<Bytes, BackendError>)> {
        let read = self
            .source
            .read(&loc.provider, self.chunk, loc.index, self.check);
        Box::pin(async move { (loc, read.await) })
    }

    /// The provider of every shard read into a slot (one entry per shard):
    /// the shards this chunk's rebuild used, for the payment split.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.values().map(String::as_str)
    }

    /// Every read that failed so far, in the order they failed.
    pub fn errors(&self) -> &[BackendError] {
        &self.errors
    }

    /// The chunk being read.
    pub fn chunk(&self) -> &ContentId {
        &self.chunk
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::error::BackendErrorKind;

    /// Per provider: how long a read takes, and whether it then fails.
    struct FakeSource {
        behaviour: BTreeMap<String, (Duration, bool)>,
        down: BTreeSet<String>,
        requested: Mutex<Vec<u8>>,
    }

    impl ShardSource for FakeSource {
        fn read(
            &self,
            provider: &str,
            _chunk: ContentId,
            index: u8,
            _check: BodyCheck,
        ) -> BoxFuture<'static, Result<Bytes, BackendError>> {
            self.requested.lock().expect("lock").push(index);
            let (delay, fails) = self.behaviour[provider];
            let provider = provider.to_owned();
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if fails {
                    Err(BackendError::new(
                        BackendErrorKind::Unavailable,
                        provider,
                        "get",
                        "boom",
                    ))
                } else {
                    Ok(Bytes::from(vec![index]))
                }
            })
        }

        fn down(&self) -> BTreeSet<String> {
            self.down.clone()
        }
    }

    /// A 2+1 chunk whose shard `i` is on the `i`-th provider listed.
    fn setup(behaviour: &[(&str, u64, bool)], down: &[&str]) -> (Arc<FakeSource>, ShardFetcher) {
        let source = Arc::new(FakeSource {
            behaviour: behaviour
                .iter()
                .map(|(p, ms, fails)| (p.to_string(), (Duration::from_millis(*ms), *fails)))
                .collect(),
            down: down.iter().map(|s| s.to_string()).collect(),
            requested: Mutex::new(Vec::new()),
        });
        let shards: Vec<PlacedShard> = behaviour
            .iter()
            .enumerate()
            .map(|(i, (p, _, _))| PlacedShard {
                index: i as u8,
                provider: p.to_string(),
            })
            .collect();
        let fetcher = ShardFetcher::new(
            source.clone(),
            ContentId::of(b"c"),
            2,
            &shards,
            BodyCheck::Hashed,
        );
        (source, fetcher)
    }

    #[tokio::test(start_paused = true)]
    async fn fast_providers_need_no_parity_request() {
        let (source, mut fetcher) =
            setup(&[("a", 10, false), ("b", 10, false), ("c", 10, false)], &[]);
        let mut slots = vec![None; 3];
        fetcher
            .fetch(&mut slots, 2, Duration::from_millis(300))
            .await;
        assert!(slots[0].is_some() && slots[1].is_some() && slots[2].is_none());
        assert_eq!(
            *source.requested.lock().expect("lock"),
            [0, 1],
            "data shards only"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_provider_costs_only_the_hedge_delay() {
        let (_, mut fetcher) = setup(
            &[("a", 60_000, false), ("b", 10, false), ("c", 10, false)],
            &[],
        );
        let mut slots = vec![None; 3];
        let started = Instant::now();
        fetcher
            .fetch(&mut slots, 2, Duration::from_millis(300))
            .await;
        let took = started.elapsed();
        assert!(slots[1].is_some() && slots[2].is_some(), "b and c won");
        assert_eq!(fetcher.sources().collect::<Vec<_>>(), ["b", "c"]);
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(400),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_the_next_shard_at_once_and_down_providers_go_last() {
        let (_, mut fetcher) = setup(&[("a", 10, true), ("b", 10, false), ("c", 10, false)], &[]);
        let mut slots = vec![None; 3];
        let started = Instant::now();
        fetcher.fetch(&mut slots, 2, Duration::from_secs(10)).await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "no hedge wait needed"
        );
        assert!(slots[1].is_some() && slots[2].is_some());

        let (source, mut fetcher) = setup(
            &[("a", 10, false), ("b", 10, false), ("c", 10, false)],
            &["a"],
        );
        let mut slots = vec![None; 3];
        fetcher.fetch(&mut slots, 2, Duration::from_secs(10)).await;
        assert_eq!(
            *source.requested.lock().expect("lock"),
            [1, 2],
            "the DOWN provider is not asked"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn too_few_shards_keeps_every_provider_failure() {
        let (_, mut fetcher) = setup(&[("a", 10, true), ("b", 10, true), ("c", 10, false)], &[]);
        let mut slots = vec![None; 3];
        fetcher
            .fetch(&mut slots, 2, Duration::from_millis(300))
            .await;
        assert_eq!(slots.iter().filter(|s| s.is_some()).count(), 1);
        let mut failed: Vec<&str> = fetcher.errors().iter().map(|e| e.provider()).collect();
        failed.sort_unstable();
        assert_eq!(failed, ["a", "b"]);
        assert!(fetcher.errors().iter().all(BackendError::is_temporary));
    }
}
