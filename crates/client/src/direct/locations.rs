//! `Storage.GetShardLocations` as a paid call, and its answer checked and
//! turned into chunk jobs: the broker's description of the chunks must
//! tile the served range exactly, name a shard format this SDK reads, and
//! carry a key for every managed chunk, before anything is fetched.

use std::sync::Arc;

use bytes::Bytes;
use shardgate_core::aead::TAG_LEN;
use shardgate_core::shard::SHARD_FORMAT_VERSION;
use shardgate_core::{ChunkKey, ContentId, ErasureParams};
use shardgate_proto::v1 as pb;
use tonic::Status;

use super::{ChunkCipher, ChunkJob};
use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::purchase::PaidCall;

/// `Storage.GetShardLocations`, paid like a Get.
pub(super) struct LocationsCall(pub(super) pb::GetShardLocationsRequest);

impl PaidCall for LocationsCall {
    type Response = pb::GetShardLocationsResponse;
    const TAKES_HOLD: bool = false;

    async fn send(
        &self,
        client: &Client,
        authorization: Option<&str>,
    ) -> std::result::Result<pb::GetShardLocationsResponse, Status> {
        let call = client.authorized(self.0.clone(), authorization)?;
        Ok(client
            .storage()
            .get_shard_locations(call)
            .await?
            .into_inner())
    }
}

/// The chunk jobs of `response`, in order, each cut to `served`.
/// `end_to_end` says which key mode the caller expects (it has the file
/// key and a manifest of an end-to-end blob).
pub(super) fn jobs(
    response: &pb::GetShardLocationsResponse,
    served: &pb::ServedRange,
    end_to_end: bool,
) -> Result<Vec<ChunkJob>> {
    let mode = if end_to_end {
        pb::KeyMode::EndToEnd
    } else {
        pb::KeyMode::Managed
    };
    if response.key_mode != mode as i32 {
        return Err(ClientError::protocol(format!(
            "the broker describes the blob as key mode {}, expected {}",
            response.key_mode,
            mode.as_str_name()
        )));
    }
    let start = served.offset;
    let end = served.offset + served.length;
    let mut next = start;
    let mut jobs = Vec::with_capacity(response.chunks.len());
    for (i, chunk) in response.chunks.iter().enumerate() {
        let chunk_end = chunk.offset.checked_add(chunk.length).ok_or_else(|| {
            ClientError::protocol(format!("chunk {} ends past 2^64", chunk.chunk_index))
        })?;
        // Chunks must follow each other and cover the range: the first may
        // start before it, none may leave a gap.
        let fits = if i == 0 {
            chunk.offset <= start && chunk_end > start
        } else {
            chunk.offset == next
        };
        if !fits || next >= end {
            return Err(ClientError::protocol(format!(
                "chunk {} (stored bytes {}+{}) does not continue the served range {}+{} at {next}",
                chunk.chunk_index, chunk.offset, chunk.length, served.offset, served.length
            )));
        }
        next = chunk_end;
        jobs.push(job(
            chunk,
            start.max(chunk.offset),
            end.min(chunk_end),
            end_to_end,
        )?);
    }
    if next < end {
        return Err(ClientError::protocol(format!(
            "the broker's chunks end at stored byte {next}, before the served range ({end})"
        )));
    }
    Ok(jobs)
}

/// One chunk's job, keeping stored bytes `from..to` of the blob.
fn job(chunk: &pb::ChunkLocation, from: u64, to: u64, end_to_end: bool) -> Result<ChunkJob> {
    let index = chunk.chunk_index;
    let bad = |what: String| ClientError::protocol(format!("chunk {index}: {what}"));
    if chunk.shard_format_version != u32::from(SHARD_FORMAT_VERSION) {
        return Err(bad(format!(
            "shard format version {} (this SDK reads version {SHARD_FORMAT_VERSION})",
            chunk.shard_format_version
        )));
    }
    let params = ErasureParams::new(chunk.k as usize, chunk.m as usize)
        .map_err(|e| bad(format!("erasure parameters: {e}")))?;
    if chunk.shards.len() < params.k() {
        return Err(bad(format!(
            "{} shard URLs, fewer than k={}",
            chunk.shards.len(),
            params.k()
        )));
    }
    if let Some(s) = chunk
        .shards
        .iter()
        .find(|s| s.shard_index as usize >= params.total())
    {
        return Err(bad(format!("shard index {} outside k+m", s.shard_index)));
    }
    let id = hex::decode(&chunk.chunk_id)
        .ok()
        .and_then(|b| ContentId::from_slice(&b).ok())
        .ok_or_else(|| bad("the chunk id is not 64 hex characters".into()))?;
    let sealed_len = usize::try_from(chunk.ciphertext_length)
        .map_err(|_| bad("ciphertext length beyond this platform".into()))?;
    let cipher = match (&chunk.managed_key, end_to_end) {
        (Some(mk), false) => {
            if chunk.ciphertext_length != chunk.length + TAG_LEN as u64 {
                return Err(bad(format!(
                    "{} plaintext bytes cannot seal to {}",
                    chunk.length, chunk.ciphertext_length
                )));
            }
            // The broker sends the two halves of core's chunk key (AES key
            // ‖ nonce); ChunkKey takes them together.
            let key = ChunkKey::from_slice(&[mk.key.as_slice(), mk.nonce.as_slice()].concat())
                .map_err(|e| bad(format!("managed key: {e}")))?;
            ChunkCipher::Managed {
                key: Arc::new(key),
                aad: Bytes::copy_from_slice(&mk.aad),
            }
        }
        (None, true) if chunk.length == chunk.ciphertext_length => ChunkCipher::Stored,
        (None, true) => {
            return Err(bad(format!(
                "{} stored bytes of an end-to-end chunk but {} sealed",
                chunk.length, chunk.ciphertext_length
            )));
        }
        (None, false) => return Err(bad("a managed chunk without its key".into())),
        (Some(_), true) => return Err(bad("a chunk key for an end-to-end chunk".into())),
    };
    let keep = (from - chunk.offset) as usize..(to - chunk.offset) as usize;
    Ok(ChunkJob {
        index,
        id,
        params,
        sealed_len,
        shards: chunk.shards.clone(),
        cipher,
        keep,
    })
}
