//! Reading one chunk back: fetch `k` shards in parallel (hedged, so one
//! slow provider costs at most the hedge delay), rebuild, check the chunk
//! against its id, decrypt (MANAGED). Request order and hedging: `fetch.rs`.
//!
//! Where all `k` data shards are on `fs` providers, their bodies are read
//! straight into the chunk buffer first (`read_placed`: no rebuild copy,
//! one blocking task per chunk instead of one per shard); the chunk is then
//! checked exactly as below, and anything that does not fit falls through
//! to the readings below.
//!
//! Two readings. The first hashes nothing per shard: the backends check
//! each object's header and lengths, and the rebuilt chunk is checked
//! whole, by its chunk id (BLAKE3 of the sealed chunk), then by its AEAD
//! tag. Hashing every body as well only told *which* shard was bad, and
//! cost the broker a fifth of its CPU on a Get. Only when the chunk fails
//! comes the second reading: every shard read again and hashed on its own,
//! so a bad one is a `Corrupt` read (in its provider's health) and the
//! chunk is rebuilt from the good ones.
//!
//! The tag alone is not enough for the first reading: a chunk's key is
//! not a secret from everyone who can write a shard. A direct download
//! reveals the keys of the range it bought, and AES-GCM is not
//! key-committing: whoever holds a key can seal other bytes that pass the
//! tag, so a provider that bought its own chunk could make the broker serve
//! them. The chunk id commits to the exact ciphertext (test
//! `lifecycle::shards_resealed_under_the_chunk_key_are_refused_not_served`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_backends::{BodyCheck, PooledBuf, ShardFetcher};
use shardgate_core::{
    ChunkKey, ErasureParams, KeyMode, ManifestChunk, OpenKey, SHARD_HEADER_LEN, ShardHeader,
    WrappedChunkKey, open_chunk_from_bodies_in, open_chunk_from_data_bodies_in,
    rebuild_sealed_from_bodies_in, sealed_from_data_bodies_in,
};
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;
use crate::get::fetch::{explain, placed_shards, shard_fetcher};
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
    let chunk = ChunkReader {
        params: ErasureParams::new(usize::from(record.k), usize::from(record.m))?,
        hedge: Duration::from_millis(broker.config.pipeline.hedge_delay_ms),
        broker,
        key_mode,
        entry,
        record,
    };
    if let Some((bytes, providers)) = chunk.read_placed().await {
        metrics::chunk_read(started.elapsed());
        return Ok(ChunkRead { bytes, providers });
    }
    let k = chunk.params.k();
    let (fetcher, slots, first) = chunk.reading(Reading::First).await;
    let e = match first {
        Ok(bytes) => return Ok(done(&fetcher, bytes, started)),
        Err(e) => e,
    };
    // Fewer than k shards could be read at all: reading them again would
    // only wait for the same providers twice.
    if slots.iter().flatten().count() < k {
        return Err(explain(&fetcher, index, k, e));
    }
    metrics::chunk_reread();
    tracing::warn!(
        chunk = %chunk.entry.id.short(),
        error = %e,
        "chunk failed its check: reading its shards again, each hashed"
    );
    let (fetcher, _, second) = chunk.reading(Reading::Second).await;
    let bytes = second.map_err(|e| explain(&fetcher, index, k, e))?;
    Ok(done(&fetcher, bytes, started))
}

fn done(fetcher: &ShardFetcher, bytes: PooledBuf, started: Instant) -> ChunkRead {
    metrics::chunk_read(started.elapsed());
    ChunkRead {
        bytes,
        providers: fetcher.sources().map(str::to_owned).collect(),
    }
}

/// Which reading the shards come from: what is checked depends on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Bodies not hashed: only the whole chunk is checked.
    First,
    /// Every body hashed on its own, so a bad shard is known and skipped.
    Second,
}

/// One chunk to read, and what reading it needs.
struct ChunkReader {
    broker: Arc<Broker>,
    key_mode: KeyMode,
    entry: ManifestChunk,
    record: ChunkRecord,
    params: ErasureParams,
    hedge: Duration,
}

impl ChunkReader {
    /// One reading: the first `k` shards that arrive (hedged), and on the
    /// second reading, if they do not open the chunk, every shard not read
    /// yet (a shard that verified on its own may not fit this chunk).
    /// Returns the fetcher (who served, what failed), the shards read and
    /// the opened chunk.
    async fn reading(
        &self,
        reading: Reading,
    ) -> (
        ShardFetcher,
        Vec<Option<Bytes>>,
        Result<PooledBuf, BrokerError>,
    ) {
        let check = match reading {
            Reading::First => BodyCheck::Deferred,
            Reading::Second => BodyCheck::Hashed,
        };
        let mut fetcher = shard_fetcher(&self.broker.registry, &self.record, check);
        let mut slots: Vec<Option<Bytes>> = vec![None; self.params.total()];
        fetcher.fetch(&mut slots, self.params.k(), self.hedge).await;
        let mut result = self.open(&slots).await;
        if reading == Reading::Second && result.is_err() && fetcher.remaining() > 0 {
            fetcher
                .fetch(&mut slots, self.params.total(), Duration::ZERO)
                .await;
            result = self.open(&slots).await;
        }
        (fetcher, slots, result)
    }

    /// The first reading when every data shard is on an `fs` provider:
    /// the bodies read straight into the chunk buffer (no rebuild copy),
    /// checked against the chunk id, decrypted in place. `None` for
    /// anything else — a shard elsewhere or unreadable, a read slower than
    /// the hedge delay, a chunk that fails its check — and the fetcher's
    /// readings take over, which hedge, find the bad shard and report it.
    async fn read_placed(&self) -> Option<(PooledBuf, Vec<String>)> {
        let shards = placed_shards(&self.record);
        let read = self.broker.registry.read_placed_data_shards(
            self.entry.id,
            &shards,
            self.params,
            self.entry.sealed_len(),
        );
        let placed = tokio::time::timeout(self.hedge, read).await.ok()??;
        let opener = self.opener();
        let opened = self
            .broker
            .compute(move || opener.open(Stored::Placed(placed.data)))
            .await;
        match opened {
            Ok(Ok(bytes)) => Some((bytes, placed.providers)),
            _ => None,
        }
    }

    /// Rebuilds (and, in MANAGED mode, decrypts) on the blocking pool.
    async fn open(&self, slots: &[Option<Bytes>]) -> Result<PooledBuf, BrokerError> {
        let params = self.params;
        let have = slots.iter().filter(|s| s.is_some()).count();
        if have < params.k() {
            return Err(BrokerError::DataLoss(format!(
                "{have} of {} shards",
                params.k()
            )));
        }
        let slots = slots.to_vec();
        let opener = self.opener();
        self.broker
            .compute(move || {
                let views = verified_bodies(&slots, &opener.entry, params);
                opener.open(Stored::Bodies(&views))
            })
            .await?
    }

    /// What opening a chunk on the blocking pool needs.
    fn opener(&self) -> Opener {
        Opener {
            broker: self.broker.clone(),
            entry: self.entry,
            key_mode: self.key_mode,
            wrapped: self.record.wrapped_key.clone(),
            params: self.params,
        }
    }
}

/// A chunk's stored bytes as read: the shard bodies the fetcher read (to
/// rebuild), or the data-shard bodies already side by side (`fs`).
enum Stored<'a> {
    Bodies(&'a [Option<&'a [u8]>]),
    Placed(PooledBuf),
}

/// Checks a chunk against its id and, in MANAGED mode, decrypts it.
struct Opener {
    broker: Arc<Broker>,
    entry: ManifestChunk,
    key_mode: KeyMode,
    wrapped: Option<Vec<u8>>,
    params: ErasureParams,
}

impl Opener {
    fn open(self, stored: Stored<'_>) -> Result<PooledBuf, BrokerError> {
        let (entry, params) = (&self.entry, self.params);
        // END_TO_END: the broker has no key; the ciphertext is checked
        // against the chunk id and served without decrypting.
        let key = match self.key_mode {
            KeyMode::Managed => Some(unwrap_key(&self.broker, entry, self.wrapped)?),
            KeyMode::EndToEnd => None,
        };
        let key = key.as_ref().map(OpenKey::Managed);
        let sealed_len = entry.sealed_len();
        Ok(match (stored, key) {
            (Stored::Bodies(views), Some(key)) => {
                open_chunk_from_bodies_in(views, entry, params, key)?
            }
            (Stored::Bodies(views), None) => {
                rebuild_sealed_from_bodies_in(views, &entry.id, sealed_len, params)?
            }
            (Stored::Placed(data), Some(key)) => {
                open_chunk_from_data_bodies_in(data, entry, params, key)?
            }
            (Stored::Placed(data), None) => {
                sealed_from_data_bodies_in(data, &entry.id, sealed_len, params)?
            }
        })
    }
}

/// The chunk key of a MANAGED chunk, unwrapped from its index record.
fn unwrap_key(
    broker: &Broker,
    entry: &ManifestChunk,
    wrapped: Option<Vec<u8>>,
) -> Result<ChunkKey, BrokerError> {
    let wrapped = wrapped.ok_or_else(|| {
        BrokerError::Internal(format!("managed chunk {} has no wrapped key", entry.id))
    })?;
    let wrapped = WrappedChunkKey::from_slice(&wrapped)?;
    broker
        .keys
        .kek()
        .unwrap_chunk_key(&entry.id, &wrapped)
        .map_err(|_| {
            BrokerError::Internal(format!(
                "the key of chunk {} does not unwrap (different master key?)",
                entry.id.short()
            ))
        })
}

/// The bodies of the shard objects the fetcher read. The backends checked
/// each object's header, lengths, chunk id and slot index (and, on the
/// second reading, its body hash). What is left to check here is that the
/// header fits this chunk's layout (k, m, sealed length); a slot that does
/// not counts as missing. The rebuilt chunk is then checked whole, so a
/// body that lies cannot pass.
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
