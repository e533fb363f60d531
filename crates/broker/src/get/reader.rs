//! Reading one chunk back: fetch shards in parallel, keep the first `k`
//! that verify, rebuild, check the chunk id, decrypt (MANAGED) — with
//! hedging so one slow provider costs at most the hedge delay.
//! (request order and hedging: `fetch.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_backends::PooledBuf;
use shardgate_core::{
    ErasureParams, KeyMode, ManifestChunk, OpenKey, SHARD_HEADER_LEN, ShardHeader, WrappedChunkKey,
    open_chunk_from_bodies_in, rebuild_sealed_from_bodies_in,
};
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;
use crate::get::fetch::{explain, shard_fetcher};
use crate::metrics;
use crate::state::Broker;

/// One chunk read back.
pub(super) struct ChunkRead {
    /// Plaintext (MANAGED) or the sealed ciphertext (END_TO_END, served as
    /// stored), in a pooled buffer: rebuilt into and decrypted in place, so
    /// a chunk read allocates nothing chunk-sized (docs/performance.md,
    /// "Many transfers at once").
    pub bytes: PooledBuf,
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
) -> Result<PooledBuf, BrokerError> {
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
            let views = verified_bodies(&slots, &entry, params);
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
                    Ok(open_chunk_from_bodies_in(
                        &views,
                        &entry,
                        params,
                        OpenKey::Managed(&key),
                    )?)
                }
                // The broker has no key: rebuild the ciphertext and check
                // it against the chunk id, without decrypting.
                KeyMode::EndToEnd => Ok(rebuild_sealed_from_bodies_in(
                    &views,
                    &entry.id,
                    entry.sealed_len(),
                    params,
                )?),
            }
        })
        .await?
}

/// The bodies of the shard objects the fetcher read, without hashing them
/// again: the backends' `get_shard` already checked each object's header,
/// body hash, chunk id and slot index (a third BLAKE3 pass over every byte
/// served, with the chunk id check, was ~1/3 of the broker's hashing on a
/// Get). What is left to check here is that the header fits this chunk's
/// layout (k, m, sealed length); a slot that does not counts as missing.
/// The rebuilt chunk is still checked against its id, so a body that lies
/// cannot pass.
fn verified_bodies<'a>(
    slots: &'a [Option<Bytes>],
    entry: &ManifestChunk,
    params: ErasureParams,
) -> Vec<Option<&'a [u8]>> {
    slots
        .iter()
        .map(|slot| {
            let object = slot.as_deref()?;
            let header = ShardHeader::decode(object.get(..SHARD_HEADER_LEN)?).ok()?;
            let fits = usize::from(header.k) == params.k()
                && usize::from(header.m) == params.m()
                && header.chunk_len as usize == entry.sealed_len();
            fits.then(|| &object[SHARD_HEADER_LEN..])
        })
        .collect()
}
