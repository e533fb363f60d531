//! Self-describing shard objects: a fixed 80-byte header, then the body.
//!
//! Layout (all integers big-endian), format version 1:
//!
//! | offset | len | field                                        |
//! |-------:|----:|----------------------------------------------|
//! | 0      | 4   | magic `"SGSH"`                               |
//! | 4      | 1   | format version (`1`)                         |
//! | 5      | 1   | `k` data shards (1..=32)                     |
//! | 6      | 1   | `m` parity shards (1..=16)                   |
//! | 7      | 1   | shard index (`< k + m`; data first)          |
//! | 8      | 32  | chunk id (BLAKE3 of the chunk ciphertext)    |
//! | 40     | 4   | chunk length (ciphertext bytes)              |
//! | 44     | 4   | shard length (body bytes)                    |
//! | 48     | 32  | BLAKE3 of the body                           |
//!
//! The header alone is enough to check a shard (scrub) and to rebuild the
//! index from what providers hold.

use crate::erasure::{ErasureParams, MAX_SEALED_CHUNK_LEN, shard_len_for};
use crate::error::CoreError;
use crate::id::ContentId;

/// Magic at the start of every shard object ("ShardGate SHard").
pub const SHARD_MAGIC: [u8; 4] = *b"SGSH";
/// The only shard format version this build reads and writes.
pub const SHARD_FORMAT_VERSION: u8 = 1;
/// Fixed header length of format version 1: 4+1+1+1+1+32+4+4+32.
pub const SHARD_HEADER_LEN: usize = 80;

const WHAT: &str = "shard header";

/// Decoded shard header. Decoding guarantees the fields are in bounds and
/// consistent (`index < k + m`, `shard_len` follows from `chunk_len` and `k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// BLAKE3 of the sealed chunk (ciphertext ‖ tag) this shard belongs to.
    pub chunk_id: ContentId,
    /// Position of this shard in the erasure code: `0..k` are data shards,
    /// `k..k + m` parity shards.
    pub index: u8,
    /// Number of data shards the chunk was split into (1..=32).
    pub k: u8,
    /// Number of parity shards (1..=16); any `m` shards may be lost.
    pub m: u8,
    /// Length in bytes of the sealed chunk (ciphertext ‖ tag), not the
    /// plaintext.
    pub chunk_len: u32,
    /// Length in bytes of the shard body following the header; determined by
    /// `chunk_len` and `k`.
    pub shard_len: u32,
    /// BLAKE3 of the shard body, checked before the body is used.
    pub body_hash: ContentId,
}

impl ShardHeader {
    /// The canonical 80 header bytes.
    pub fn encode(&self) -> [u8; SHARD_HEADER_LEN] {
        let mut out = [0u8; SHARD_HEADER_LEN];
        out[0..4].copy_from_slice(&SHARD_MAGIC);
        out[4] = SHARD_FORMAT_VERSION;
        out[5] = self.k;
        out[6] = self.m;
        out[7] = self.index;
        out[8..40].copy_from_slice(self.chunk_id.as_bytes());
        out[40..44].copy_from_slice(&self.chunk_len.to_be_bytes());
        out[44..48].copy_from_slice(&self.shard_len.to_be_bytes());
        out[48..80].copy_from_slice(self.body_hash.as_bytes());
        out
    }

    /// Decodes exactly one header: `bytes` must be exactly
    /// [`SHARD_HEADER_LEN`] long. Checks magic, version, `k`/`m` bounds,
    /// index range, chunk length bound, and that the shard length is the one
    /// the erasure layout gives for this chunk length.
    pub fn decode(bytes: &[u8]) -> Result<ShardHeader, CoreError> {
        // Magic and version first: a future version may have another length,
        // and "unknown version" is more useful to the caller than "truncated".
        if bytes.len() < 5 {
            return Err(CoreError::Truncated {
                what: WHAT,
                needed: SHARD_HEADER_LEN,
                got: bytes.len(),
            });
        }
        if bytes[0..4] != SHARD_MAGIC {
            return Err(CoreError::BadMagic { what: WHAT });
        }
        if bytes[4] != SHARD_FORMAT_VERSION {
            return Err(CoreError::UnsupportedVersion {
                what: WHAT,
                version: bytes[4],
            });
        }
        if bytes.len() < SHARD_HEADER_LEN {
            return Err(CoreError::Truncated {
                what: WHAT,
                needed: SHARD_HEADER_LEN,
                got: bytes.len(),
            });
        }
        if bytes.len() > SHARD_HEADER_LEN {
            return Err(CoreError::TrailingBytes {
                what: WHAT,
                extra: bytes.len() - SHARD_HEADER_LEN,
            });
        }
        let (k, m, index) = (bytes[5], bytes[6], bytes[7]);
        let params = ErasureParams::new(usize::from(k), usize::from(m))?;
        if usize::from(index) >= params.total() {
            return Err(CoreError::malformed(
                WHAT,
                format!("shard index {index} not below k+m={}", params.total()),
            ));
        }
        let chunk_id = ContentId::from_bytes(read_array(&bytes[8..40]));
        let chunk_len = u32::from_be_bytes(read_array(&bytes[40..44]));
        let shard_len = u32::from_be_bytes(read_array(&bytes[44..48]));
        let body_hash = ContentId::from_bytes(read_array(&bytes[48..80]));
        if chunk_len == 0 || chunk_len as usize > MAX_SEALED_CHUNK_LEN {
            return Err(CoreError::malformed(
                WHAT,
                format!("chunk length {chunk_len} outside 1..={MAX_SEALED_CHUNK_LEN}"),
            ));
        }
        let expected = shard_len_for(chunk_len as usize, params.k());
        if shard_len as usize != expected {
            return Err(CoreError::malformed(
                WHAT,
                format!(
                    "shard length {shard_len} disagrees with chunk length {chunk_len} and k={k} (expected {expected})"
                ),
            ));
        }
        Ok(ShardHeader {
            chunk_id,
            index,
            k,
            m,
            chunk_len,
            shard_len,
            body_hash,
        })
    }
}

/// Copies a slice whose length the caller has fixed by range into an array.
fn read_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// Builds `header ‖ body`; the body hash is computed here.
///
/// `body.len()` must be [`shard_len_for`]`(chunk_len, k)` (what
/// [`crate::erasure::ErasureParams::encode`] produces); any other length, or
/// out-of-bounds `k`/`m`/`index`, yields an object that
/// [`decode_shard_object`] rejects. Use [`try_encode_shard_object`] to get
/// that error at write time instead.
pub fn encode_shard_object(
    chunk_id: ContentId,
    index: u8,
    k: u8,
    m: u8,
    chunk_len: u32,
    body: &[u8],
) -> Vec<u8> {
    let header = ShardHeader {
        chunk_id,
        index,
        k,
        m,
        chunk_len,
        // Saturate: a body over 4 GiB can never be valid, and saturating
        // keeps the mismatch visible to the decoder instead of wrapping.
        shard_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
        body_hash: ContentId::of(body),
    };
    let mut out = Vec::with_capacity(SHARD_HEADER_LEN + body.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
    out
}

/// Fills the first [`SHARD_HEADER_LEN`] bytes of `object` with the header
/// for the body that follows them. `body_hash` is BLAKE3 of that body when
/// the caller has it already, else it is computed here. Lets the pipeline
/// code parity straight into its final object buffers.
pub(crate) fn write_shard_header(
    object: &mut [u8],
    chunk_id: ContentId,
    index: u8,
    k: u8,
    m: u8,
    chunk_len: u32,
    body_hash: Option<ContentId>,
) {
    let (head, body) = object.split_at_mut(SHARD_HEADER_LEN);
    debug_assert!(body_hash.is_none_or(|h| h == ContentId::of(body)));
    let header = ShardHeader {
        chunk_id,
        index,
        k,
        m,
        chunk_len,
        shard_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
        body_hash: body_hash.unwrap_or_else(|| ContentId::of(body)),
    };
    head.copy_from_slice(&header.encode());
}

/// Like [`encode_shard_object`] but validates the header first.
pub fn try_encode_shard_object(
    chunk_id: ContentId,
    index: u8,
    k: u8,
    m: u8,
    chunk_len: u32,
    body: &[u8],
) -> Result<Vec<u8>, CoreError> {
    let object = encode_shard_object(chunk_id, index, k, m, chunk_len, body);
    ShardHeader::decode(&object[..SHARD_HEADER_LEN])?;
    Ok(object)
}

/// Splits and checks a stored shard object: header valid, total length
/// exactly header + `shard_len`, and BLAKE3(body) == `body_hash`.
/// Every `Err` means "this object is not a valid shard".
pub fn decode_shard_object(object: &[u8]) -> Result<(ShardHeader, &[u8]), CoreError> {
    let (header, body) = split_shard_object(object)?;
    if ContentId::of(body) != header.body_hash {
        return Err(CoreError::HashMismatch { what: "shard body" });
    }
    Ok((header, body))
}

/// [`decode_shard_object`] without hashing the body: the header and the
/// lengths are checked, the body's bytes are not. For readers that check
/// the chunk rebuilt from these bodies as a whole against its chunk id
/// (not only its AEAD tag: AES-GCM does not commit to its key, and chunk
/// keys reach the buyers of direct downloads) and, when that fails, read
/// the shards again with
/// [`decode_shard_object`] to find the bad one.
pub fn split_shard_object(object: &[u8]) -> Result<(ShardHeader, &[u8]), CoreError> {
    let header_bytes = &object[..SHARD_HEADER_LEN.min(object.len())];
    let header = ShardHeader::decode(header_bytes)?;
    let body = &object[SHARD_HEADER_LEN..];
    let want = header.shard_len as usize;
    if body.len() < want {
        return Err(CoreError::Truncated {
            what: "shard body",
            needed: want,
            got: body.len(),
        });
    }
    if body.len() > want {
        return Err(CoreError::TrailingBytes {
            what: "shard object",
            extra: body.len() - want,
        });
    }
    Ok((header, body))
}

/// Object key of a shard: `"<prefix>/shards/<first 2 hex>/<chunk id hex>.<index>"`.
/// An empty prefix gives `"shards/…"`; trailing `/` on the prefix is ignored
/// so `"a/"` and `"a"` name the same objects.
pub fn shard_object_key(prefix: &str, chunk_id: &ContentId, index: u8) -> String {
    let hex = chunk_id.to_hex();
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        format!("shards/{}/{hex}.{index}", &hex[..2])
    } else {
        format!("{prefix}/shards/{}/{hex}.{index}", &hex[..2])
    }
}
