//! Key schedule (HKDF-SHA256) for both key modes.
//!
//! ```text
//! master key ──HKDF "shardgate/v1/convergence" ‖ tenant id──▶ convergence secret (per tenant)
//!            ──HKDF "shardgate/v1/convergence"──────────────▶ global convergence secret (opt-in)
//!            ──HKDF "shardgate/v1/kek"──────────────────────▶ key-encryption key (wrap.rs)
//! convergence secret ──HKDF "shardgate/v1/chunk" ‖ BLAKE3(plaintext)──▶ chunk key + nonce (managed)
//! file key (random)  ──HKDF "shardgate/v1/e2e" ‖ index u64 BE ‖ last u8──▶ chunk key + nonce (end_to_end)
//! ```
//!
//! Every HKDF call uses no salt and the input key as IKM. A [`ChunkKey`] is
//! 44 bytes of one HKDF output: a 32-byte AES-256 key then a 12-byte nonce
//! (see `aead.rs` for why a derived nonce is safe).
//!
//! All key types zeroize on drop, print as `[REDACTED]` under `Debug`, and
//! never appear in errors.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CoreError;

/// Length of every symmetric key in the schedule.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;

/// Domain-separation labels; changing any of them changes every derived key.
pub(crate) const LABEL_CONVERGENCE: &[u8] = b"shardgate/v1/convergence";
pub(crate) const LABEL_CHUNK: &[u8] = b"shardgate/v1/chunk";
pub(crate) const LABEL_E2E: &[u8] = b"shardgate/v1/e2e";
pub(crate) const LABEL_KEK: &[u8] = b"shardgate/v1/kek";

/// HKDF-SHA256(salt = none, ikm, info = concatenation of `info`) into `out`.
///
/// Callers pass fixed output lengths of at most 44 bytes, far below HKDF's
/// 255 × 32-byte limit, so `expand` cannot fail: the `expect` guards a
/// programming error, never input.
pub(crate) fn hkdf_into(ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    Hkdf::<Sha256>::new(None, ikm)
        .expand_multi_info(info, out)
        .expect("HKDF output length is a small constant");
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw key bytes (e.g. read from a secret file).
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }

            /// Reads key bytes from a slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, CoreError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| {
                    CoreError::invalid(
                        stringify!($name),
                        format!("need {} bytes, got {}", $len, bytes.len()),
                    )
                })?;
                Ok($name(arr))
            }

            /// The raw key bytes. Handle with care: never log them.
            pub fn expose_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

secret_type!(
    /// The broker's root secret (from a file or env var, never the index).
    MasterKey,
    KEY_LEN
);
secret_type!(
    /// Per-tenant (or opt-in global) secret for convergent chunk keys.
    ConvergenceSecret,
    KEY_LEN
);
secret_type!(
    /// Random per-file key of end-to-end mode; it never reaches the broker.
    /// Generate a fresh one for every upload (see `aead.rs`).
    FileKey,
    KEY_LEN
);
secret_type!(
    /// Key-encryption key for wrapping stored chunk keys.
    KeyEncryptionKey,
    KEY_LEN
);
secret_type!(
    /// AES-256 key ‖ 96-bit nonce for one chunk; used for exactly one plaintext.
    ChunkKey,
    KEY_LEN + NONCE_LEN
);

/// Whose convergence secret to derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvergenceScope<'a> {
    /// One secret per tenant (the default): one tenant cannot probe whether
    /// another stored a given chunk.
    Tenant(&'a str),
    /// One secret for all tenants: cross-tenant dedup, at the price of that
    /// probing. An explicit opt-in.
    Global,
}

impl MasterKey {
    /// Derives the convergence secret for `scope`. The global secret uses an
    /// empty tenant suffix, which is why tenant ids must be non-empty.
    pub fn convergence_secret(
        &self,
        scope: ConvergenceScope<'_>,
    ) -> Result<ConvergenceSecret, CoreError> {
        let suffix: &[u8] = match scope {
            ConvergenceScope::Tenant("") => {
                return Err(CoreError::invalid("tenant id", "must not be empty"));
            }
            ConvergenceScope::Tenant(tenant) => tenant.as_bytes(),
            ConvergenceScope::Global => b"",
        };
        let mut out = [0u8; KEY_LEN];
        hkdf_into(&self.0, &[LABEL_CONVERGENCE, suffix], &mut out);
        let secret = ConvergenceSecret(out);
        out.zeroize();
        Ok(secret)
    }

    /// The key-encryption key for stored chunk keys.
    pub fn key_encryption_key(&self) -> KeyEncryptionKey {
        let mut out = [0u8; KEY_LEN];
        hkdf_into(&self.0, &[LABEL_KEK], &mut out);
        let kek = KeyEncryptionKey(out);
        out.zeroize();
        kek
    }
}

impl ConvergenceSecret {
    /// Managed-mode chunk key for a plaintext whose BLAKE3 is `plaintext_hash`.
    /// Equal plaintexts under one secret give equal keys (hence equal
    /// ciphertexts and chunk ids): that is the dedup.
    pub fn chunk_key(&self, plaintext_hash: &[u8; 32]) -> ChunkKey {
        let mut out = [0u8; KEY_LEN + NONCE_LEN];
        hkdf_into(&self.0, &[LABEL_CHUNK, plaintext_hash], &mut out);
        let key = ChunkKey(out);
        out.zeroize();
        key
    }
}

impl FileKey {
    /// A fresh random file key from the thread-local CSPRNG (seeded from the
    /// operating system).
    pub fn generate() -> Self {
        let mut key = FileKey([0u8; KEY_LEN]);
        rand::fill(&mut key.0[..]);
        key
    }

    /// End-to-end chunk key for chunk `index`; `last` is true only for the
    /// final chunk of the file.
    pub fn chunk_key(&self, index: u64, last: bool) -> ChunkKey {
        let mut out = [0u8; KEY_LEN + NONCE_LEN];
        hkdf_into(
            &self.0,
            &[LABEL_E2E, &index.to_be_bytes(), &[u8::from(last)]],
            &mut out,
        );
        let key = ChunkKey(out);
        out.zeroize();
        key
    }
}

impl ChunkKey {
    pub(crate) fn aes_key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }

    pub(crate) fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.0[KEY_LEN..]);
        nonce
    }
}
