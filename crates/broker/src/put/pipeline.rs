//! The bounded upload pipeline: each stream piece is sealed on a sealing
//! thread (`sealer.rs`), checked against the index (dedup), placed, and its
//! shards written in parallel — with at most `window` pieces in flight.
//!
//! # Memory bound
//!
//! A semaphore with `window` permits gates [`UploadPipeline::submit`]: a
//! piece holds its permit from the moment it is submitted until its shards
//! are durable, so at most `window` pieces exist at once, each as plaintext
//! (chunk size) plus shard objects (`(k+m)/k` × chunk size). Add the one
//! piece the caller holds while waiting for a permit and the chunker's
//! partial piece: per upload, memory is about
//! `(window + 2) × chunk × (1 + (k+m)/k)` whatever the blob size — e.g.
//! 4 MiB chunks, 2+1, window 4: ~60 MiB. On top, shard objects already
//! written are kept up to `pipeline.retry_budget_bytes` (64 MiB by
//! default) so a commit that loses a race with GC can be retried once.
//!
//! Across uploads, each submitted piece also reserves its bytes in the
//! broker-wide memory budget (`memory_budget.rs`) before it is queued, and
//! kept shard objects only while that budget has room: many concurrent
//! uploads wait there (then fail with RESOURCE_EXHAUSTED) instead of adding
//! up past it.
//!
//! # Cancellation
//!
//! Every task lives in a `JoinSet`: dropping the pipeline (client hung up,
//! an error returned early) aborts them all. A seal already running on a
//! sealing thread, and an `fs` shard write already started on the blocking
//! pool (shardgate-backends `local_disk.rs`), finish and are discarded;
//! shards already written are orphans for GC, and nothing reaches the index.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use shardgate_backends::{PlacementPolicy, PooledBuf};
use shardgate_core::{ErasureParams, ManifestChunk};
use shardgate_index::ChunkRecord;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::BrokerError;
use crate::memory_budget::{BudgetPermit, STREAM_WINDOW_BYTES, UNIT, shard_object_bytes};
use crate::metrics;
use crate::put::seal::{SealMode, seal_piece};
use crate::put::sealer::on_sealing_thread;
use crate::put::write::write_shards;
use crate::state::Broker;

/// One piece after its shards are durable (or found already stored).
#[derive(Debug, Clone)]
pub(crate) struct StoredChunk {
    /// Position in the blob.
    pub index: u64,
    pub entry: ManifestChunk,
    /// The record for `commit_blob` (the live one when deduplicated).
    pub record: ChunkRecord,
    /// True when the chunk was already live and nothing was written.
    pub deduplicated: bool,
    /// This upload's own sealing of the chunk, kept while the upload's
    /// retry budget lasts, so a commit that loses a race with GC can write
    /// it again.
    pub retained: Option<OwnChunk>,
}

/// A chunk as this upload sealed it.
#[derive(Debug, Clone)]
pub(crate) struct OwnChunk {
    pub shards: Vec<bytes::Bytes>,
    pub sealed_len: u32,
    pub wrapped_key: Option<Vec<u8>>,
    /// Their room in the broker's memory budget.
    _memory: Arc<BudgetPermit>,
}

/// See the module docs.
pub(crate) struct UploadPipeline {
    broker: Arc<Broker>,
    mode: SealMode,
    params: ErasureParams,
    allow_reduced: bool,
    permits: Arc<Semaphore>,
    /// Shard bytes still allowed to be retained (see `OwnChunk`).
    retry_budget: Arc<AtomicI64>,
    tasks: JoinSet<Result<StoredChunk, BrokerError>>,
    done: Vec<StoredChunk>,
    /// Memory reserved for the first piece when the upload was admitted.
    first_piece: Option<BudgetPermit>,
    /// Memory the upload holds while it lives (see `admit`).
    stream: Option<BudgetPermit>,
}

impl UploadPipeline {
    /// A pipeline for an upload of `piece_len`-byte pieces. Waits at most
    /// `pipeline.memory_wait_ms` for room for the first piece and for what
    /// the upload holds while it lives (the piece being cut, the HTTP/2
    /// stream window: memory_budget.rs), then refuses (RESOURCE_EXHAUSTED):
    /// call it before reading any data.
    pub(crate) async fn admit(
        broker: Arc<Broker>,
        mode: SealMode,
        params: ErasureParams,
        allow_reduced: bool,
        piece_len: usize,
    ) -> Result<Self, BrokerError> {
        let stream = piece_len as u64 + u64::from(STREAM_WINDOW_BYTES);
        let mut first = broker
            .memory
            .reserve(piece_cost(piece_len, params) + stream, "an upload")
            .await?;
        let stream = first.split_off(stream);
        let mut pipeline = Self::new(broker, mode, params, allow_reduced);
        pipeline.first_piece = Some(first);
        pipeline.stream = Some(stream);
        Ok(pipeline)
    }

    fn new(
        broker: Arc<Broker>,
        mode: SealMode,
        params: ErasureParams,
        allow_reduced: bool,
    ) -> Self {
        let window = broker.config.pipeline.window.max(1);
        let budget = i64::try_from(broker.config.pipeline.retry_budget_bytes).unwrap_or(i64::MAX);
        Self {
            broker,
            mode,
            params,
            allow_reduced,
            permits: Arc::new(Semaphore::new(window)),
            retry_budget: Arc::new(AtomicI64::new(budget)),
            tasks: JoinSet::new(),
            done: Vec::new(),
            first_piece: None,
            stream: None,
        }
    }

    /// Queues piece `index`; waits while `window` pieces are in flight.
    /// Returns the first error of any earlier piece.
    pub(crate) async fn submit(&mut self, index: u64, piece: PooledBuf) -> Result<(), BrokerError> {
        let permit = loop {
            self.reap()?;
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => break permit
                    .map_err(|_| BrokerError::Internal("upload semaphore closed".to_owned()))?,
                // A failing piece must not leave us waiting for a permit:
                // surface its error as soon as it ends.
                Some(result) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    self.done.push(flatten(result)?);
                }
            }
        };
        // Room for the piece and its shard objects, held until they are
        // durable. Waiting here also stops reading the client's stream. The
        // first piece's room was reserved before any data was read (a
        // refusal there is clean); later pieces wait as long as it takes:
        // the pieces in flight free theirs without the client's help.
        let memory = match self.first_piece.take() {
            Some(reserved) => reserved,
            None => {
                // Never more than the budget minus what this upload holds
                // for its stream: a small budget must not leave a piece
                // waiting for room only its own upload could free.
                let memory = &self.broker.memory;
                let held = self.stream.as_ref().map_or(0, BudgetPermit::bytes);
                let room = memory.total_bytes().saturating_sub(held).max(UNIT);
                memory
                    .reserve_waiting(piece_cost(piece.len(), self.params).min(room))
                    .await?
            }
        };
        let broker = self.broker.clone();
        let mode = self.mode.clone();
        let params = self.params;
        let allow_reduced = self.allow_reduced;
        let budget = self.retry_budget.clone();
        self.tasks.spawn(async move {
            let _permit = permit;
            let _memory = memory;
            store_piece(broker, mode, params, allow_reduced, budget, index, piece).await
        });
        Ok(())
    }

    /// Waits for every piece; chunks in blob order.
    pub(crate) async fn finish(mut self) -> Result<Vec<StoredChunk>, BrokerError> {
        while let Some(result) = self.tasks.join_next().await {
            self.done.push(flatten(result)?);
        }
        let mut done = std::mem::take(&mut self.done);
        done.sort_by_key(|c| c.index);
        Ok(done)
    }

    fn reap(&mut self) -> Result<(), BrokerError> {
        while let Some(result) = self.tasks.try_join_next() {
            self.done.push(flatten(result)?);
        }
        Ok(())
    }
}

fn flatten(
    result: Result<Result<StoredChunk, BrokerError>, tokio::task::JoinError>,
) -> Result<StoredChunk, BrokerError> {
    result.map_err(|e| BrokerError::Internal(format!("upload task failed: {e}")))?
}

/// seal → dedup check → place → write every shard in parallel.
async fn store_piece(
    broker: Arc<Broker>,
    mode: SealMode,
    params: ErasureParams,
    allow_reduced: bool,
    retry_budget: Arc<AtomicI64>,
    index: u64,
    piece: PooledBuf,
) -> Result<StoredChunk, BrokerError> {
    let started = std::time::Instant::now();
    let seal_mode = mode.clone();
    // The CPU permit (shared with downloads) is held by the job itself, so
    // it is only returned when the seal is over, even if this task is
    // aborted meanwhile.
    let cpu = broker
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| BrokerError::Internal("CPU semaphore closed".to_owned()))?;
    let sealed = on_sealing_thread(move || {
        let _cpu = cpu;
        seal_piece(&seal_mode, piece.as_ref(), params)
    })
    .await??;
    metrics::chunk_sealed(started.elapsed());
    let chunk_id = sealed.entry.id;
    let size: i64 = sealed.shards.iter().map(|s| s.len() as i64).sum();
    // Taken from the upload's retry budget for good: once one chunk is not
    // retained the upload cannot be retried anyway. Kept only while the
    // broker's memory budget has room too: a retry is a nicety, transfers
    // are not.
    let keep = retry_budget.fetch_sub(size, Ordering::Relaxed) >= size;
    let retained = keep
        .then(|| broker.memory.try_reserve(size as u64))
        .flatten()
        .map(|memory| OwnChunk {
            shards: sealed.shards.clone(),
            sealed_len: sealed.sealed_len,
            wrapped_key: sealed.wrapped_key.clone(),
            _memory: Arc::new(memory),
        });

    // END_TO_END chunks are under random keys: equal ids do not happen by
    // chance, so the look-up is skipped (and the proto reports 0 dedup).
    if matches!(mode, SealMode::Managed { .. })
        && let Some(Some(live)) = broker.index.live_chunks(&[chunk_id]).await?.pop()
    {
        metrics::chunk_deduplicated();
        return Ok(StoredChunk {
            index,
            entry: sealed.entry,
            record: live,
            deduplicated: true,
            retained,
        });
    }

    let policy = PlacementPolicy {
        k: params.k() as u8,
        m: params.m() as u8,
        allow_reduced,
    };
    let placement = broker.registry.place(&chunk_id, policy)?;
    let shards = write_shards(
        &broker.registry,
        &chunk_id,
        &placement.shard_providers,
        &sealed.shards,
    )
    .await?;
    Ok(StoredChunk {
        index,
        entry: sealed.entry,
        record: ChunkRecord {
            chunk_id,
            k: params.k() as u8,
            m: params.m() as u8,
            sealed_len: sealed.sealed_len,
            shards,
            wrapped_key: sealed.wrapped_key,
            refcount: 0,
            shards_version: 0,
        },
        deduplicated: false,
        retained,
    })
}

/// Memory one piece of `len` bytes holds until its shards are durable: the
/// piece, and k+m shard objects (sealing adds a tag, padding and headers;
/// 64 bytes covers them).
fn piece_cost(len: usize, params: ErasureParams) -> u64 {
    let sealed = u32::try_from(len + 64).unwrap_or(u32::MAX);
    len as u64 + shard_object_bytes(sealed, params.k() as u8) * params.total() as u64
}
