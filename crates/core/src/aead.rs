//! AES-256-GCM sealing of chunks.
//!
//! # Why a derived nonce is safe here
//!
//! AES-GCM breaks (keystream reuse, and GHASH key recovery allowing
//! forgeries) only when one key encrypts two *different* messages under the
//! same nonce. So we never reuse a key for a second plaintext:
//!
//! * **managed**: the chunk key and its nonce are one HKDF output whose info
//!   contains BLAKE3(plaintext). A key therefore exists for exactly one
//!   plaintext (a second plaintext with the same key would be a BLAKE3
//!   collision). Encrypting the same chunk twice reuses the nonce with the
//!   *same* message and yields the same ciphertext, which reveals nothing new;
//!   that determinism is the dedup.
//! * **end_to_end**: key and nonce come from HKDF(file key, index ‖ last).
//!   Within one file every (index, last) pair is used once, so every key
//!   seals one plaintext. **A file key must never be used for a second file,
//!   nor to re-encrypt a changed chunk of the same file**: chunk 0 of both
//!   would get the same key and nonce with different plaintexts. Hence
//!   [`crate::keys::FileKey::generate`] for every upload, and no API to
//!   derive file keys from anything else.
//!
//! The nonce is HKDF-derived rather than a constant zero only as margin
//! against multi-key attacks that would target many keys under one nonce; the
//! safety argument above does not depend on it.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::buffer::ShardBuf;
use crate::error::CoreError;
use crate::keys::{ChunkKey, LABEL_E2E};

/// AES-GCM authentication tag length: a sealed chunk is `plaintext + 16` bytes.
pub const TAG_LEN: usize = 16;
/// Associated data of every managed-mode chunk: separates the two modes.
pub const MANAGED_AAD: &[u8] = b"shardgate/v1/managed";
/// Length of [`e2e_aad`]: label (16) + index (8) + last flag (1).
pub const E2E_AAD_LEN: usize = 25;

/// Associated data of an end-to-end chunk: `"shardgate/v1/e2e" ‖ index u64 BE
/// ‖ last (0 or 1)`. Opening a chunk at another position, or as last when it
/// was not (or the reverse), fails authentication.
pub fn e2e_aad(index: u64, last: bool) -> [u8; E2E_AAD_LEN] {
    let mut aad = [0u8; E2E_AAD_LEN];
    aad[..16].copy_from_slice(LABEL_E2E);
    aad[16..24].copy_from_slice(&index.to_be_bytes());
    aad[24] = u8::from(last);
    aad
}

/// The chunk's AES-256-GCM key. Chunk AEAD is `ring`'s: its AES-GCM (run-
/// time selected VAES/VPCLMULQDQ or AES-NI/CLMUL assembly) opened at 6.8
/// GB/s and sealed at 5.5 (with a copy) where the `aes-gcm` crate did 4.0
/// (docs/performance.md), and every byte stored or served passes through
/// it. The output is standard AES-256-GCM, byte for byte the same.
fn cipher(key: &ChunkKey) -> Result<(LessSafeKey, Nonce), CoreError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.aes_key())
        .map_err(|_| CoreError::invalid("chunk key", "not an AES-256 key"))?;
    // Safe to "assume unique": a chunk key seals exactly one plaintext
    // (module docs), so its nonce is never reused with another message.
    Ok((
        LessSafeKey::new(unbound),
        Nonce::assume_unique_for_key(key.nonce()),
    ))
}

/// AES-256-GCM under a raw key and an explicit nonce, for the small boxes
/// that are not chunks (wrapped chunk keys, share boxes): seals `in_out`
/// in place and returns the tag. The caller owns the nonce argument for
/// its key (`wrap.rs`, `share.rs`). Fails only for a message too long for
/// AES-GCM, which a box never is.
pub(crate) fn seal_box(
    key: &[u8; 32],
    nonce: [u8; 12],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; TAG_LEN], CoreError> {
    let key = box_key(key)?;
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
        .map_err(|_| CoreError::invalid("plaintext", "too long for AES-GCM"))?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens a box sealed by [`seal_box`]: `body` and its `tag`. Any failure
/// is [`CoreError::DecryptFailed`]; the plaintext only if the tag verifies.
pub(crate) fn open_box(
    key: &[u8; 32],
    nonce: [u8; 12],
    aad: &[u8],
    body: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, CoreError> {
    if tag.len() != TAG_LEN {
        return Err(CoreError::DecryptFailed);
    }
    let mut sealed = [body, tag].concat();
    let opened = box_key(key)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut sealed,
        )
        .map(|plain| plain.len());
    match opened {
        Ok(len) => {
            sealed.truncate(len);
            Ok(sealed)
        }
        Err(_) => {
            // ring leaves the buffer unspecified on failure: no byte of it
            // outlives the call.
            zeroize::Zeroize::zeroize(&mut sealed);
            Err(CoreError::DecryptFailed)
        }
    }
}

fn box_key(key: &[u8; 32]) -> Result<LessSafeKey, CoreError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CoreError::invalid("box key", "not an AES-256 key"))
}

/// Encrypts `plaintext` into `ciphertext ‖ tag` (`plaintext.len() + 16` bytes).
pub fn seal(key: &ChunkKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
    let mut out = vec![0u8; plaintext.len() + TAG_LEN];
    seal_into(key, aad, plaintext, &mut out)?;
    Ok(out)
}

/// Like [`seal`], writing `ciphertext ‖ tag` into `out`, which must be
/// exactly `plaintext.len() + 16` bytes: lets the pipeline encrypt straight
/// into a shard object buffer.
pub(crate) fn seal_into(
    key: &ChunkKey,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<(), CoreError> {
    let (cipher, nonce) = cipher(key)?;
    let (body, tag_out) = out
        .split_at_mut_checked(plaintext.len())
        .ok_or_else(|| CoreError::invalid("seal", "output shorter than the plaintext"))?;
    if tag_out.len() != TAG_LEN {
        return Err(CoreError::invalid(
            "seal",
            "output is not plaintext + tag long",
        ));
    }
    // ring encrypts in place: one copy into `out`, far cheaper than the
    // slower cipher it replaced.
    body.copy_from_slice(plaintext);
    let tag = cipher
        .seal_in_place_separate_tag(nonce, Aad::from(aad), body)
        .map_err(|_| CoreError::invalid("plaintext", "too long for AES-GCM"))?;
    tag_out.copy_from_slice(tag.as_ref());
    Ok(())
}

/// Verifies and decrypts `ciphertext ‖ tag`. Any failure (wrong key, wrong
/// AAD, any flipped bit, too short) is [`CoreError::DecryptFailed`]; no
/// plaintext is returned unless the tag verifies.
pub fn open(key: &ChunkKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CoreError> {
    open_in_place(key, aad, sealed.to_vec())
}

/// Like [`open`], decrypting where the sealed chunk lies: the buffer comes
/// back cut to the plaintext, so opening a chunk needs no second
/// chunk-sized buffer (nor its page faults and zero-fill). On any failure
/// the buffer is dropped, never returned: no unverified byte gets out.
pub fn open_in_place<B: ShardBuf>(
    key: &ChunkKey,
    aad: &[u8],
    mut sealed: B,
) -> Result<B, CoreError> {
    let body_len = sealed
        .as_ref()
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CoreError::DecryptFailed)?;
    let (cipher, nonce) = cipher(key)?;
    cipher
        .open_in_place(nonce, Aad::from(aad), sealed.as_mut())
        .map_err(|_| CoreError::DecryptFailed)?;
    sealed.truncate(body_len);
    Ok(sealed)
}
