//! Download side: [`open_chunk`] (verify shards → rebuild → check id →
//! decrypt) and [`open_chunk_from_bodies`]; the rebuild is `rebuild.rs`.

use crate::aead::{MANAGED_AAD, e2e_aad, open_in_place};
use crate::buffer::ShardBuf;
use crate::erasure::ErasureParams;
use crate::error::CoreError;
use crate::keys::{ChunkKey, FileKey};
use crate::manifest::ManifestChunk;
use crate::pipeline::rebuild::{
    rebuild_sealed_chunk, rebuild_sealed_from_bodies_in, sealed_from_data_bodies_in,
};

/// The key for opening a chunk.
#[derive(Clone, Copy, Debug)]
pub enum OpenKey<'a> {
    /// The unwrapped managed-mode chunk key (from the index).
    Managed(&'a ChunkKey),
    /// As in [`crate::pipeline::SealKey::EndToEnd`]: opening at the wrong position, or with the
    /// wrong `last` flag, fails.
    EndToEnd {
        /// The client's file key the chunk keys are derived from.
        file_key: &'a FileKey,
        /// Zero-based position of the chunk in the blob.
        index: u64,
        /// True only when opening the blob's final chunk.
        last: bool,
    },
}

/// A rebuilt and decrypted chunk. `Debug` shows the length, never the
/// plaintext.
pub struct OpenedChunk {
    /// The decrypted chunk, already checked against its chunk id and tag.
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
/// missing): [`rebuild_sealed_chunk`] (each present object verified on its
/// own and against the request — chunk id, slot index, `k`/`m`, length
/// from the manifest —, failures count as missing, verification stops at
/// `k` good shards; rebuilt and checked against `chunk.id`), then decrypted.
pub fn open_chunk(
    shards: &[Option<&[u8]>],
    chunk: &ManifestChunk,
    params: ErasureParams,
    key: OpenKey<'_>,
) -> Result<OpenedChunk, CoreError> {
    let rebuilt = rebuild_sealed_chunk(shards, &chunk.id, chunk.sealed_len(), params)?;
    Ok(OpenedChunk {
        plaintext: open_sealed(rebuilt.sealed, key)?,
        rejected: rebuilt.rejected,
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
    open_chunk_from_bodies_in(bodies, chunk, params, key)
}

/// [`open_chunk_from_bodies`] into a buffer of the caller's type: one
/// buffer for the whole chunk, rebuilt into and decrypted in place.
pub fn open_chunk_from_bodies_in<B: ShardBuf>(
    bodies: &[Option<&[u8]>],
    chunk: &ManifestChunk,
    params: ErasureParams,
    key: OpenKey<'_>,
) -> Result<B, CoreError> {
    let sealed = rebuild_sealed_from_bodies_in(bodies, &chunk.id, chunk.sealed_len(), params)?;
    open_sealed(sealed, key)
}

/// [`open_chunk_from_bodies_in`] for a buffer that already holds the `k`
/// data-shard bodies in order ([`sealed_from_data_bodies_in`]): checked
/// against `chunk.id`, then decrypted in place.
pub fn open_chunk_from_data_bodies_in<B: ShardBuf>(
    data: B,
    chunk: &ManifestChunk,
    params: ErasureParams,
    key: OpenKey<'_>,
) -> Result<B, CoreError> {
    let sealed = sealed_from_data_bodies_in(data, &chunk.id, chunk.sealed_len(), params)?;
    open_sealed(sealed, key)
}

/// Verifies and decrypts a sealed chunk (ciphertext ‖ tag) under `key`,
/// in place: the rebuilt buffer becomes the plaintext.
pub(crate) fn open_sealed<B: ShardBuf>(sealed: B, key: OpenKey<'_>) -> Result<B, CoreError> {
    match key {
        OpenKey::Managed(key) => open_in_place(key, MANAGED_AAD, sealed),
        OpenKey::EndToEnd {
            file_key,
            index,
            last,
        } => open_in_place(
            &file_key.chunk_key(index, last),
            &e2e_aad(index, last),
            sealed,
        ),
    }
}
