//! Reading one chunk back: fetch shards in parallel, keep the first `k`
//! that verify, rebuild, check the chunk id, decrypt (MANAGED) — with
//! hedging so one slow provider costs at most the hedge delay.
//! (request order and hedging: `fetch.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_core::{
    ErasureParams, KeyMode, ManifestChunk, OpenKey, WrappedChunkKey, open_chunk,
    rebuild_sealed_chunk,
};
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;
use crate::get::fetch::{explain, shard_fetcher};
use crate::metrics;
use crate::state::Broker;

/// One chunk read back.
pub(super) struct ChunkRead {
    /// Plaintext (MANAGED) or the sealed ciphertext (END_TO_END, served as stored).
    pub bytes: Vec<u8>,
    /// The provider of each shard the rebuild used (for the payment split).
    pub providers: Vec<String>,
}

/// Reads chunk `index` of a blob: its stored bytes and who served them.
pub(super) async fn read_chunk(
    broker: Arc<Broker>,
    key_mode: KeyMode,
    index: u64,
    entry: ManifestChunk,
    record: ChunkRecord,
) -> Result<ChunkRead, BrokerError> {
    let started = Instant::now();
    let params = ErasureParams::new(usize::from(record.k), usize::from(record.m))?;
    let hedge = Duration::from_millis(broker.config.pipeline.hedge_delay_ms);
    let mut fetcher = shard_fetcher(&broker.registry, &record);
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
    let bytes = result.map_err(|e| explain(&fetcher, index, params.k(), e))?;
    metrics::chunk_read(started.elapsed());
    Ok(ChunkRead {
        bytes,
        providers: fetcher.sources().map(str::to_owned).collect(),
    })
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
    let inner = broker.clone();
    broker
        .compute(move || {
            let views: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
            match key_mode {
                KeyMode::Managed => {
                    let wrapped = wrapped.ok_or_else(|| {
                        BrokerError::Internal(format!(
                            "managed chunk {} has no wrapped key",
                            entry.id
                        ))
                    })?;
                    let wrapped = WrappedChunkKey::from_slice(&wrapped)?;
                    let key = inner
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
                // The broker has no key: rebuild the ciphertext and check
                // it against the chunk id, without decrypting.
                KeyMode::EndToEnd => {
                    Ok(rebuild_sealed_chunk(&views, &entry.id, entry.sealed_len(), params)?.sealed)
                }
            }
        })
        .await?
}
