//! Upload side: [`seal_chunk`] (hash → encrypt → id → erasure-code → shard
//! objects) and [`encode_sealed_chunk`] for chunks sealed by the client.
//!
//! Both come in a `_in` form that builds the objects in buffers of the
//! caller's type ([`ShardBuf`]): the broker passes pooled, page-aligned
//! buffers, so sealing reuses memory an earlier chunk already touched and
//! providers can write the objects with direct I/O without another copy.

use crate::aead::{E2E_AAD_LEN, MANAGED_AAD, TAG_LEN, e2e_aad, seal_into};
use crate::buffer::ShardBuf;
use crate::chunker::MAX_CHUNK_SIZE;
use crate::erasure::{ErasureParams, MAX_SEALED_CHUNK_LEN, MIN_SEALED_CHUNK_LEN, data_piece};
use crate::error::CoreError;
use crate::id::ContentId;
use crate::keys::{ChunkKey, ConvergenceSecret, FileKey};
use crate::manifest::ManifestChunk;
use crate::shard::{SHARD_HEADER_LEN, write_shard_header};

use super::shared_hash::hash_whole_and_prefix;

/// Where the key for sealing a chunk comes from.
#[derive(Clone, Copy, Debug)]
pub enum SealKey<'a> {
    /// Convergent key from this secret and BLAKE3(plaintext).
    Managed(&'a ConvergenceSecret),
    /// Key from the file key and the chunk's position; `last` is true only
    /// for the final chunk of the blob.
    EndToEnd {
        /// The client's file key the chunk keys are derived from.
        file_key: &'a FileKey,
        /// Zero-based position of the chunk in the blob; bound into the key
        /// and AAD so chunks cannot be reordered.
        index: u64,
        /// True only for the blob's final chunk; detects truncation.
        last: bool,
    },
}

/// A chunk ready to store. `Debug` shows ids and sizes only (no key, no
/// bytes), so it is safe to log.
pub struct SealedChunk<B = Vec<u8>> {
    /// BLAKE3 of the ciphertext; names the chunk in shards and manifest.
    pub chunk_id: ContentId,
    /// Plaintext length (what the manifest records).
    pub plaintext_len: u32,
    /// Sealed length (plaintext + 16-byte tag): the headers' chunk length.
    pub sealed_len: u32,
    /// The key that sealed it. Managed mode: wrap it with
    /// [`crate::keys::KeyEncryptionKey::wrap_chunk_key`] for the index.
    /// End-to-end mode: re-derivable from the file key; drop it.
    pub key: ChunkKey,
    /// `k + m` complete shard objects (header ‖ body), index order.
    pub shards: Vec<B>,
}

impl<B> std::fmt::Debug for SealedChunk<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedChunk")
            .field("chunk_id", &self.chunk_id)
            .field("plaintext_len", &self.plaintext_len)
            .field("sealed_len", &self.sealed_len)
            .field("key", &self.key)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl<B> SealedChunk<B> {
    /// The manifest entry for this chunk.
    pub fn manifest_entry(&self) -> ManifestChunk {
        ManifestChunk {
            id: self.chunk_id,
            len: self.plaintext_len,
        }
    }
}

/// Seals one plaintext chunk (1..=64 MiB) into `k + m` shard objects.
pub fn seal_chunk(
    plaintext: &[u8],
    key: SealKey<'_>,
    params: ErasureParams,
) -> Result<SealedChunk, CoreError> {
    seal_chunk_in(plaintext, key, params)
}

/// [`seal_chunk`], building the sealed chunk and the objects in `B`s.
pub fn seal_chunk_in<B: ShardBuf>(
    plaintext: &[u8],
    key: SealKey<'_>,
    params: ErasureParams,
) -> Result<SealedChunk<B>, CoreError> {
    if plaintext.is_empty() || plaintext.len() > MAX_CHUNK_SIZE {
        return Err(CoreError::invalid(
            "chunk",
            format!("{} bytes outside 1..={MAX_CHUNK_SIZE}", plaintext.len()),
        ));
    }
    let e2e_aad_bytes: [u8; E2E_AAD_LEN];
    let (chunk_key, aad) = match key {
        SealKey::Managed(secret) => (
            secret.chunk_key(blake3::hash(plaintext).as_bytes()),
            MANAGED_AAD,
        ),
        SealKey::EndToEnd {
            file_key,
            index,
            last,
        } => {
            e2e_aad_bytes = e2e_aad(index, last);
            (file_key.chunk_key(index, last), &e2e_aad_bytes[..])
        }
    };
    // Sealed into a scratch buffer of its own, then cut into the data
    // objects: one more copy of the chunk than encrypting into the first
    // object, but every object is a whole buffer the caller can pool.
    let mut sealed = B::with_len(plaintext.len() + TAG_LEN);
    seal_into(&chunk_key, aad, plaintext, sealed.as_mut())?;
    let encoded = encode(sealed.as_ref(), params)?;
    Ok(SealedChunk {
        chunk_id: encoded.chunk_id,
        // Both lengths are bounded by MAX_CHUNK_SIZE + TAG_LEN < 2^32.
        plaintext_len: plaintext.len() as u32,
        sealed_len: encoded.sealed_len,
        key: chunk_key,
        shards: encoded.shards,
    })
}

/// A chunk that arrived already sealed, named and coded.
pub struct EncodedChunk<B = Vec<u8>> {
    /// BLAKE3 of the sealed bytes.
    pub chunk_id: ContentId,
    /// Sealed length (the headers' chunk length).
    pub sealed_len: u32,
    /// `k + m` complete shard objects (header ‖ body), index order.
    pub shards: Vec<B>,
}

impl<B> std::fmt::Debug for EncodedChunk<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedChunk")
            .field("chunk_id", &self.chunk_id)
            .field("sealed_len", &self.sealed_len)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl<B> EncodedChunk<B> {
    /// The manifest entry (plaintext length = sealed length − 16).
    pub fn manifest_entry(&self) -> ManifestChunk {
        ManifestChunk {
            id: self.chunk_id,
            len: self.sealed_len - TAG_LEN as u32,
        }
    }
}

/// Names and erasure-codes a chunk that is already sealed (ciphertext ‖
/// tag), e.g. an end-to-end chunk sealed by the client SDK under a key the
/// broker never sees. Same objects as [`seal_chunk`] would build.
pub fn encode_sealed_chunk(
    sealed: &[u8],
    params: ErasureParams,
) -> Result<EncodedChunk, CoreError> {
    encode_sealed_chunk_in(sealed, params)
}

/// [`encode_sealed_chunk`], building the objects in `B`s.
pub fn encode_sealed_chunk_in<B: ShardBuf>(
    sealed: &[u8],
    params: ErasureParams,
) -> Result<EncodedChunk<B>, CoreError> {
    if !(MIN_SEALED_CHUNK_LEN..=MAX_SEALED_CHUNK_LEN).contains(&sealed.len()) {
        return Err(CoreError::invalid(
            "sealed chunk",
            format!(
                "{} bytes outside {MIN_SEALED_CHUNK_LEN}..={MAX_SEALED_CHUNK_LEN} (plaintext 1..={MAX_CHUNK_SIZE} plus the {TAG_LEN}-byte tag)",
                sealed.len(),
            ),
        ));
    }
    encode(sealed, params)
}

/// Names and codes a sealed chunk whose length is already checked.
fn encode<B: ShardBuf>(sealed: &[u8], params: ErasureParams) -> Result<EncodedChunk<B>, CoreError> {
    let shard_len = params.shard_len(sealed.len());
    let (chunk_id, first_body_hash) = name_chunk(sealed, shard_len);
    let mut objects: Vec<B> = (0..params.total())
        .map(|_| B::with_len(SHARD_HEADER_LEN + shard_len))
        .collect();
    let (data, parity) = objects.split_at_mut(params.k());
    for (index, object) in data.iter_mut().enumerate() {
        // Its piece of the sealed chunk, then zero padding: every body byte
        // is written (pooled buffers arrive holding old bytes).
        let piece = data_piece(sealed, index, shard_len);
        let body = &mut object.as_mut()[SHARD_HEADER_LEN..];
        body[..piece.len()].copy_from_slice(piece);
        body[piece.len()..].fill(0);
    }
    let data: Vec<&[u8]> = data
        .iter()
        .map(|o| &o.as_ref()[SHARD_HEADER_LEN..])
        .collect();
    // The coder overwrites each parity body (its first input is a plain
    // multiply, the rest accumulate), so they need no zeroing.
    let mut parity: Vec<&mut [u8]> = parity
        .iter_mut()
        .map(|o| &mut o.as_mut()[SHARD_HEADER_LEN..])
        .collect();
    params.encode_parity(&data, &mut parity)?;
    for (index, object) in objects.iter_mut().enumerate() {
        // index < k + m <= 48 fits a byte; k, m validated; the sealed length
        // is bounded by MAX_SEALED_CHUNK_LEN < 2^32.
        write_shard_header(
            object.as_mut(),
            chunk_id,
            index as u8,
            params.k() as u8,
            params.m() as u8,
            sealed.len() as u32,
            if index == 0 { first_body_hash } else { None },
        );
    }
    Ok(EncodedChunk {
        chunk_id,
        sealed_len: sealed.len() as u32,
        shards: objects,
    })
}

/// The chunk id and, when data shard 0 is an unpadded prefix of the sealed
/// chunk (every chunk but tiny ones, or `k = 1` with an odd length), its
/// body hash, computed together so their shared bytes are hashed once.
fn name_chunk(sealed: &[u8], shard_len: usize) -> (ContentId, Option<ContentId>) {
    if shard_len <= sealed.len() {
        let (id, first) = hash_whole_and_prefix(sealed, shard_len);
        (id, Some(first))
    } else {
        (ContentId::of(sealed), None)
    }
}
