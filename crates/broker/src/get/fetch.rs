//! [`ShardFetcher`]: the shard requests of one chunk, with hedging.
//!
//! Order: data shards first (with all `k` of them the rebuild is a plain
//! concatenation), shards on providers known to be DOWN last. Exactly the
//! shards still needed are requested; each failure starts the next one;
//! if they have not all arrived after the hedge delay, every remaining
//! shard is requested at once, and the first arrivals win.
//!
//! Reads go through [`ShardSource`] (the provider registry in the broker),
//! so the timing logic is tested with a fake source under paused time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use shardgate_backends::{BackendError, ProviderRegistry};
use shardgate_core::ContentId;
use shardgate_index::{ChunkRecord, ShardLocation};

use crate::error::BrokerError;
use crate::metrics;

/// Where shard objects are read from.
pub trait ShardSource: Send + Sync + 'static {
    /// The verified shard object (header ‖ body) of `chunk` at `index`.
    fn read(
        &self,
        provider: &str,
        chunk: ContentId,
        index: u8,
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
    ) -> BoxFuture<'static, Result<Bytes, BackendError>> {
        let registry = self.clone();
        let provider = provider.to_owned();
        Box::pin(async move {
            let store = registry.store(&provider)?;
            let result = store.get_shard(&chunk, index).await;
            // Feeds provider health: failures mark it DOWN, successes UP.
            registry.observe(&provider, &result);
            result.map(|shard| shard.object().clone())
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

/// Issues shard reads for one chunk and remembers what failed.
pub struct ShardFetcher {
    source: Arc<dyn ShardSource>,
    chunk: ContentId,
    queue: std::vec::IntoIter<ShardLocation>,
    errors: Vec<BackendError>,
    /// Provider of each filled slot (by shard index): who gets paid.
    sources: BTreeMap<u8, String>,
}

impl ShardFetcher {
    pub fn new(source: Arc<dyn ShardSource>, record: &ChunkRecord) -> Self {
        let down = source.down();
        let k = record.k;
        let mut locations = record.shards.clone();
        locations.sort_by_key(|l| (down.contains(&l.provider), l.index >= k, l.index));
        Self {
            source,
            chunk: record.chunk_id,
            queue: locations.into_iter(),
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
                        metrics::read_hedged();
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
        loc: ShardLocation,
    ) -> BoxFuture<'static, (ShardLocation, Result<Bytes, BackendError>)> {
        let read = self.source.read(&loc.provider, self.chunk, loc.index);
        Box::pin(async move { (loc, read.await) })
    }

    /// The provider of every shard read into a slot (one entry per shard):
    /// the shards this chunk's rebuild used, for the payment split.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.values().map(String::as_str)
    }

    /// Turns a failed open into DATA_LOSS (shards missing or corrupt) or
    /// UNAVAILABLE (providers unreachable: may pass).
    pub fn explain(&self, index: u64, k: usize, err: BrokerError) -> BrokerError {
        if !matches!(err, BrokerError::DataLoss(_) | BrokerError::Core(_)) {
            return err;
        }
        let reasons: Vec<String> = self.errors.iter().map(|e| e.to_string()).collect();
        let detail = if reasons.is_empty() {
            err.to_string()
        } else {
            reasons.join("; ")
        };
        let msg = format!(
            "chunk {index} ({}): fewer than k={k} intact shards could be read: {detail}",
            self.chunk.short()
        );
        if self.errors.iter().any(BackendError::is_temporary) {
            BrokerError::Unavailable(format!("{msg}; retry with backoff"))
        } else {
            BrokerError::DataLoss(format!(
                "{msg}; retry later, and tell the blob owner if it persists"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use shardgate_backends::BackendErrorKind;
    use tokio::time::Instant;

    use super::*;

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

    fn setup(behaviour: &[(&str, u64, bool)], down: &[&str]) -> (Arc<FakeSource>, ChunkRecord) {
        let source = Arc::new(FakeSource {
            behaviour: behaviour
                .iter()
                .map(|(p, ms, fails)| (p.to_string(), (Duration::from_millis(*ms), *fails)))
                .collect(),
            down: down.iter().map(|s| s.to_string()).collect(),
            requested: Mutex::new(Vec::new()),
        });
        let record = ChunkRecord {
            chunk_id: ContentId::of(b"c"),
            k: 2,
            m: 1,
            sealed_len: 100,
            shards: behaviour
                .iter()
                .enumerate()
                .map(|(i, (p, _, _))| ShardLocation {
                    index: i as u8,
                    provider: p.to_string(),
                })
                .collect(),
            wrapped_key: None,
            refcount: 1,
        };
        (source, record)
    }

    #[tokio::test(start_paused = true)]
    async fn fast_providers_need_no_parity_request() {
        let (source, record) = setup(&[("a", 10, false), ("b", 10, false), ("c", 10, false)], &[]);
        let mut fetcher = ShardFetcher::new(source.clone(), &record);
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
        let (source, record) = setup(
            &[("a", 60_000, false), ("b", 10, false), ("c", 10, false)],
            &[],
        );
        let mut fetcher = ShardFetcher::new(source, &record);
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
        let (source, record) = setup(&[("a", 10, true), ("b", 10, false), ("c", 10, false)], &[]);
        let mut fetcher = ShardFetcher::new(source.clone(), &record);
        let mut slots = vec![None; 3];
        let started = Instant::now();
        fetcher.fetch(&mut slots, 2, Duration::from_secs(10)).await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "no hedge wait needed"
        );
        assert!(slots[1].is_some() && slots[2].is_some());

        let (source, record) = setup(
            &[("a", 10, false), ("b", 10, false), ("c", 10, false)],
            &["a"],
        );
        let mut fetcher = ShardFetcher::new(source.clone(), &record);
        let mut slots = vec![None; 3];
        fetcher.fetch(&mut slots, 2, Duration::from_secs(10)).await;
        assert_eq!(
            *source.requested.lock().expect("lock"),
            [1, 2],
            "the DOWN provider is not asked"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn too_few_shards_is_unavailable_when_providers_failed() {
        let (source, record) = setup(&[("a", 10, true), ("b", 10, true), ("c", 10, false)], &[]);
        let mut fetcher = ShardFetcher::new(source, &record);
        let mut slots = vec![None; 3];
        fetcher
            .fetch(&mut slots, 2, Duration::from_millis(300))
            .await;
        assert_eq!(slots.iter().filter(|s| s.is_some()).count(), 1);
        let err = fetcher.explain(0, 2, BrokerError::DataLoss("1 of 2".into()));
        assert!(matches!(err, BrokerError::Unavailable(_)), "{err:?}");
    }
}
