//! The CPU stage of an upload, run on the blocking pool: one stream piece
//! in, `k + m` shard objects out.
//!
//! * MANAGED: the piece is plaintext; `seal_chunk` hashes, encrypts with the
//!   tenant's convergent key and erasure-codes it; the chunk key is wrapped
//!   under the KEK for the index.
//! * END_TO_END: the piece is already ciphertext (plaintext + 16-byte tag)
//!   made by the client SDK under a key the broker never sees; it is only
//!   named (BLAKE3) and erasure-coded.

use std::sync::Arc;

use bytes::Bytes;
use shardgate_backends::PooledBuf;
use shardgate_core::{
    ConvergenceSecret, ErasureParams, KeyEncryptionKey, MIN_SEALED_CHUNK_LEN, ManifestChunk,
    SealKey, encode_sealed_chunk_in, seal_chunk_in,
};

use crate::error::BrokerError;

/// How pieces of this upload are sealed.
#[derive(Clone)]
pub(crate) enum SealMode {
    /// Plaintext pieces, convergent keys from this secret.
    Managed {
        secret: Arc<ConvergenceSecret>,
        kek: Arc<KeyEncryptionKey>,
    },
    /// Ciphertext pieces from the client SDK.
    EndToEnd,
}

/// A sealed piece, ready to be written.
#[derive(Debug)]
pub(crate) struct SealedPiece {
    /// What the manifest records (plaintext length).
    pub entry: ManifestChunk,
    /// Sealed (ciphertext ‖ tag) length: the erasure-coder's input.
    pub sealed_len: u32,
    /// The wrapped chunk key (MANAGED only).
    pub wrapped_key: Option<Vec<u8>>,
    /// `k + m` shard objects in index order.
    pub shards: Vec<Bytes>,
}

/// Seals one piece. Call on the blocking pool: it hashes, encrypts and
/// erasure-codes a whole chunk.
pub(crate) fn seal_piece(
    mode: &SealMode,
    piece: &[u8],
    params: ErasureParams,
) -> Result<SealedPiece, BrokerError> {
    match mode {
        SealMode::Managed { secret, kek } => {
            let sealed = seal_chunk_in::<PooledBuf>(piece, SealKey::Managed(secret), params)?;
            let wrapped = kek.wrap_chunk_key(&sealed.chunk_id, &sealed.key);
            Ok(SealedPiece {
                entry: sealed.manifest_entry(),
                sealed_len: sealed.sealed_len,
                wrapped_key: Some(wrapped.as_bytes().to_vec()),
                shards: into_bytes(sealed.shards),
            })
        }
        SealMode::EndToEnd => seal_ciphertext(piece, params),
    }
}

fn seal_ciphertext(piece: &[u8], params: ErasureParams) -> Result<SealedPiece, BrokerError> {
    // A chunk holds at least one plaintext byte, so its ciphertext is at
    // least tag + 1 bytes (see EndToEndScheme in storage.proto).
    if piece.len() < MIN_SEALED_CHUNK_LEN {
        return Err(BrokerError::invalid(
            "data",
            format!(
                "END_TO_END stream ends with a {}-byte piece; a ciphertext chunk is at least 17 bytes (plaintext + 16-byte tag)",
                piece.len()
            ),
        ));
    }
    let encoded = encode_sealed_chunk_in::<PooledBuf>(piece, params)?;
    Ok(SealedPiece {
        entry: encoded.manifest_entry(),
        sealed_len: encoded.sealed_len,
        wrapped_key: None,
        shards: into_bytes(encoded.shards),
    })
}

/// The objects as `Bytes` over their pooled buffers (no copy; providers
/// that write with direct I/O use the aligned memory as it is).
fn into_bytes(objects: Vec<PooledBuf>) -> Vec<Bytes> {
    objects.into_iter().map(PooledBuf::into_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_core::{
        ContentId, FileKey, MasterKey, OpenKey, WrappedChunkKey, decode_shard_object, open_chunk,
    };

    fn params() -> ErasureParams {
        ErasureParams::new(2, 1).expect("2+1")
    }

    #[test]
    fn managed_pieces_open_with_the_unwrapped_key() {
        let master = MasterKey::from_bytes([7; 32]);
        let mode = SealMode::Managed {
            secret: Arc::new(
                master
                    .convergence_secret(shardgate_core::ConvergenceScope::Tenant("t"))
                    .expect("secret"),
            ),
            kek: Arc::new(master.key_encryption_key()),
        };
        let plain = vec![42u8; 1000];
        let sealed = seal_piece(&mode, &plain, params()).expect("seal");
        assert_eq!(sealed.shards.len(), 3);
        assert_eq!(sealed.entry.len, 1000);
        let wrapped = WrappedChunkKey::from_slice(sealed.wrapped_key.as_deref().expect("managed"))
            .expect("wrapped");
        let key = master
            .key_encryption_key()
            .unwrap_chunk_key(&sealed.entry.id, &wrapped)
            .expect("unwrap");
        let slots: Vec<Option<&[u8]>> =
            vec![None, Some(&sealed.shards[1]), Some(&sealed.shards[2])];
        let opened =
            open_chunk(&slots, &sealed.entry, params(), OpenKey::Managed(&key)).expect("open");
        assert_eq!(opened.plaintext, plain);
    }

    #[test]
    fn ciphertext_pieces_are_coded_as_is_and_named_by_their_hash() {
        let file_key = FileKey::generate();
        let plain = vec![1u8; 300];
        let ct = shardgate_core::aead::seal(
            &file_key.chunk_key(0, true),
            &shardgate_core::aead::e2e_aad(0, true),
            &plain,
        )
        .expect("seal");
        let sealed = seal_piece(&SealMode::EndToEnd, &ct, params()).expect("code");
        assert_eq!(sealed.entry.id, ContentId::of(&ct));
        assert_eq!(sealed.entry.len, 300);
        assert!(sealed.wrapped_key.is_none());
        let (header, _) = decode_shard_object(&sealed.shards[0]).expect("valid shard");
        assert_eq!(header.chunk_len as usize, ct.len());
    }

    #[test]
    fn a_too_short_last_ciphertext_piece_is_refused() {
        let err = seal_piece(&SealMode::EndToEnd, &[0u8; 16], params()).expect_err("short");
        assert!(err.to_string().contains("17 bytes"), "{err}");
    }
}
