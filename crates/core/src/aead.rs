//! AES-256-GCM sealing of chunks (see `keys` for where keys and nonces come from).

/// AES-GCM authentication tag length: a sealed chunk is `plaintext + 16` bytes.
pub const TAG_LEN: usize = 16;
