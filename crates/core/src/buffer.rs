//! [`ShardBuf`]: the buffers sealing builds shard objects in.
//!
//! Sealing a 4 MiB chunk fills about 10 MiB of buffers (the sealed chunk
//! and `k + m` objects). Fresh allocations of that size come from the
//! kernel as new pages, and on small VMs faulting them in cost more CPU
//! than the hashing and encryption together. So the sealing functions are
//! generic over the buffer type: tests and tools use `Vec<u8>`, the broker
//! passes pooled, page-aligned buffers (shardgate-backends `PooledBuf`).

/// A byte buffer of a fixed length that sealing writes in full.
pub trait ShardBuf: AsRef<[u8]> + AsMut<[u8]> {
    /// A buffer of exactly `len` bytes. What it holds is unspecified (a
    /// pooled buffer may hold an earlier object): sealing writes every byte.
    fn with_len(len: usize) -> Self;
}

impl ShardBuf for Vec<u8> {
    fn with_len(len: usize) -> Self {
        vec![0; len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConvergenceSecret, ErasureParams, SealKey, encode_sealed_chunk_in, seal_chunk_in};

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
}
