//! Direct downloads: the broker sells the range and hands out presigned
//! shard URLs (`Storage.GetShardLocations`); the bytes come straight from
//! the storage providers.
//!
//! Why the broker stays out of the data path: through `Storage.Get` every
//! byte crosses the broker twice (provider → broker → client) and the
//! broker verifies, rebuilds and decrypts every chunk. Here it only checks
//! the payment and presigns a few URLs per chunk, so its CPU and bandwidth
//! do not grow with the download, and the client's throughput is that of
//! the providers.
//!
//! The client takes over what the broker did, and trusts nothing it
//! fetches: each shard object's header must describe the chunk and slot the
//! broker named, and the rebuilt chunk must match its chunk id (BLAKE3 of
//! the sealed chunk, which commits to every byte: the AEAD tag alone would
//! not, as every buyer of the chunk holds its key); then it is decrypted
//! (managed: AES-256-GCM with the chunk key the broker revealed for the
//! paid range; end-to-end: the caller's file key at the chunk's position,
//! after the chunk id was checked against the manifest verified against
//! the blob id). The stored bytes then go through the same checks as a `get` (length,
//! whole-blob content hash), so a [`Download`] from the providers behaves
//! like one from the broker.
//!
//! Shard bodies are not hashed one by one on the way: that only tells
//! *which* shard is bad, and doubled the hashing of a download. When a
//! rebuilt chunk fails its id, its shards are fetched again and each body
//! is checked against the BLAKE3 in its header, so a bad one is replaced by
//! another shard of the chunk, as an unreachable or slow one always is (see
//! `direct/fetch.rs`); only when fewer than k good shards exist does the
//! download fail.

mod fetch;
mod locations;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use shardgate_core::aead::open;
use shardgate_core::{ChunkKey, ContentId, ErasureParams, rebuild_sealed_from_bodies};
use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::{ClientError, ErrorKind, Result};
use crate::get::{Decoder, Download, DownloadParts, Downloaded, GetOptions, Source, e2e_opener};
use fetch::BodyCheck;
use locations::LocationsCall;

/// Chunks fetched at once. Each holds k shard requests, so this bounds the
/// connections (4 × k) and the memory (4 chunks being rebuilt, plus what
/// waits for the reader) of a download, whatever its size; 4 keeps a
/// provider link busy while one chunk is being rebuilt and decrypted.
const CHUNKS_IN_FLIGHT: usize = 4;

/// How a rebuilt chunk turns into stored bytes.
#[derive(Clone)]
enum ChunkCipher {
    /// MANAGED: the chunk key, nonce and AAD the broker revealed.
    Managed { key: Arc<ChunkKey>, aad: Bytes },
    /// END_TO_END: the stored bytes are the ciphertext itself; the
    /// [`Decoder`] opens it with the caller's file key.
    Stored,
}

/// One chunk to fetch: where its shards are, how to open it and which of
/// its stored bytes the range needs.
struct ChunkJob {
    index: u64,
    id: ContentId,
    params: ErasureParams,
    sealed_len: usize,
    shards: Vec<pb::ShardLocation>,
    cipher: ChunkCipher,
    /// Bytes of the chunk's stored bytes that lie in the range.
    keep: Range<usize>,
}

impl Client {
    /// Opens a direct download of `blob_id`: pays like [`Client::get`]
    /// (same [`GetOptions`], one use of the credential), then reads the
    /// shards from the providers. Hold invoices are refused (the broker
    /// cannot see a direct delivery); blobs with shards on `fs` or `memory`
    /// providers fail with [`ErrorKind::FailedPrecondition`] before
    /// anything is paid: use [`Client::get`] for them.
    pub async fn get_direct(&self, blob_id: &str, options: &GetOptions) -> Result<Download> {
        let started = Instant::now();
        // Stat first: it is free, gives the content hash a whole-blob
        // download is checked against, and an end-to-end blob without its
        // key fails here, before anything is paid.
        let info = self.stat(blob_id).await?;
        let (e2e, range) = self.stored_range(blob_id, options).await?;
        if e2e.is_none() && info.key_mode == pb::KeyMode::EndToEnd as i32 {
            // The same refusal `get` gives, from the same place.
            e2e_opener(blob_id, None, &pb::ServedRange::default(), &info)?;
        }
        let call = LocationsCall(pb::GetShardLocationsRequest {
            blob_id: blob_id.to_owned(),
            range,
            url_ttl: None,
        });
        let opened = self.open_paid(&call, &options.payment).await?;
        let response = opened.response;
        let served = response.range.unwrap_or_default();
        let (opener, offset, e2e_length) = e2e_opener(blob_id, e2e, &served, &info)?;
        let jobs = locations::jobs(&response, &served, opener.is_some())?;
        let http = fetch::http_client()?;
        let chunks = futures::stream::iter(jobs)
            .map(move |job| fetch::Task::spawn(fetch_chunk(http.clone(), job)))
            .buffered(CHUNKS_IN_FLIGHT)
            .boxed();
        Ok(Download::new(DownloadParts {
            source: Source::Direct(chunks),
            paid: opened.paid,
            decoder: Decoder::new(&info, &served, opener),
            header: pb::GetHeader {
                blob: Some(info.clone()),
                range: Some(served),
                uses_remaining: response.uses_remaining,
                hold: false,
            },
            info,
            offset,
            e2e_length,
            progress: options.progress.clone(),
            started,
        }))
    }

    /// [`Client::get_direct`] into `path`: written as `path.part` on a
    /// blocking thread, renamed when every check passed, removed otherwise.
    pub async fn get_direct_to_file(
        &self,
        blob_id: &str,
        path: impl AsRef<Path>,
        options: &GetOptions,
    ) -> Result<Downloaded> {
        let target = self.prepare_file(blob_id, path, options).await?;
        self.get_direct(blob_id, options)
            .await?
            .save_to(target)
            .await
    }
}

/// Fetches k shards of one chunk, rebuilds and decrypts it, and returns
/// the stored bytes the range needs. First with bodies unchecked (the
/// chunk id checks them all at once); if the chunk fails, once more with
/// every body hashed, so a bad shard is found and read around.
async fn fetch_chunk(http: reqwest::Client, job: ChunkJob) -> Result<Bytes> {
    let job = Arc::new(job);
    let bodies = fetch::shards(&http, &job, BodyCheck::Deferred).await?;
    match open_fetched(job.clone(), bodies).await {
        Err(failed) if failed.kind() == ErrorKind::Integrity => {
            let bodies = fetch::shards(&http, &job, BodyCheck::Hashed).await?;
            open_fetched(job, bodies).await
        }
        opened => opened,
    }
}

/// Rebuilds, checks and decrypts one chunk on a blocking thread (hashing,
/// erasure decoding and AES are CPU work).
async fn open_fetched(job: Arc<ChunkJob>, bodies: Vec<Option<Bytes>>) -> Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let slots: Vec<Option<&[u8]>> = bodies.iter().map(|b| b.as_deref()).collect();
        let sealed = rebuild_sealed_from_bodies(&slots, &job.id, job.sealed_len, job.params)
            .map_err(|e| chunk_error(job.index, e.into()))?;
        let stored = match &job.cipher {
            ChunkCipher::Managed { key, aad } => open(key, aad, &sealed).map_err(|_| {
                ClientError::integrity(format!(
                    "chunk {} does not decrypt with the key the broker revealed",
                    job.index
                ))
            })?,
            ChunkCipher::Stored => sealed,
        };
        let stored = Bytes::from(stored);
        if job.keep.end > stored.len() {
            return Err(ClientError::protocol(format!(
                "chunk {} holds {} stored bytes, fewer than the broker announced",
                job.index,
                stored.len()
            )));
        }
        Ok(stored.slice(job.keep.clone()))
    })
    .await
    .map_err(|e| ClientError::new(ErrorKind::Internal, format!("a chunk task failed: {e}")))?
}

fn chunk_error(index: u64, e: ClientError) -> ClientError {
    e.context(format_args!("chunk {index}"))
}

/// Waiting longer than this for a shard's response starts a request for
/// another shard of the chunk (see `fetch.rs`).
pub(crate) const HEDGE_AFTER: Duration = Duration::from_secs(2);
