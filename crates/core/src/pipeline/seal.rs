//! Upload side: [`seal_chunk`] (hash → encrypt → id → erasure-code → shard
//! objects) and [`encode_sealed_chunk`] for chunks sealed by the client.

use crate::aead::{E2E_AAD_LEN, MANAGED_AAD, TAG_LEN, e2e_aad, seal_into};
use crate::chunker::MAX_CHUNK_SIZE;
use crate::erasure::{ErasureParams, data_piece};
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
    let sealed_len = plaintext.len() + TAG_LEN;
    let shard_len = params.shard_len(sealed_len);
    // Encrypt straight into what becomes shard object 0: header space, then
    // the whole sealed chunk (and zero padding if shard 0 is longer than the
    // chunk). The other data bodies are copied out of its tail, then it is
    // cut to one object, so the first body is never copied.
    let mut first = vec![0u8; SHARD_HEADER_LEN + sealed_len.max(shard_len)];
    let sealed_area = &mut first[SHARD_HEADER_LEN..SHARD_HEADER_LEN + sealed_len];
    seal_into(&chunk_key, aad, plaintext, sealed_area)?;
    let sealed = &first[SHARD_HEADER_LEN..SHARD_HEADER_LEN + sealed_len];
    let (chunk_id, first_body_hash) = name_chunk(sealed, shard_len);
    let mut objects = Vec::with_capacity(params.total());
    objects.push(Vec::new());
    objects.extend((1..params.k()).map(|index| data_object(sealed, index, shard_len)));
    first.truncate(SHARD_HEADER_LEN + shard_len);
    // Give back the tail's memory now that it lives in the other objects
    // (an in-place shrink for allocations this large, not a copy).
    first.shrink_to_fit();
    objects[0] = first;
    let shards = finish_objects(objects, chunk_id, first_body_hash, sealed_len, params)?;
    Ok(SealedChunk {
        chunk_id,
        // Both lengths are bounded by MAX_CHUNK_SIZE + TAG_LEN < 2^32.
        plaintext_len: plaintext.len() as u32,
        sealed_len: sealed_len as u32,
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
    let shard_len = params.shard_len(sealed.len());
    let (chunk_id, first_body_hash) = name_chunk(sealed, shard_len);
    let objects = (0..params.k())
        .map(|index| data_object(sealed, index, shard_len))
        .collect();
    Ok(EncodedChunk {
        chunk_id,
        // Bounded by MAX_CHUNK_SIZE + TAG_LEN < 2^32 (checked above).
        sealed_len: sealed.len() as u32,
        shards: finish_objects(objects, chunk_id, first_body_hash, sealed.len(), params)?,
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

/// Data shard object `index`: header space, its piece of the sealed chunk,
/// zero padding; written once (no zero-fill under the piece).
fn data_object(sealed: &[u8], index: usize, shard_len: usize) -> Vec<u8> {
    let piece = data_piece(sealed, index, shard_len);
    let mut object = Vec::with_capacity(SHARD_HEADER_LEN + shard_len);
    object.resize(SHARD_HEADER_LEN, 0);
    object.extend_from_slice(piece);
    object.resize(SHARD_HEADER_LEN + shard_len, 0);
    object
}

/// Completes the `k` data objects (header space ‖ body) into all `k + m`
/// shard objects: parity is coded in place into zeroed objects, then each
/// header is written over the reserved first bytes. `first_body_hash`, when
/// known, is BLAKE3 of data body 0 (saves hashing it again).
fn finish_objects(
    mut objects: Vec<Vec<u8>>,
    chunk_id: ContentId,
    first_body_hash: Option<ContentId>,
    sealed_len: usize,
    params: ErasureParams,
) -> Result<Vec<Vec<u8>>, CoreError> {
    let object_len = SHARD_HEADER_LEN + params.shard_len(sealed_len);
    // Not `vec![v; n]`, which would memcpy the template.
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
            sealed_len as u32,
            if index == 0 { first_body_hash } else { None },
        );
    }
    Ok(objects)
}
