//! Fetching k good shards of one chunk from presigned URLs.
//!
//! The first k URLs (the broker lists data shards first: rebuilding from
//! them is a copy, not a decode) are requested at once. A shard that fails
//! (connection refused, HTTP error, cut short) or does not check out (bad
//! header, a header describing another chunk or slot, or — when the
//! caller asks for [`BodyCheck::Hashed`] — a body that is not the one its
//! header hashed) is replaced by the next shard of the chunk, a parity
//! shard. A request that stays unanswered is not waited out: after
//! [`HEDGE_AFTER`] without any shard arriving, one more shard is requested
//! alongside it (hedging), and whichever k arrive first win; the rest are
//! dropped. One dead or stalled
//! provider so costs a chunk about two seconds, not a timeout, and a
//! healthy download never asks for more than k shards.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use shardgate_core::erasure::shard_len_for;
use shardgate_core::{SHARD_HEADER_LEN, decode_shard_object, split_shard_object};
use shardgate_proto::v1 as pb;
use tokio::task::JoinHandle;

use super::{ChunkJob, HEDGE_AFTER};
use crate::error::{ClientError, ErrorKind, Result};

/// A provider that does not accept a connection within this is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A response that stops sending for this long is given up (hedging has
/// usually replaced it long before).
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP client of one direct download (its connection pool is reused
/// by all chunks).
pub(super) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| {
            ClientError::new(
                ErrorKind::Internal,
                format!("cannot set up the HTTP client: {e}"),
            )
        })
}

/// A chunk fetched on its own task, so the chunks in flight make progress
/// (and their hedge timers measure the providers) while the reader is busy;
/// aborted when dropped, so an abandoned download stops fetching.
pub(super) struct Task(JoinHandle<Result<Bytes>>);

impl Task {
    pub(super) fn spawn(work: impl Future<Output = Result<Bytes>> + Send + 'static) -> Task {
        Task(tokio::spawn(work))
    }
}

impl Future for Task {
    type Output = Result<Bytes>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Bytes>> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(ClientError::new(
                    ErrorKind::Internal,
                    format!("a chunk task failed: {e}"),
                ))
            })
        })
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How much of each fetched shard is checked before the rebuild.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BodyCheck {
    /// Header and lengths only: the rebuilt chunk's id checks the bodies.
    Deferred,
    /// Also BLAKE3 of the body against the header, to find a bad shard.
    Hashed,
}

/// Why one shard could not be used.
enum Failure {
    /// Not fetched: connection, HTTP status, timeout.
    Unreachable(String),
    /// Fetched, but not a valid shard of this chunk.
    Corrupt(String),
}

/// The bodies of k shards of `job` that passed `check`, by shard index
/// (`None` for the others).
pub(super) async fn shards(
    http: &reqwest::Client,
    job: &ChunkJob,
    check: BodyCheck,
) -> Result<Vec<Option<Bytes>>> {
    let k = job.params.k();
    let mut bodies: Vec<Option<Bytes>> = vec![None; job.params.total()];
    let mut waiting = job.shards.iter();
    let mut running = FuturesUnordered::new();
    for location in waiting.by_ref().take(k) {
        running.push(fetch_one(http, location, job, check));
    }
    let mut good = 0;
    let mut failures = Vec::new();
    let mut corrupt = 0;
    while good < k {
        if running.is_empty() {
            let kind = if corrupt > 0 {
                ErrorKind::Integrity
            } else {
                ErrorKind::Unavailable
            };
            return Err(ClientError::new(
                kind,
                format!(
                    "chunk {}: {good} good shards of the k={k} needed ({})",
                    job.index,
                    failures.join("; ")
                ),
            ));
        }
        tokio::select! {
            Some((location, result)) = running.next() => match result {
                Ok(body) => {
                    let slot = &mut bodies[location.shard_index as usize];
                    if slot.is_none() {
                        *slot = Some(body);
                        good += 1;
                    }
                }
                Err(failure) => {
                    let what = match failure {
                        Failure::Unreachable(why) => why,
                        Failure::Corrupt(why) => {
                            corrupt += 1;
                            why
                        }
                    };
                    failures.push(format!(
                        "shard {} on {}: {what}",
                        location.shard_index, location.provider
                    ));
                    if let Some(next) = waiting.next() {
                        running.push(fetch_one(http, next, job, check));
                    }
                }
            },
            () = tokio::time::sleep(HEDGE_AFTER) => {
                if let Some(next) = waiting.next() {
                    running.push(fetch_one(http, next, job, check));
                }
            }
        }
    }
    Ok(bodies)
}

/// Fetches one shard object and checks it as `check` says; returns its
/// body.
async fn fetch_one<'a>(
    http: &reqwest::Client,
    location: &'a pb::ShardLocation,
    job: &ChunkJob,
    check: BodyCheck,
) -> (&'a pb::ShardLocation, std::result::Result<Bytes, Failure>) {
    let result = async {
        let unreachable = |e: reqwest::Error| Failure::Unreachable(e.to_string());
        let mut response = http.get(&location.url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(Failure::Unreachable(format!("HTTP {}", response.status())));
        }
        // The object's size follows from the chunk: never read more, what
        // ever the URL sends.
        let size = SHARD_HEADER_LEN + shard_len_for(job.sealed_len, job.params.k());
        let mut object = BytesMut::with_capacity(size);
        while let Some(piece) = response.chunk().await.map_err(unreachable)? {
            if object.len() + piece.len() > size {
                return Err(Failure::Corrupt(format!(
                    "the object is longer than the {size} bytes of a shard of this chunk"
                )));
            }
            object.extend_from_slice(&piece);
        }
        let object = object.freeze();
        let split = match check {
            BodyCheck::Deferred => split_shard_object(&object),
            BodyCheck::Hashed => decode_shard_object(&object),
        };
        let (header, _) = split.map_err(|e| Failure::Corrupt(e.to_string()))?;
        let fits = header.chunk_id == job.id
            && u32::from(header.index) == location.shard_index
            && usize::from(header.k) == job.params.k()
            && usize::from(header.m) == job.params.m()
            && header.chunk_len as usize == job.sealed_len;
        if !fits {
            return Err(Failure::Corrupt(format!(
                "the header describes shard {} of chunk {} ({}+{}, {} bytes), not this one",
                header.index,
                header.chunk_id.short(),
                header.k,
                header.m,
                header.chunk_len
            )));
        }
        Ok(object.slice(SHARD_HEADER_LEN..))
    }
    .await;
    (location, result)
}
