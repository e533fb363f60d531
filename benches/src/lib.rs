//! Helpers for the Shardgate micro benchmarks (`benches/pipeline.rs`):
//! adapters that drive both Reed–Solomon crates the same way, and a plain
//! timing loop plus table printer for the end-of-run summary.

pub mod load_bin;
pub mod rs_compare;
pub mod summary;

/// Chunk size the benchmarks use: the default 4 MiB.
pub const CHUNK: usize = shardgate_core::DEFAULT_CHUNK_SIZE;

/// `(k, m)` configurations measured.
pub const CONFIGS: [(usize, usize); 3] = [(2, 1), (4, 2), (10, 4)];

/// `len` bytes of incompressible-looking data (xorshift64), deterministic.
pub fn test_data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
