//! The node's identity key: a real secp256k1 key, so `identity_pubkey` is a
//! valid compressed point and invoices carry a real BOLT 11 signature that
//! any decoder (LND's included) can check or recover the payee from.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

/// Compact signature (r ‖ s) plus recovery id, as BOLT 11 stores it.
pub(crate) type RecoverableSignature = [u8; 65];

pub(crate) struct NodeKey {
    signing: SigningKey,
    pubkey: [u8; 33],
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", hex::encode(self.pubkey))
    }
}

impl NodeKey {
    /// A fresh random key.
    pub(crate) fn generate() -> Self {
        loop {
            // A random 32-byte string is a valid scalar except with
            // probability ~2^-128 (zero or ≥ the group order): retry then.
            let secret: [u8; 32] = rand::random();
            if let Ok(signing) = SigningKey::from_bytes(&secret.into()) {
                let pubkey = compressed(signing.verifying_key());
                return NodeKey { signing, pubkey };
            }
        }
    }

    /// 33-byte compressed SEC1 public key.
    pub(crate) fn pubkey(&self) -> [u8; 33] {
        self.pubkey
    }

    /// Signs a 32-byte digest (low-S, RFC 6979 nonce).
    pub(crate) fn sign_recoverable(&self, digest: &[u8; 32]) -> RecoverableSignature {
        let (signature, recovery_id) = self.signing.sign_prehash_recoverable(digest);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = recovery_id.to_byte();
        out
    }
}

/// Recovers the compressed public key that produced `signature` over
/// `digest`, or None if the signature is malformed.
pub(crate) fn recover(digest: &[u8; 32], signature: &RecoverableSignature) -> Option<[u8; 33]> {
    let sig = Signature::from_slice(&signature[..64]).ok()?;
    let recovery_id = RecoveryId::from_byte(signature[64])?;
    let key = VerifyingKey::recover_from_prehash(digest, &sig, recovery_id).ok()?;
    Some(compressed(&key))
}

fn compressed(key: &VerifyingKey) -> [u8; 33] {
    let point = key.to_sec1_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(point.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_recovers_the_signer() {
        let key = NodeKey::generate();
        assert!(matches!(key.pubkey()[0], 0x02 | 0x03));
        let digest = [7u8; 32];
        let sig = key.sign_recoverable(&digest);
        assert_eq!(recover(&digest, &sig), Some(key.pubkey()));
        assert_ne!(recover(&[8u8; 32], &sig), Some(key.pubkey()));
    }
}
