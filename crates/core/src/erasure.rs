//! Reed–Solomon `k` + `m` erasure coding of sealed chunks.
//!
//! A sealed chunk (ciphertext ‖ tag, `chunk_len` bytes) is split into `k`
//! data shards of `shard_len` bytes each (the last one zero-padded), and `m`
//! parity shards of the same length are computed. Any `k` of the `k + m`
//! shards rebuild the chunk; `chunk_len` (recorded in every shard header)
//! says where the padding starts.
//!
//! The code is systematic (data shards are plain slices of the ciphertext)
//! and uses `reed-solomon-simd` (Leopard-style FFT codes over GF(2^16)),
//! chosen over `reed-solomon-erasure` by measurement: see the crate README.
//! The parity bytes are part of shard format version 1: switching the
//! library changes the parity and needs a new format version.

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use crate::aead::TAG_LEN;
use crate::chunker::MAX_CHUNK_SIZE;
use crate::error::CoreError;

/// Fewest data shards: `k = 1` is plain replication with parity copies.
pub const MIN_K: usize = 1;
/// Most data shards. 32 keeps headers in one byte and per-chunk fan-out
/// within what a broker can place on distinct providers.
pub const MAX_K: usize = 32;
/// Fewest parity shards: with `m = 0` one lost provider loses data.
pub const MIN_M: usize = 1;
/// Most parity shards: beyond 16 lost providers, re-think placement.
pub const MAX_M: usize = 16;
/// Default policy: 2 + 1 over three providers, 1.5x storage, any one
/// provider may vanish.
pub const DEFAULT_K: usize = 2;
/// See [`DEFAULT_K`].
pub const DEFAULT_M: usize = 1;
/// Largest chunk an erasure coder accepts: the largest plaintext chunk plus
/// its AEAD tag. Headers claiming more are rejected before any allocation.
pub const MAX_SEALED_CHUNK_LEN: usize = MAX_CHUNK_SIZE + TAG_LEN;

/// Shard body length for a chunk of `chunk_len` bytes split into `k` data
/// shards: `ceil(chunk_len / k)` rounded up to even, because
/// `reed-solomon-simd` works on 16-bit symbols and needs even shard sizes.
pub fn shard_len_for(chunk_len: usize, k: usize) -> usize {
    let per = chunk_len.div_ceil(k.max(1));
    per + (per & 1)
}

/// A validated `(k, m)` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErasureParams {
    k: u8,
    m: u8,
}

impl Default for ErasureParams {
    fn default() -> Self {
        ErasureParams {
            k: DEFAULT_K as u8,
            m: DEFAULT_M as u8,
        }
    }
}

impl ErasureParams {
    /// `k` in `MIN_K..=MAX_K`, `m` in `MIN_M..=MAX_M`.
    pub fn new(k: usize, m: usize) -> Result<Self, CoreError> {
        if !(MIN_K..=MAX_K).contains(&k) || !(MIN_M..=MAX_M).contains(&m) {
            return Err(CoreError::ErasureParamsOutOfBounds { k, m });
        }
        // In bounds, so both fit in a u8.
        Ok(ErasureParams {
            k: k as u8,
            m: m as u8,
        })
    }

    /// Number of data shards.
    pub fn k(&self) -> usize {
        usize::from(self.k)
    }

    /// Number of parity shards.
    pub fn m(&self) -> usize {
        usize::from(self.m)
    }

    /// `k + m`.
    pub fn total(&self) -> usize {
        self.k() + self.m()
    }

    /// Shard body length for a chunk of `chunk_len` bytes.
    pub fn shard_len(&self, chunk_len: usize) -> usize {
        shard_len_for(chunk_len, self.k())
    }

    fn check_chunk_len(chunk_len: usize) -> Result<(), CoreError> {
        if chunk_len == 0 || chunk_len > MAX_SEALED_CHUNK_LEN {
            return Err(CoreError::invalid(
                "chunk length",
                format!("{chunk_len} outside 1..={MAX_SEALED_CHUNK_LEN}"),
            ));
        }
        Ok(())
    }

    /// Encodes `chunk` into `k + m` shard bodies, data shards first.
    pub fn encode(&self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, CoreError> {
        let mut shards = Vec::with_capacity(self.total());
        self.encode_with(chunk, |_, body| shards.push(body.to_vec()))?;
        Ok(shards)
    }

    /// Encodes `chunk` and hands each shard body to `sink(index, body)` in
    /// index order, so callers can write bodies straight into their final
    /// buffers (the pipeline builds shard objects this way, copying once).
    pub fn encode_with<F: FnMut(usize, &[u8])>(
        &self,
        chunk: &[u8],
        mut sink: F,
    ) -> Result<(), CoreError> {
        Self::check_chunk_len(chunk.len())?;
        let shard_len = self.shard_len(chunk.len());
        let mut encoder = ReedSolomonEncoder::new(self.k(), self.m(), shard_len).map_err(rs)?;
        // Only the tail needs a copy (zero padding); full data shards are
        // borrowed from the chunk.
        let full = chunk.len() / shard_len;
        let mut tail = Vec::new();
        for index in 0..self.k() {
            let data: &[u8] = if index < full {
                &chunk[index * shard_len..(index + 1) * shard_len]
            } else {
                tail.clear();
                let start = (index * shard_len).min(chunk.len());
                tail.extend_from_slice(&chunk[start..]);
                tail.resize(shard_len, 0);
                &tail
            };
            encoder.add_original_shard(data).map_err(rs)?;
            sink(index, data);
        }
        let result = encoder.encode().map_err(rs)?;
        for (parity, body) in result.recovery_iter().enumerate() {
            sink(self.k() + parity, body);
        }
        Ok(())
    }

    /// Rebuilds a chunk of `chunk_len` bytes from `k + m` optional shard
    /// bodies (index order; `None` = missing). Needs at least `k` present;
    /// every present body must be exactly `shard_len(chunk_len)` long.
    ///
    /// Integrity is the caller's job: bodies should come from
    /// [`crate::shard::decode_shard_object`] and the result is checked
    /// against the chunk id by [`crate::pipeline::open_chunk`].
    pub fn rebuild(
        &self,
        shards: &[Option<&[u8]>],
        chunk_len: usize,
    ) -> Result<Vec<u8>, CoreError> {
        Self::check_chunk_len(chunk_len)?;
        if shards.len() != self.total() {
            return Err(CoreError::invalid(
                "shard list",
                format!("need {} slots (k+m), got {}", self.total(), shards.len()),
            ));
        }
        let shard_len = self.shard_len(chunk_len);
        for (index, body) in shards.iter().enumerate() {
            if let Some(body) = body
                && body.len() != shard_len
            {
                return Err(CoreError::malformed(
                    "shard body",
                    format!(
                        "shard {index} is {} bytes, expected {shard_len}",
                        body.len()
                    ),
                ));
            }
        }
        let have = shards.iter().filter(|s| s.is_some()).count();
        if have < self.k() {
            return Err(CoreError::NotEnoughShards {
                have,
                need: self.k(),
            });
        }
        let mut chunk = Vec::with_capacity(self.k() * shard_len);
        let data = &shards[..self.k()];
        if data.iter().all(Option::is_some) {
            // Fast path: every data shard is here, no decoding needed.
            for body in data.iter().flatten() {
                chunk.extend_from_slice(body);
            }
        } else {
            let mut decoder = ReedSolomonDecoder::new(self.k(), self.m(), shard_len).map_err(rs)?;
            let mut added = 0;
            for (index, body) in data.iter().enumerate() {
                if let Some(body) = body {
                    decoder.add_original_shard(index, body).map_err(rs)?;
                    added += 1;
                }
            }
            // Exactly k shards in total is enough; more only costs time.
            for (parity, body) in shards[self.k()..].iter().enumerate() {
                if added == self.k() {
                    break;
                }
                if let Some(body) = body {
                    decoder.add_recovery_shard(parity, body).map_err(rs)?;
                    added += 1;
                }
            }
            let restored = decoder.decode().map_err(rs)?;
            for (index, body) in data.iter().enumerate() {
                let piece = match body {
                    Some(body) => Some(*body),
                    None => restored.restored_original(index),
                };
                let piece = piece.ok_or_else(|| {
                    CoreError::malformed("erasure decode", format!("shard {index} not restored"))
                })?;
                chunk.extend_from_slice(piece);
            }
        }
        chunk.truncate(chunk_len);
        Ok(chunk)
    }
}

/// `reed-solomon-simd` errors only arise from parameters we validate first,
/// so reaching this is a bug in our checks; report it as invalid input
/// rather than panicking.
fn rs(err: reed_solomon_simd::Error) -> CoreError {
    CoreError::invalid("erasure coder", err.to_string())
}
