//! Canonical manifest encoding; the blob id is BLAKE3 of these bytes.
//!
//! Layout (integers big-endian), format version 1:
//!
//! | offset | len | field                                           |
//! |-------:|----:|-------------------------------------------------|
//! | 0      | 4   | magic `"SGMF"`                                  |
//! | 4      | 1   | format version (`1`)                            |
//! | 5      | 1   | key mode (`0` managed, `1` end_to_end)          |
//! | 6      | 1   | `k`                                             |
//! | 7      | 1   | `m`                                             |
//! | 8      | 4   | chunk size (plaintext bytes per full chunk)     |
//! | 12     | 8   | total length (plaintext bytes of the blob)      |
//! | 20     | 4   | chunk count                                     |
//! | 24     | 36n | per chunk: chunk id (32) ‖ plaintext length (4) |
//!
//! The manifest holds no keys, names or owners, so identical content under
//! one convergence secret (with the same chunk size and `(k, m)`) gives one
//! blob id. Every field is determined by the content, so there is exactly one
//! encoding per manifest: the decoder rejects anything else.

use crate::aead::TAG_LEN;
use crate::chunker::{MAX_CHUNK_SIZE, check_chunk_size, chunk_count};
use crate::erasure::ErasureParams;
use crate::error::CoreError;
use crate::id::ContentId;

/// Magic at the start of every manifest ("ShardGate ManiFest").
pub const MANIFEST_MAGIC: [u8; 4] = *b"SGMF";
/// The only manifest version this build reads and writes.
pub const MANIFEST_FORMAT_VERSION: u8 = 1;
/// Fixed part before the chunk list.
pub const MANIFEST_HEADER_LEN: usize = 24;
/// Bytes per chunk entry: id (32) + plaintext length (4).
pub const MANIFEST_ENTRY_LEN: usize = 36;
/// Most chunks in one blob: 2^20 chunks is 4 TiB at the default chunk size
/// (64 TiB at the largest) and a 36 MiB manifest. Decoders refuse larger
/// counts before allocating.
pub const MAX_MANIFEST_CHUNKS: u32 = 1 << 20;

const WHAT: &str = "manifest";

/// How a blob's chunk keys are made (see `keys.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyMode {
    /// Convergent keys from a broker-held secret (wire value 0).
    Managed,
    /// Keys from a client-held file key (wire value 1).
    EndToEnd,
}

impl KeyMode {
    fn to_wire(self) -> u8 {
        match self {
            KeyMode::Managed => 0,
            KeyMode::EndToEnd => 1,
        }
    }

    fn from_wire(byte: u8) -> Result<Self, CoreError> {
        match byte {
            0 => Ok(KeyMode::Managed),
            1 => Ok(KeyMode::EndToEnd),
            other => Err(CoreError::malformed(
                WHAT,
                format!("unknown key mode {other}"),
            )),
        }
    }
}

/// One chunk of a blob, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestChunk {
    /// BLAKE3 of the chunk's ciphertext.
    pub id: ContentId,
    /// Plaintext length (the sealed chunk is 16 bytes longer).
    pub len: u32,
}

impl ManifestChunk {
    /// Length of the sealed chunk (ciphertext ‖ tag): what its shard
    /// headers record and what rebuilding it yields.
    pub fn sealed_len(&self) -> usize {
        self.len as usize + TAG_LEN
    }
}

/// A validated manifest. Construct with [`Manifest::new`] or
/// [`Manifest::decode`]; both enforce the canonical rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    key_mode: KeyMode,
    chunk_size: u32,
    total_len: u64,
    params: ErasureParams,
    chunks: Vec<ManifestChunk>,
}

impl Manifest {
    /// Checks: chunk size in bounds; `ceil(total_len / chunk_size)` chunks,
    /// at most [`MAX_MANIFEST_CHUNKS`]; every chunk but the last is exactly
    /// `chunk_size` long; the last holds the remainder.
    pub fn new(
        key_mode: KeyMode,
        chunk_size: usize,
        total_len: u64,
        params: ErasureParams,
        chunks: Vec<ManifestChunk>,
    ) -> Result<Self, CoreError> {
        check_chunk_size(chunk_size)?;
        let expected = chunk_count(total_len, chunk_size);
        if expected > u64::from(MAX_MANIFEST_CHUNKS) {
            return Err(CoreError::LimitExceeded {
                what: "manifest chunk count",
                limit: u64::from(MAX_MANIFEST_CHUNKS),
                got: expected,
            });
        }
        if chunks.len() as u64 != expected {
            return Err(CoreError::malformed(
                WHAT,
                format!(
                    "{} chunks listed, total length needs {expected}",
                    chunks.len()
                ),
            ));
        }
        for (index, chunk) in chunks.iter().enumerate() {
            let start = index as u64 * chunk_size as u64;
            let want = (total_len - start).min(chunk_size as u64);
            if u64::from(chunk.len) != want {
                return Err(CoreError::malformed(
                    WHAT,
                    format!("chunk {index} length {} (expected {want})", chunk.len),
                ));
            }
        }
        Ok(Manifest {
            key_mode,
            // In bounds (<= MAX_CHUNK_SIZE), so it fits in u32.
            chunk_size: chunk_size as u32,
            total_len,
            params,
            chunks,
        })
    }

    /// How the chunk keys of this blob are derived; decides whether the
    /// broker can open the chunks itself ([`KeyMode::Managed`]) or only the
    /// client can ([`KeyMode::EndToEnd`]).
    pub fn key_mode(&self) -> KeyMode {
        self.key_mode
    }
    /// Plaintext bytes per full chunk; every chunk but the last has exactly
    /// this length.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size as usize
    }
    /// Plaintext length of the whole blob in bytes (the sum of the chunk
    /// lengths).
    pub fn total_len(&self) -> u64 {
        self.total_len
    }
    /// The `(k, m)` erasure parameters every chunk of this blob was coded
    /// with.
    pub fn params(&self) -> ErasureParams {
        self.params
    }
    /// The chunks in blob order; position `i` is chunk index `i` (which
    /// end-to-end keys depend on).
    pub fn chunks(&self) -> &[ManifestChunk] {
        &self.chunks
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(MANIFEST_HEADER_LEN + self.chunks.len() * MANIFEST_ENTRY_LEN);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.push(MANIFEST_FORMAT_VERSION);
        out.push(self.key_mode.to_wire());
        // k and m are validated to 1..=32 / 1..=16 and fit a byte.
        out.push(self.params.k() as u8);
        out.push(self.params.m() as u8);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.total_len.to_be_bytes());
        // Bounded by MAX_MANIFEST_CHUNKS at construction.
        out.extend_from_slice(&(self.chunks.len() as u32).to_be_bytes());
        for chunk in &self.chunks {
            out.extend_from_slice(chunk.id.as_bytes());
            out.extend_from_slice(&chunk.len.to_be_bytes());
        }
        out
    }

    /// The blob id: BLAKE3 of [`Manifest::encode`].
    pub fn blob_id(&self) -> ContentId {
        ContentId::of(&self.encode())
    }

    /// Parses canonical bytes; rejects bad magic, unknown versions or key
    /// modes, out-of-bounds fields, counts over [`MAX_MANIFEST_CHUNKS`] (before
    /// allocating), length mismatches and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CoreError> {
        if bytes.len() < 5 {
            return Err(truncated(MANIFEST_HEADER_LEN, bytes.len()));
        }
        if bytes[0..4] != MANIFEST_MAGIC {
            return Err(CoreError::BadMagic { what: WHAT });
        }
        if bytes[4] != MANIFEST_FORMAT_VERSION {
            return Err(CoreError::UnsupportedVersion {
                what: WHAT,
                version: bytes[4],
            });
        }
        if bytes.len() < MANIFEST_HEADER_LEN {
            return Err(truncated(MANIFEST_HEADER_LEN, bytes.len()));
        }
        let key_mode = KeyMode::from_wire(bytes[5])?;
        let params = ErasureParams::new(usize::from(bytes[6]), usize::from(bytes[7]))?;
        let chunk_size = be_u32(&bytes[8..12]);
        if chunk_size as usize > MAX_CHUNK_SIZE {
            return Err(CoreError::LimitExceeded {
                what: "manifest chunk size",
                limit: MAX_CHUNK_SIZE as u64,
                got: u64::from(chunk_size),
            });
        }
        let total_len = u64::from_be_bytes(bytes[12..20].try_into().unwrap_or_default());
        let count = be_u32(&bytes[20..24]);
        if count > MAX_MANIFEST_CHUNKS {
            return Err(CoreError::LimitExceeded {
                what: "manifest chunk count",
                limit: u64::from(MAX_MANIFEST_CHUNKS),
                got: u64::from(count),
            });
        }
        let needed = MANIFEST_HEADER_LEN + count as usize * MANIFEST_ENTRY_LEN;
        if bytes.len() < needed {
            return Err(truncated(needed, bytes.len()));
        }
        if bytes.len() > needed {
            return Err(CoreError::TrailingBytes {
                what: WHAT,
                extra: bytes.len() - needed,
            });
        }
        // The length check above bounds this allocation by the input size.
        let chunks = bytes[MANIFEST_HEADER_LEN..]
            .chunks_exact(MANIFEST_ENTRY_LEN)
            .map(|entry| ManifestChunk {
                id: ContentId::from_bytes(entry[..32].try_into().unwrap_or_default()),
                len: be_u32(&entry[32..]),
            })
            .collect();
        Manifest::new(key_mode, chunk_size as usize, total_len, params, chunks).map_err(|e| match e
        {
            // A bad chunk size read from bytes is corruption, not a caller mistake.
            CoreError::InvalidArgument { reason, .. } => CoreError::malformed(WHAT, reason),
            other => other,
        })
    }
}

fn truncated(needed: usize, got: usize) -> CoreError {
    CoreError::Truncated {
        what: WHAT,
        needed,
        got,
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut arr = [0u8; 4];
    arr.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(arr)
}
