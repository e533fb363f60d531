//! Wrapping managed-mode chunk keys for storage in the index.
//!
//! The index stores, per chunk, the chunk key encrypted under a subkey of
//! the key-encryption key (KEK, derived from the master key, which never
//! enters the index):
//!
//! ```text
//! wrap key  = HKDF(KEK, "shardgate/v1/wrap" ‖ chunk id)              32 bytes
//! nonce     = HKDF(KEK, "shardgate/v1/wrap-nonce" ‖ chunk id ‖ chunk key)[..12]
//! AAD       = "shardgate/v1/wrap" ‖ chunk id
//! stored    = version (1) ‖ nonce (12) ‖ AES-256-GCM(chunk key) (44) ‖ tag (16)  = 73 bytes
//! ```
//!
//! Nonce argument: the wrap key is unique per chunk id, and a chunk id names
//! one ciphertext made with one chunk key, so each wrap key seals one
//! plaintext (re-wrapping the same key gives identical bytes). The nonce is
//! additionally synthetic (derived from the key being wrapped, SIV-style), so
//! even two different keys wrapped for one id would get different nonces.
//! The AAD binds the id: a wrapped key copied to another chunk's row fails.

use zeroize::Zeroize;

use crate::aead::{TAG_LEN, open_box, seal_box};
use crate::error::CoreError;
use crate::id::ContentId;
use crate::keys::{ChunkKey, KEY_LEN, KeyEncryptionKey, NONCE_LEN, hkdf_into};

/// Version byte of the stored form.
pub const WRAPPED_KEY_VERSION: u8 = 1;
/// Stored length: version + nonce + encrypted 44-byte chunk key + tag.
pub const WRAPPED_CHUNK_KEY_LEN: usize = 1 + NONCE_LEN + KEY_LEN + NONCE_LEN + TAG_LEN;

const LABEL_WRAP: &[u8] = b"shardgate/v1/wrap";
const LABEL_WRAP_NONCE: &[u8] = b"shardgate/v1/wrap-nonce";
const CHUNK_KEY_LEN: usize = KEY_LEN + NONCE_LEN;

/// A chunk key encrypted under the KEK; safe to store in the index.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedChunkKey([u8; WRAPPED_CHUNK_KEY_LEN]);

impl std::fmt::Debug for WrappedChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappedChunkKey(..)")
    }
}

impl WrappedChunkKey {
    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; WRAPPED_CHUNK_KEY_LEN] {
        &self.0
    }

    /// Reads the stored form; checks length and version only (the
    /// authenticity check happens in [`KeyEncryptionKey::unwrap_chunk_key`]).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CoreError> {
        const WHAT: &str = "wrapped chunk key";
        if let Some(&version) = bytes.first()
            && version != WRAPPED_KEY_VERSION
        {
            return Err(CoreError::UnsupportedVersion {
                what: WHAT,
                version,
            });
        }
        let arr: [u8; WRAPPED_CHUNK_KEY_LEN] = bytes.try_into().map_err(|_| {
            if bytes.len() < WRAPPED_CHUNK_KEY_LEN {
                CoreError::Truncated {
                    what: WHAT,
                    needed: WRAPPED_CHUNK_KEY_LEN,
                    got: bytes.len(),
                }
            } else {
                CoreError::TrailingBytes {
                    what: WHAT,
                    extra: bytes.len() - WRAPPED_CHUNK_KEY_LEN,
                }
            }
        })?;
        Ok(WrappedChunkKey(arr))
    }
}

impl KeyEncryptionKey {
    /// The wrapping subkey of `chunk_id` (zeroized by the caller).
    fn wrap_key(&self, chunk_id: &ContentId) -> [u8; KEY_LEN] {
        let mut key = [0u8; KEY_LEN];
        hkdf_into(
            self.expose_bytes(),
            &[LABEL_WRAP, chunk_id.as_bytes()],
            &mut key,
        );
        key
    }

    fn aad(chunk_id: &ContentId) -> [u8; 17 + 32] {
        let mut aad = [0u8; 17 + 32];
        aad[..17].copy_from_slice(LABEL_WRAP);
        aad[17..].copy_from_slice(chunk_id.as_bytes());
        aad
    }

    /// Wraps `key`, the chunk key of `chunk_id`.
    pub fn wrap_chunk_key(&self, chunk_id: &ContentId, key: &ChunkKey) -> WrappedChunkKey {
        let mut nonce = [0u8; NONCE_LEN];
        hkdf_into(
            self.expose_bytes(),
            &[LABEL_WRAP_NONCE, chunk_id.as_bytes(), key.expose_bytes()],
            &mut nonce,
        );
        let mut out = [0u8; WRAPPED_CHUNK_KEY_LEN];
        out[0] = WRAPPED_KEY_VERSION;
        out[1..1 + NONCE_LEN].copy_from_slice(&nonce);
        let (body, tag_out) = out[1 + NONCE_LEN..].split_at_mut(CHUNK_KEY_LEN);
        body.copy_from_slice(key.expose_bytes());
        let mut wrap_key = self.wrap_key(chunk_id);
        // A 44-byte message cannot exceed AES-GCM's length limit, so this
        // only fails on a broken cipher implementation.
        let tag = seal_box(&wrap_key, nonce, &Self::aad(chunk_id), body)
            .expect("AES-GCM over 44 bytes cannot fail");
        wrap_key.zeroize();
        tag_out.copy_from_slice(&tag);
        WrappedChunkKey(out)
    }

    /// Unwraps the chunk key of `chunk_id`. Fails with
    /// [`CoreError::DecryptFailed`] for a wrong KEK, a wrong chunk id, or
    /// tampered bytes.
    pub fn unwrap_chunk_key(
        &self,
        chunk_id: &ContentId,
        wrapped: &WrappedChunkKey,
    ) -> Result<ChunkKey, CoreError> {
        let bytes = &wrapped.0;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..1 + NONCE_LEN]);
        let (body, tag) = bytes[1 + NONCE_LEN..].split_at(CHUNK_KEY_LEN);
        let mut wrap_key = self.wrap_key(chunk_id);
        let opened = open_box(&wrap_key, nonce, &Self::aad(chunk_id), body, tag);
        wrap_key.zeroize();
        let mut plain = opened?;
        let result = ChunkKey::from_slice(&plain);
        plain.zeroize();
        result
    }
}
