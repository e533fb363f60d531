//! The one error type of the crate.
//!
//! Every variant belongs to a [`CoreErrorKind`] that tells the caller what to
//! do about it. Messages never contain key material or plaintext.

/// What a caller can do about a [`CoreError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoreErrorKind {
    /// The caller passed parameters outside the supported bounds (chunk size,
    /// `k`/`m`, malformed hex). Fix the request; retrying cannot help.
    InvalidArgument,
    /// Stored or received bytes are not a valid object of the expected
    /// format (bad magic, truncated, non-canonical, hash mismatch). Treat the
    /// object as missing: fetch another shard, repair, report corruption.
    Corrupt,
    /// The object is in a format version this build does not understand.
    /// Upgrade the reader; the data may be fine.
    UnsupportedVersion,
    /// Too few valid shards to rebuild a chunk. Fetch more shards.
    InsufficientShards,
    /// Authenticated decryption failed: wrong key, tampered ciphertext, or
    /// (end-to-end mode) a chunk was reordered, dropped or the stream was
    /// truncated. Never retry with the same inputs.
    Unauthentic,
    /// The input reader failed; the caller may retry the read.
    Io,
}

/// Errors of `shardgate-core`. Decoders return these for any bad input;
/// nothing in this crate panics on input bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A parameter outside the documented bounds.
    #[error("invalid argument: {what}: {reason}")]
    InvalidArgument {
        /// Which parameter was rejected (e.g. `"chunk size"`).
        what: &'static str,
        /// Human-readable explanation of the bound that was violated.
        reason: String,
    },
    /// `k` or `m` outside `1..=max_k` / `1..=max_m` (the bounds of
    /// `erasure.rs`, carried here so this module needs nothing from it).
    #[error("erasure parameters k={k}, m={m} out of bounds (k 1..={max_k}, m 1..={max_m})")]
    ErasureParamsOutOfBounds {
        /// Requested number of data shards.
        k: usize,
        /// Requested number of parity shards.
        m: usize,
        /// Largest `k` this build supports.
        max_k: usize,
        /// Largest `m` this build supports.
        max_m: usize,
    },
    /// Fewer bytes than the format needs.
    #[error("truncated {what}: need {needed} bytes, got {got}")]
    Truncated {
        /// The format being decoded (e.g. `"manifest"`, `"shard"`).
        what: &'static str,
        /// Minimum length in bytes the format needs at this point.
        needed: usize,
        /// Length in bytes actually supplied.
        got: usize,
    },
    /// More bytes than the format allows.
    #[error("{what} has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The format being decoded.
        what: &'static str,
        /// Number of bytes left over after the last expected field.
        extra: usize,
    },
    /// The first bytes are not this format's magic.
    #[error("{what}: bad magic")]
    BadMagic {
        /// The format whose magic was expected.
        what: &'static str,
    },
    /// A version byte this build does not know.
    #[error("{what}: unsupported format version {version}")]
    UnsupportedVersion {
        /// The format being decoded.
        what: &'static str,
        /// The version byte found in the input.
        version: u8,
    },
    /// Fields that are individually readable but inconsistent or
    /// non-canonical (e.g. shard length that disagrees with chunk length).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The format being decoded.
        what: &'static str,
        /// Which fields disagree and how; safe to log (no key material).
        reason: String,
    },
    /// A count or length read from untrusted bytes exceeds its bound; we
    /// refuse before allocating.
    #[error("{what} too large: {got} exceeds limit {limit}")]
    LimitExceeded {
        /// The count or length that was checked (e.g. `"manifest chunk count"`).
        what: &'static str,
        /// The largest accepted value, in the same unit as `got`.
        limit: u64,
        /// The value read from the input.
        got: u64,
    },
    /// A BLAKE3 hash recorded in a header does not match the bytes.
    #[error("{what}: hash mismatch")]
    HashMismatch {
        /// The part whose hash did not match (e.g. `"shard body"`).
        what: &'static str,
    },
    /// A rebuilt chunk does not hash to the chunk id it was asked for.
    #[error("rebuilt chunk hashes to {actual}, expected {expected}")]
    ChunkIdMismatch {
        /// The chunk id the caller asked to rebuild (hex). Text, not a
        /// `ContentId`: the id type's own errors are `CoreError`s, and the
        /// error type must not depend back on it.
        expected: String,
        /// The BLAKE3 id of the bytes the shards actually decoded to (hex).
        actual: String,
    },
    /// Fewer than `k` usable shards.
    #[error("not enough shards to rebuild: have {have}, need {need}")]
    NotEnoughShards {
        /// Number of shards present (after dropping invalid ones).
        have: usize,
        /// Number of shards required, i.e. `k`.
        need: usize,
    },
    /// AEAD open failed. Deliberately says nothing about why.
    #[error("decryption failed: wrong key, tampered data, or chunk out of order")]
    DecryptFailed,
    /// End-to-end stream ended before a chunk flagged as last was opened.
    #[error("end-to-end stream truncated: {chunks_seen} chunks seen, no final chunk")]
    StreamTruncated {
        /// Number of chunks opened before the stream ended.
        chunks_seen: u64,
    },
    /// Reading the input failed.
    #[error("reading input failed")]
    Read(
        /// The error returned by the input reader.
        #[source]
        std::io::Error,
    ),
}

impl CoreError {
    /// The action class of this error.
    pub fn kind(&self) -> CoreErrorKind {
        match self {
            CoreError::InvalidArgument { .. } | CoreError::ErasureParamsOutOfBounds { .. } => {
                CoreErrorKind::InvalidArgument
            }
            CoreError::Truncated { .. }
            | CoreError::TrailingBytes { .. }
            | CoreError::BadMagic { .. }
            | CoreError::Malformed { .. }
            | CoreError::LimitExceeded { .. }
            | CoreError::HashMismatch { .. }
            | CoreError::ChunkIdMismatch { .. } => CoreErrorKind::Corrupt,
            CoreError::UnsupportedVersion { .. } => CoreErrorKind::UnsupportedVersion,
            CoreError::NotEnoughShards { .. } => CoreErrorKind::InsufficientShards,
            CoreError::DecryptFailed | CoreError::StreamTruncated { .. } => {
                CoreErrorKind::Unauthentic
            }
            CoreError::Read(_) => CoreErrorKind::Io,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        CoreError::Malformed {
            what,
            reason: reason.into(),
        }
    }
}
