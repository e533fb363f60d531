//! Upload side: [`seal_chunk`] (hash → encrypt → id → erasure-code → shard
//! objects) and [`encode_sealed_chunk`] for chunks sealed by the client.

use crate::aead::{MANAGED_AAD, TAG_LEN, e2e_aad, seal};
use crate::chunker::MAX_CHUNK_SIZE;
use crate::erasure::{ErasureParams, data_piece};
use crate::error::CoreError;
use crate::id::ContentId;
use crate::keys::{ChunkKey, ConvergenceSecret, FileKey};
use crate::manifest::ManifestChunk;
use crate::shard::{SHARD_HEADER_LEN, write_shard_header};

/// Where the key for sealing a chunk comes from.
#[derive(Clone, Copy, Debug)]
pub enum SealKey<'a> {
    /// Convergent key from this secret and BLAKE3(plaintext).
    Managed(&'a ConvergenceSecret),
    /// Key from the file key and the chunk's position; `last` is true only
    /// for the final chunk of the blob.
    EndToEnd {
        file_key: &'a FileKey,
        index: u64,
        last: bool,
    },
}

/// A chunk ready to store. `Debug` shows ids and sizes only (no key, no
/// bytes), so it is safe to log.
pub struct SealedChunk {
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
    pub shards: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SealedChunk {
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

impl SealedChunk {
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
    if plaintext.is_empty() || plaintext.len() > MAX_CHUNK_SIZE {
        return Err(CoreError::invalid(
            "chunk",
            format!("{} bytes outside 1..={MAX_CHUNK_SIZE}", plaintext.len()),
        ));
    }
    let (chunk_key, sealed) = match key {
        SealKey::Managed(secret) => {
            let key = secret.chunk_key(blake3::hash(plaintext).as_bytes());
            let sealed = seal(&key, MANAGED_AAD, plaintext)?;
            (key, sealed)
        }
        SealKey::EndToEnd {
            file_key,
            index,
            last,
        } => {
            let key = file_key.chunk_key(index, last);
            let sealed = seal(&key, &e2e_aad(index, last), plaintext)?;
            (key, sealed)
        }
    };
    let chunk_id = ContentId::of(&sealed);
    // Both lengths are bounded by MAX_CHUNK_SIZE + TAG_LEN < 2^32.
    let sealed_len = sealed.len() as u32;
    let shards = shard_objects(&sealed, chunk_id, params)?;
    Ok(SealedChunk {
        chunk_id,
        plaintext_len: plaintext.len() as u32,
        sealed_len,
        key: chunk_key,
        shards,
    })
}

/// A chunk that arrived already sealed, named and coded.
#[derive(Debug)]
pub struct EncodedChunk {
    /// BLAKE3 of the sealed bytes.
    pub chunk_id: ContentId,
    /// Sealed length (the headers' chunk length).
    pub sealed_len: u32,
    /// `k + m` complete shard objects (header ‖ body), index order.
    pub shards: Vec<Vec<u8>>,
}

impl EncodedChunk {
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
    if sealed.len() <= TAG_LEN || sealed.len() > MAX_CHUNK_SIZE + TAG_LEN {
        return Err(CoreError::invalid(
            "sealed chunk",
            format!(
                "{} bytes outside {}..={} (plaintext 1..={MAX_CHUNK_SIZE} plus the {TAG_LEN}-byte tag)",
                sealed.len(),
                TAG_LEN + 1,
                MAX_CHUNK_SIZE + TAG_LEN
            ),
        ));
    }
    let chunk_id = ContentId::of(sealed);
    Ok(EncodedChunk {
        chunk_id,
        // Bounded by MAX_CHUNK_SIZE + TAG_LEN < 2^32 (checked above).
        sealed_len: sealed.len() as u32,
        shards: shard_objects(sealed, chunk_id, params)?,
    })
}

/// Builds the `k + m` shard objects of a sealed chunk. Each object buffer is
/// allocated once: data bodies are copied in, parity is coded in place, then
/// each header is written over the reserved first bytes.
fn shard_objects(
    sealed: &[u8],
    chunk_id: ContentId,
    params: ErasureParams,
) -> Result<Vec<Vec<u8>>, CoreError> {
    let shard_len = params.shard_len(sealed.len());
    let object_len = SHARD_HEADER_LEN + shard_len;
    // Data objects: header space, the piece, zero padding; written once
    // (no zero-fill under the piece). Parity objects: zeroed (the codec
    // overwrites them). Not `vec![v; n]`, which would memcpy the template.
    let mut objects: Vec<Vec<u8>> = (0..params.k())
        .map(|index| {
            let piece = data_piece(sealed, index, shard_len);
            let mut object = Vec::with_capacity(object_len);
            object.resize(SHARD_HEADER_LEN, 0);
            object.extend_from_slice(piece);
            object.resize(object_len, 0);
            object
        })
        .collect();
    objects.extend((0..params.m()).map(|_| vec![0u8; object_len]));
    let (data, parity) = objects.split_at_mut(params.k());
    let data: Vec<&[u8]> = data.iter().map(|o| &o[SHARD_HEADER_LEN..]).collect();
    let mut parity: Vec<&mut [u8]> = parity
        .iter_mut()
        .map(|o| &mut o[SHARD_HEADER_LEN..])
        .collect();
    params.encode_parity(&data, &mut parity)?;
    for (index, object) in objects.iter_mut().enumerate() {
        // index < k + m <= 48 fits a byte; k, m validated; the sealed length
        // is bounded by MAX_SEALED_CHUNK_LEN < 2^32.
        write_shard_header(
            object,
            chunk_id,
            index as u8,
            params.k() as u8,
            params.m() as u8,
            sealed.len() as u32,
        );
    }
    Ok(objects)
}
