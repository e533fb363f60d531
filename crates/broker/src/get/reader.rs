//! Reading one chunk back: fetch shards in parallel, keep the first `k`
//! that verify, rebuild, check the chunk id, decrypt (MANAGED) — with
//! hedging so one slow provider costs at most the hedge delay.
//!
//! Order of requests: data shards first (with all `k` data shards the
//! rebuild is a plain concatenation), shards on providers the registry
//! knows are DOWN last. Exactly `k` requests start; each failure starts
//! the next shard; if `k` have not arrived after the hedge delay, every
//! remaining shard is requested at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use shardgate_backends::BackendError;
use shardgate_core::{
    ErasureParams, KeyMode, ManifestChunk, OpenKey, WrappedChunkKey, decode_shard_object,
    open_chunk,
};
use shardgate_index::{ChunkRecord, ShardLocation};

use crate::error::BrokerError;
use crate::metrics;
use crate::state::Broker;

/// Reads chunk `index` of a blob and returns its stored bytes: plaintext
/// (MANAGED) or the sealed ciphertext (END_TO_END, served as stored).
pub async fn read_chunk(
    broker: Arc<Broker>,
    key_mode: KeyMode,
    index: u64,
    entry: ManifestChunk,
    record: ChunkRecord,
) -> Result<Vec<u8>, BrokerError> {
    let started = Instant::now();
    let params = ErasureParams::new(usize::from(record.k), usize::from(record.m))?;
    let hedge = Duration::from_millis(broker.config.pipeline.hedge_delay_ms);
    let mut fetcher = ShardFetcher::new(broker.clone(), &record);
    let mut slots: Vec<Option<Bytes>> = vec![None; params.total()];
    fetcher.fetch(&mut slots, params.k(), hedge).await;
    let mut result = open(&broker, key_mode, &entry, &record, params, &slots).await;
    if result.is_err() && fetcher.remaining() > 0 {
        // A shard that verified on its own may still not fit this chunk
        // (another k/m): try again with every shard we have not read.
        let want = params.total();
        fetcher.fetch(&mut slots, want, Duration::ZERO).await;
        result = open(&broker, key_mode, &entry, &record, params, &slots).await;
    }
    let bytes = result.map_err(|e| fetcher.explain(index, params.k(), e))?;
    metrics::chunk_read(started.elapsed());
    Ok(bytes)
}

/// Rebuilds (and, in MANAGED mode, decrypts) on the blocking pool.
async fn open(
    broker: &Arc<Broker>,
    key_mode: KeyMode,
    entry: &ManifestChunk,
    record: &ChunkRecord,
    params: ErasureParams,
    slots: &[Option<Bytes>],
) -> Result<Vec<u8>, BrokerError> {
    let have = slots.iter().filter(|s| s.is_some()).count();
    if have < params.k() {
        return Err(BrokerError::DataLoss(format!(
            "{have} of {} shards",
            params.k()
        )));
    }
    let slots = slots.to_vec();
    let entry = *entry;
    let wrapped = record.wrapped_key.clone();
    let broker = broker.clone();
    tokio::task::spawn_blocking(move || {
        let views: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
        match key_mode {
            KeyMode::Managed => {
                let wrapped = wrapped.ok_or_else(|| {
                    BrokerError::Internal(format!("managed chunk {} has no wrapped key", entry.id))
                })?;
                let wrapped = WrappedChunkKey::from_slice(&wrapped)?;
                let key = broker
                    .keys
                    .kek()
                    .unwrap_chunk_key(&entry.id, &wrapped)
                    .map_err(|_| {
                        BrokerError::Internal(format!(
                            "the key of chunk {} does not unwrap (different master key?)",
                            entry.id.short()
                        ))
                    })?;
                Ok(open_chunk(&views, &entry, params, OpenKey::Managed(&key))?.plaintext)
            }
            KeyMode::EndToEnd => rebuild_sealed(&views, &entry, params),
        }
    })
    .await
    .map_err(|e| BrokerError::Internal(format!("chunk open task failed: {e}")))?
}

/// END_TO_END: rebuild the ciphertext and check it against the chunk id,
/// without decrypting (the broker has no key).
fn rebuild_sealed(
    objects: &[Option<&[u8]>],
    entry: &ManifestChunk,
    params: ErasureParams,
) -> Result<Vec<u8>, BrokerError> {
    let sealed_len = entry.len as usize + crate::validate::E2E_TAG_LEN as usize;
    let bodies: Vec<Option<&[u8]>> = objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let (h, body) = decode_shard_object((*object)?).ok()?;
            let fits = h.chunk_id == entry.id
                && usize::from(h.index) == i
                && usize::from(h.k) == params.k()
                && usize::from(h.m) == params.m()
                && h.chunk_len as usize == sealed_len;
            fits.then_some(body)
        })
        .collect();
    let sealed = params.rebuild(&bodies, sealed_len)?;
    if shardgate_core::ContentId::of(&sealed) != entry.id {
        return Err(BrokerError::DataLoss(format!(
            "chunk {} rebuilt to different bytes",
            entry.id.short()
        )));
    }
    Ok(sealed)
}

/// Issues shard reads for one chunk and remembers what failed.
struct ShardFetcher {
    broker: Arc<Broker>,
    chunk: shardgate_core::ContentId,
    queue: std::vec::IntoIter<ShardLocation>,
    errors: Vec<BackendError>,
}

impl ShardFetcher {
    fn new(broker: Arc<Broker>, record: &ChunkRecord) -> Self {
        let down: BTreeSet<String> = broker
            .registry
            .list()
            .into_iter()
            .filter(|p| !p.up)
            .map(|p| p.name)
            .collect();
        let k = record.k;
        let mut locations = record.shards.clone();
        locations.sort_by_key(|l| (down.contains(&l.provider), l.index >= k, l.index));
        Self {
            broker,
            chunk: record.chunk_id,
            queue: locations.into_iter(),
            errors: Vec::new(),
        }
    }

    fn remaining(&self) -> usize {
        self.queue.len()
    }

    /// Fills `slots` until `want` are present, the queue is exhausted, or
    /// every started read ended.
    async fn fetch(&mut self, slots: &mut [Option<Bytes>], want: usize, hedge: Duration) {
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
                        if let Some(slot) = slots.get_mut(usize::from(loc.index)) {
                            *slot = Some(object);
                            have += 1;
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
    ) -> impl Future<Output = (ShardLocation, Result<Bytes, BackendError>)> + use<> {
        let registry = self.broker.registry.clone();
        let chunk = self.chunk;
        async move {
            let result = match registry.store(&loc.provider) {
                Ok(store) => {
                    let result = store.get_shard(&chunk, loc.index).await;
                    registry.observe(&loc.provider, &result);
                    result.map(|shard| shard.object().clone())
                }
                Err(e) => Err(e),
            };
            (loc, result)
        }
    }

    /// Turns a failed open into DATA_LOSS (shards missing or corrupt) or
    /// UNAVAILABLE (providers unreachable: may pass).
    fn explain(&self, index: u64, k: usize, err: BrokerError) -> BrokerError {
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
