//! Both Reed–Solomon crates behind the same two calls, used stateless
//! (codec built per chunk) exactly as `shardgate-core` uses its coder.
//!
//! Shards follow the core layout: `k` data shards of
//! `shard_len_for(chunk_len, k)` bytes (even, last one zero-padded).

use reed_solomon_erasure::galois_8::ReedSolomon;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use shardgate_core::erasure::shard_len_for;

/// Which crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsCrate {
    /// `reed-solomon-simd` (FFT over GF(2^16)).
    Simd,
    /// `reed-solomon-erasure` with `simd-accel` (matrix over GF(2^8)).
    Erasure,
}

impl RsCrate {
    /// The crate's name, as used in benchmark ids and the summary table.
    pub fn name(self) -> &'static str {
        match self {
            RsCrate::Simd => "reed-solomon-simd",
            RsCrate::Erasure => "reed-solomon-erasure",
        }
    }
}

/// All `k + m` shards of `chunk` (data then parity) as owned buffers.
pub fn shards_of(chunk: &[u8], k: usize, m: usize) -> Vec<Vec<u8>> {
    let shard_len = shard_len_for(chunk.len(), k);
    let mut shards: Vec<Vec<u8>> = (0..k)
        .map(|i| {
            let start = (i * shard_len).min(chunk.len());
            let end = ((i + 1) * shard_len).min(chunk.len());
            let mut s = chunk[start..end].to_vec();
            s.resize(shard_len, 0);
            s
        })
        .collect();
    let parity = encode(RsCrate::Simd, &shards, m);
    shards.extend(parity);
    shards
}

/// Parity shards for `data` (all the same, even length).
pub fn encode(which: RsCrate, data: &[Vec<u8>], m: usize) -> Vec<Vec<u8>> {
    let shard_len = data[0].len();
    match which {
        RsCrate::Simd => {
            let mut enc = ReedSolomonEncoder::new(data.len(), m, shard_len).expect("params");
            for d in data {
                enc.add_original_shard(d).expect("shard");
            }
            let out = enc.encode().expect("encode");
            out.recovery_iter().map(<[u8]>::to_vec).collect()
        }
        RsCrate::Erasure => {
            let codec = ReedSolomon::new(data.len(), m).expect("params");
            let mut parity = vec![vec![0u8; shard_len]; m];
            codec.encode_sep(data, &mut parity).expect("encode");
            parity
        }
    }
}

/// Rebuilds, in place, the data shards listed in `missing` (indices `< k`)
/// from the others. `shards` holds all `k + m`; the missing ones' contents
/// are ignored and overwritten. Both crates write into the same buffers so
/// neither pays for copies the other avoids.
pub fn rebuild(which: RsCrate, shards: &mut [Vec<u8>], k: usize, missing: &[usize]) {
    let m = shards.len() - k;
    let shard_len = shards[0].len();
    match which {
        RsCrate::Simd => {
            let mut dec = ReedSolomonDecoder::new(k, m, shard_len).expect("params");
            let mut added = 0;
            for (i, s) in shards[..k].iter().enumerate() {
                if !missing.contains(&i) {
                    dec.add_original_shard(i, s).expect("shard");
                    added += 1;
                }
            }
            for (i, s) in shards[k..].iter().enumerate().take(k - added) {
                dec.add_recovery_shard(i, s).expect("shard");
            }
            let out = dec.decode().expect("decode");
            for &i in missing {
                let restored = out.restored_original(i).expect("restored");
                shards[i].copy_from_slice(restored);
            }
        }
        RsCrate::Erasure => {
            let codec = ReedSolomon::new(k, m).expect("params");
            let mut slots: Vec<(&mut [u8], bool)> = shards
                .iter_mut()
                .enumerate()
                .map(|(i, s)| (s.as_mut_slice(), !missing.contains(&i)))
                .collect();
            codec.reconstruct_data(&mut slots).expect("reconstruct");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_crates_rebuild_what_was_lost() {
        let chunk = crate::test_data(100_001);
        for (k, m) in crate::CONFIGS {
            for which in [RsCrate::Simd, RsCrate::Erasure] {
                let mut shards = shards_of(&chunk, k, m);
                // Parity from each crate is its own; rebuild with that crate's parity.
                let parity = encode(which, &shards[..k], m);
                shards.truncate(k);
                shards.extend(parity);
                let original = shards.clone();
                let missing: Vec<usize> = (0..m.min(k)).collect();
                for &i in &missing {
                    shards[i].fill(0xaa);
                }
                rebuild(which, &mut shards, k, &missing);
                assert_eq!(shards, original, "{} {k}+{m}", which.name());
            }
        }
    }
}
