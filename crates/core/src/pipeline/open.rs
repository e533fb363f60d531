//! Download side: [`open_chunk`] (verify shards → rebuild → check id →
//! decrypt) and [`open_chunk_from_bodies`].

use crate::aead::{MANAGED_AAD, TAG_LEN, e2e_aad, open};
use crate::erasure::ErasureParams;
use crate::error::CoreError;
use crate::id::ContentId;
use crate::keys::{ChunkKey, FileKey};
use crate::manifest::ManifestChunk;
use crate::shard::{ShardHeader, decode_shard_object};

/// The key for opening a chunk.
#[derive(Clone, Copy, Debug)]
pub enum OpenKey<'a> {
    /// The unwrapped managed-mode chunk key (from the index).
    Managed(&'a ChunkKey),
    /// As in [`crate::pipeline::SealKey::EndToEnd`]: opening at the wrong position, or with the
    /// wrong `last` flag, fails.
    EndToEnd {
        file_key: &'a FileKey,
        index: u64,
        last: bool,
    },
}

/// A rebuilt and decrypted chunk. `Debug` shows the length, never the
/// plaintext.
pub struct OpenedChunk {
    pub plaintext: Vec<u8>,
    /// Slots whose object was examined and rejected (bad header, hash
    /// mismatch, or a header that disagrees with the request). The repair
    /// worker should re-create these. Shards after the first `k` good ones
    /// are not examined, so this is not a full scrub.
    pub rejected: Vec<usize>,
}

impl std::fmt::Debug for OpenedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedChunk")
            .field("plaintext_len", &self.plaintext.len())
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// Opens one chunk from its `k + m` shard slots (index order, `None` =
/// missing). Each present object is verified on its own (header, body hash)
/// and against the request (chunk id, slot index, `k`/`m`, length from the
/// manifest); failures count as missing. Verification stops at `k` good
/// shards. With at least `k` good shards the chunk is rebuilt, checked
/// against `chunk.id`, and decrypted.
pub fn open_chunk(
    shards: &[Option<&[u8]>],
    chunk: &ManifestChunk,
    params: ErasureParams,
    key: OpenKey<'_>,
) -> Result<OpenedChunk, CoreError> {
    if shards.len() != params.total() {
        return Err(CoreError::invalid(
            "shard list",
            format!("need {} slots (k+m), got {}", params.total(), shards.len()),
        ));
    }
    let sealed_len = chunk.len as usize + TAG_LEN;
    let mut bodies: Vec<Option<&[u8]>> = vec![None; shards.len()];
    let mut rejected = Vec::new();
    let mut good = 0;
    // Index order puts data shards first: when they all verify, parity is
    // neither hashed nor decoded. We stop at k good shards.
    for (index, object) in shards.iter().enumerate() {
        if good == params.k() {
            break;
        }
        let Some(object) = object else { continue };
        match decode_shard_object(object) {
            Ok((header, body)) if header_matches(&header, chunk, index, params, sealed_len) => {
                bodies[index] = Some(body);
                good += 1;
            }
            _ => rejected.push(index),
        }
    }
    let plaintext = open_chunk_from_bodies(&bodies, chunk, params, key)?;
    Ok(OpenedChunk {
        plaintext,
        rejected,
    })
}

/// Like [`open_chunk`] for callers that already split and verified the
/// shard objects (e.g. the backends' verified reads): takes `k + m` optional
/// *bodies*, rebuilds, checks BLAKE3(rebuilt) against `chunk.id`, decrypts.
/// Skipping per-shard checks is safe for integrity — the chunk id and the
/// AEAD tag still catch any bad byte — it only loses *which* shard was bad.
pub fn open_chunk_from_bodies(
    bodies: &[Option<&[u8]>],
    chunk: &ManifestChunk,
    params: ErasureParams,
    key: OpenKey<'_>,
) -> Result<Vec<u8>, CoreError> {
    let sealed = params.rebuild(bodies, chunk.len as usize + TAG_LEN)?;
    let actual = ContentId::of(&sealed);
    if actual != chunk.id {
        return Err(CoreError::ChunkIdMismatch {
            expected: chunk.id,
            actual,
        });
    }
    match key {
        OpenKey::Managed(key) => open(key, MANAGED_AAD, &sealed),
        OpenKey::EndToEnd {
            file_key,
            index,
            last,
        } => open(
            &file_key.chunk_key(index, last),
            &e2e_aad(index, last),
            &sealed,
        ),
    }
}

fn header_matches(
    header: &ShardHeader,
    chunk: &ManifestChunk,
    index: usize,
    params: ErasureParams,
    sealed_len: usize,
) -> bool {
    header.chunk_id == chunk.id
        && usize::from(header.index) == index
        && usize::from(header.k) == params.k()
        && usize::from(header.m) == params.m()
        && header.chunk_len as usize == sealed_len
}
