//! Share links: the secret that lives in a link's URL fragment, and what a
//! client derives from it (`docs/sharing.md`).
//!
//! ```text
//! read token   = HKDF-SHA256(secret, info = "shardgate/v1/share/read-token")   32 bytes
//! wrapping key = HKDF-SHA256(secret, info = "shardgate/v1/share/wrap-key")     32 bytes
//! wrapped key  = nonce ‖ AES-256-GCM(file key, aad = "shardgate/v1/share/key"  ‖ blob id) ‖ tag
//! sealed name  = nonce ‖ AES-256-GCM(name,     aad = "shardgate/v1/share/name" ‖ blob id) ‖ tag
//! ```
//!
//! The broker sees the read token (it stores only its BLAKE3) and the two
//! sealed boxes; it never sees the secret or the wrapping key, so it can
//! read neither the file key nor the name, and the blob id in the AAD keeps
//! it from pairing a share with another blob. The browser page does the same
//! with WebCrypto (`crates/broker/src/gateway/assets`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::aead::{TAG_LEN, open_box, seal_box};
use crate::error::CoreError;
use crate::id::ContentId;
use crate::keys::{FileKey, KEY_LEN, NONCE_LEN, hkdf_into};

/// Bytes of a share secret.
pub const SHARE_SECRET_LEN: usize = 32;
/// Bytes of a read token.
pub const READ_TOKEN_LEN: usize = 32;
/// Bytes of a wrapped file key: nonce, key, tag.
pub const WRAPPED_FILE_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
/// Longest name a share seals, in bytes (the broker's blob-name limit).
pub const MAX_SEALED_NAME_BYTES: usize = 1024;

const LABEL_READ_TOKEN: &[u8] = b"shardgate/v1/share/read-token";
const LABEL_WRAP_KEY: &[u8] = b"shardgate/v1/share/wrap-key";
const AAD_KEY: &[u8] = b"shardgate/v1/share/key";
const AAD_NAME: &[u8] = b"shardgate/v1/share/name";

/// The 256-bit secret of a share link. It goes in the URL fragment and
/// nowhere else.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ShareSecret([u8; SHARE_SECRET_LEN]);

impl std::fmt::Debug for ShareSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareSecret(..)")
    }
}

impl ShareSecret {
    /// A fresh secret from the thread-local CSPRNG (seeded by the OS).
    pub fn generate() -> Self {
        let mut secret = ShareSecret([0u8; SHARE_SECRET_LEN]);
        rand::fill(&mut secret.0[..]);
        secret
    }

    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; SHARE_SECRET_LEN]) -> Self {
        ShareSecret(bytes)
    }

    /// Reads the fragment form: 43 characters of unpadded base64url.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        decode_32(text, "share secret").map(ShareSecret)
    }

    /// The fragment form.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The token that opens the share's metadata and content at the broker.
    pub fn read_token(&self) -> ReadToken {
        let mut out = [0u8; READ_TOKEN_LEN];
        hkdf_into(&self.0, &[LABEL_READ_TOKEN], &mut out);
        ReadToken(out)
    }

    /// The key that seals the file key and the name for this share.
    pub fn wrapping_key(&self) -> ShareWrappingKey {
        let mut out = [0u8; KEY_LEN];
        hkdf_into(&self.0, &[LABEL_WRAP_KEY], &mut out);
        let key = ShareWrappingKey(out);
        out.zeroize();
        key
    }
}

/// What a client shows the broker to read a share. The broker keeps only
/// [`ReadToken::hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct ReadToken([u8; READ_TOKEN_LEN]);

impl std::fmt::Debug for ReadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadToken(..)")
    }
}

impl ReadToken {
    /// Wraps raw token bytes.
    pub fn from_bytes(bytes: [u8; READ_TOKEN_LEN]) -> Self {
        ReadToken(bytes)
    }

    /// Reads the header form (unpadded base64url, 43 characters).
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        decode_32(text, "share read token").map(ReadToken)
    }

    /// The header form.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The raw bytes (sent in CreateShare).
    pub fn as_bytes(&self) -> &[u8; READ_TOKEN_LEN] {
        &self.0
    }

    /// What the broker stores: BLAKE3 of the token.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.0).as_bytes()
    }

    /// True when this token's hash is `stored`, compared in constant time
    /// (`blake3::Hash` equality is), so response timing tells a guesser
    /// nothing about how close a guess was.
    pub fn matches(&self, stored: &[u8; 32]) -> bool {
        blake3::hash(&self.0) == blake3::Hash::from_bytes(*stored)
    }
}

/// AES-256 key derived from a share secret; seals what only link holders
/// may read.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ShareWrappingKey([u8; KEY_LEN]);

impl ShareWrappingKey {
    /// Seals `file_key` for `blob`: [`WRAPPED_FILE_KEY_LEN`] bytes.
    pub fn wrap_file_key(&self, file_key: &FileKey, blob: &ContentId) -> Vec<u8> {
        self.seal(AAD_KEY, blob, file_key.expose_bytes())
    }

    /// Opens a wrapped file key. Any tampering, a wrong link secret or
    /// another blob's box is [`CoreError::DecryptFailed`].
    pub fn unwrap_file_key(&self, wrapped: &[u8], blob: &ContentId) -> Result<FileKey, CoreError> {
        if wrapped.len() != WRAPPED_FILE_KEY_LEN {
            return Err(CoreError::DecryptFailed);
        }
        let mut key = self.open(AAD_KEY, blob, wrapped)?;
        let file_key = FileKey::from_slice(&key);
        key.zeroize();
        file_key
    }

    /// Seals the file name shown on the share page.
    pub fn seal_name(&self, name: &str, blob: &ContentId) -> Result<Vec<u8>, CoreError> {
        if name.len() > MAX_SEALED_NAME_BYTES {
            return Err(CoreError::invalid(
                "share name",
                format!("longer than {MAX_SEALED_NAME_BYTES} bytes"),
            ));
        }
        Ok(self.seal(AAD_NAME, blob, name.as_bytes()))
    }

    /// Opens a sealed name ([`CoreError::DecryptFailed`] as for the key).
    pub fn open_name(&self, sealed: &[u8], blob: &ContentId) -> Result<String, CoreError> {
        let bytes = self.open(AAD_NAME, blob, sealed)?;
        String::from_utf8(bytes).map_err(|_| CoreError::invalid("share name", "not UTF-8"))
    }

    fn aad(label: &[u8], blob: &ContentId) -> Vec<u8> {
        [label, blob.as_bytes()].concat()
    }

    fn seal(&self, label: &[u8], blob: &ContentId, plaintext: &[u8]) -> Vec<u8> {
        // A random nonce per box: one wrapping key seals only two boxes
        // (key and name) of one share, far from the birthday bound.
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce[..]);
        let mut out = vec![0u8; NONCE_LEN + plaintext.len() + TAG_LEN];
        out[..NONCE_LEN].copy_from_slice(&nonce);
        let (body, tag_out) = out[NONCE_LEN..].split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let tag = seal_box(&self.0, nonce, &Self::aad(label, blob), body)
            .expect("AES-GCM over a bounded message cannot fail");
        tag_out.copy_from_slice(&tag);
        out
    }

    fn open(&self, label: &[u8], blob: &ContentId, sealed: &[u8]) -> Result<Vec<u8>, CoreError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CoreError::DecryptFailed);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut nonce_arr = [0u8; NONCE_LEN];
        nonce_arr.copy_from_slice(nonce);
        open_box(&self.0, nonce_arr, &Self::aad(label, blob), body, tag)
    }
}

fn decode_32(text: &str, what: &'static str) -> Result<[u8; 32], CoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| CoreError::invalid(what, "not unpadded base64url"))?;
    bytes
        .try_into()
        .map_err(|_| CoreError::invalid(what, "not 32 bytes (43 base64url characters)"))
}

#[cfg(test)]
#[path = "share_tests.rs"]
mod tests;
