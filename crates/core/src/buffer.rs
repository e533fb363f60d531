//! [`ShardBuf`]: the buffers sealing builds shard objects in, and a
//! download rebuilds and decrypts chunks in.
//!
//! Sealing a 4 MiB chunk fills about 10 MiB of buffers (the sealed chunk
//! and `k + m` objects). Fresh allocations of that size come from the
//! kernel as new pages, and on small VMs faulting them in cost more CPU
//! than the hashing and encryption together. So the sealing functions are
//! generic over the buffer type: tests and tools use `Vec<u8>`, the broker
//! passes pooled, page-aligned buffers (shardgate-backends `PooledBuf`).

/// A byte buffer of a given length that sealing (or a rebuild) writes in
/// full.
pub trait ShardBuf: AsRef<[u8]> + AsMut<[u8]> {
    /// A buffer of exactly `len` bytes. What it holds is unspecified (a
    /// pooled buffer may hold an earlier object): sealing writes every byte.
    fn with_len(len: usize) -> Self;

    /// Shortens the buffer to `len` bytes (no effect if it is not longer).
    fn truncate(&mut self, len: usize);
}

impl ShardBuf for Vec<u8> {
    fn with_len(len: usize) -> Self {
        vec![0; len]
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ConvergenceSecret, ErasureParams, ManifestChunk, OpenKey, SHARD_HEADER_LEN, SealKey,
        encode_sealed_chunk_in, open_chunk_from_bodies_in, seal_chunk_in,
    };

    /// A buffer that arrives full of garbage, like a reused pooled one.
    struct Dirty(Vec<u8>);

    impl AsRef<[u8]> for Dirty {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl AsMut<[u8]> for Dirty {
        fn as_mut(&mut self) -> &mut [u8] {
            &mut self.0
        }
    }

    impl ShardBuf for Dirty {
        fn with_len(len: usize) -> Self {
            Dirty(vec![0xa5; len])
        }

        fn truncate(&mut self, len: usize) {
            self.0.truncate(len);
        }
    }

    #[test]
    fn objects_do_not_depend_on_what_the_buffers_held() {
        let secret = ConvergenceSecret::from_bytes([7; 32]);
        // Odd lengths leave padding in the last data shard.
        for (len, k, m) in [(1, 2, 1), (4097, 2, 1), (100_001, 3, 2), (65_536, 1, 1)] {
            let params = ErasureParams::new(k, m).expect("params");
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let clean = seal_chunk_in::<Vec<u8>>(&plaintext, SealKey::Managed(&secret), params)
                .expect("seal");
            let dirty = seal_chunk_in::<Dirty>(&plaintext, SealKey::Managed(&secret), params)
                .expect("seal");
            assert_eq!(clean.chunk_id, dirty.chunk_id);
            let dirty: Vec<Vec<u8>> = dirty.shards.into_iter().map(|b| b.0).collect();
            assert_eq!(clean.shards, dirty, "{len} bytes, {k}+{m}");

            let sealed: Vec<u8> = (0..len + 16).map(|i| (i % 241) as u8).collect();
            let clean = encode_sealed_chunk_in::<Vec<u8>>(&sealed, params).expect("encode");
            let dirty = encode_sealed_chunk_in::<Dirty>(&sealed, params).expect("encode");
            let dirty: Vec<Vec<u8>> = dirty.shards.into_iter().map(|b| b.0).collect();
            assert_eq!(clean.shards, dirty, "encoded {len} bytes, {k}+{m}");
        }
    }

    /// The download path rebuilds into a pooled buffer and decrypts there:
    /// what the buffer held before, and which shards are missing, must not
    /// show in the plaintext; a flipped byte must give an error, not text.
    #[test]
    fn opened_chunks_do_not_depend_on_what_the_buffer_held() {
        let secret = ConvergenceSecret::from_bytes([9; 32]);
        for (len, k, m) in [(1, 2, 1), (4097, 2, 1), (100_001, 3, 2)] {
            let params = ErasureParams::new(k, m).expect("params");
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal_chunk_in::<Vec<u8>>(&plaintext, SealKey::Managed(&secret), params)
                .expect("seal");
            let chunk = ManifestChunk {
                id: sealed.chunk_id,
                len: sealed.plaintext_len,
            };
            let bodies: Vec<&[u8]> = sealed
                .shards
                .iter()
                .map(|o| &o[SHARD_HEADER_LEN..])
                .collect();
            // All present; the first data shard lost; every parity shard lost.
            for lost in [vec![], vec![0], (k..k + m).collect::<Vec<_>>()] {
                let slots: Vec<Option<&[u8]>> = (0..k + m)
                    .map(|i| (!lost.contains(&i)).then_some(bodies[i]))
                    .collect();
                let opened: Dirty = open_chunk_from_bodies_in(
                    &slots,
                    &chunk,
                    params,
                    OpenKey::Managed(&sealed.key),
                )
                .expect("open");
                assert_eq!(opened.0, plaintext, "{len} bytes, {k}+{m}, lost {lost:?}");
            }
            let mut flipped = bodies[0].to_vec();
            flipped[0] ^= 1;
            let mut slots: Vec<Option<&[u8]>> = bodies.iter().map(|b| Some(*b)).collect();
            slots[0] = Some(&flipped);
            assert!(
                open_chunk_from_bodies_in::<Dirty>(
                    &slots,
                    &chunk,
                    params,
                    OpenKey::Managed(&sealed.key)
                )
                .is_err(),
                "a flipped byte opens to an error"
            );
        }
    }
}
