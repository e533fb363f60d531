//! The broker's key material, all derived from the master key.
//!
//! * per-tenant (or, opt-in, global) convergence secrets for managed chunks;
//! * the key-encryption key that wraps chunk keys stored in the index;
//! * the provider-config seal: provider credentials are stored in the index
//!   encrypted, so a copy of the index alone reaches no provider.

use shardgate_core::aead::{open, seal};
use shardgate_core::keys::{KEY_LEN, NONCE_LEN};
use shardgate_core::{ChunkKey, ConvergenceScope, ConvergenceSecret, KeyEncryptionKey, MasterKey};
use zeroize::Zeroize;

use crate::error::BrokerError;

/// Version byte of a sealed provider config.
const SEALED_CONFIG_VERSION: u8 = 1;
/// BLAKE3 `derive_key` context of the provider-config key.
const PROVIDER_SEAL_CONTEXT: &str = "shardgate/v1 provider config seal";
const PROVIDER_SEAL_AAD: &[u8] = b"shardgate/v1/provider-config/";

/// Keys derived once at start. `Debug` prints nothing secret.
pub(crate) struct BrokerKeys {
    master: MasterKey,
    kek: KeyEncryptionKey,
    provider_seal: [u8; KEY_LEN],
    global_dedup: bool,
}

impl std::fmt::Debug for BrokerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerKeys([REDACTED])")
    }
}

impl Drop for BrokerKeys {
    fn drop(&mut self) {
        self.provider_seal.zeroize();
    }
}

impl BrokerKeys {
    /// Parses the master key: exactly 64 hex characters (32 bytes).
    pub(crate) fn from_hex(master_hex: &str) -> Result<Self, BrokerError> {
        let trimmed = master_hex.trim();
        let mut bytes = [0u8; KEY_LEN];
        if trimmed.len() != 2 * KEY_LEN || hex::decode_to_slice(trimmed, &mut bytes).is_err() {
            return Err(BrokerError::Config(
                "master_key must be 64 hex characters (32 random bytes)".to_owned(),
            ));
        }
        let master = MasterKey::from_bytes(bytes);
        bytes.zeroize();
        let kek = master.key_encryption_key();
        let provider_seal = blake3::derive_key(PROVIDER_SEAL_CONTEXT, master.expose_bytes());
        Ok(Self {
            master,
            kek,
            provider_seal,
            global_dedup: false,
        })
    }

    /// Share one convergence secret across tenants (see `BrokerConfig`).
    pub(crate) fn with_global_dedup(mut self, on: bool) -> Self {
        self.global_dedup = on;
        self
    }

    /// The convergence secret for a tenant's managed chunks.
    pub(crate) fn convergence(&self, tenant: &str) -> Result<ConvergenceSecret, BrokerError> {
        let scope = if self.global_dedup {
            ConvergenceScope::Global
        } else {
            ConvergenceScope::Tenant(tenant)
        };
        Ok(self.master.convergence_secret(scope)?)
    }

    /// The key-encryption key for wrapped chunk keys.
    pub(crate) fn kek(&self) -> &KeyEncryptionKey {
        &self.kek
    }

    /// The L402 root key (HKDF of the master key; see shardgate-payments).
    pub(crate) fn l402(&self) -> shardgate_payments::L402Keys {
        shardgate_payments::L402Keys::from_master(&self.master)
    }

    /// Encrypts a provider config for the index:
    /// `version ‖ nonce (12) ‖ AES-256-GCM(config) ‖ tag`, the provider name
    /// bound as AAD. The nonce is random: the key is fixed, the plaintexts
    /// differ, and a few hundred seals stay far below the 2^32 bound for
    /// random 96-bit nonces.
    pub(crate) fn seal_provider_config(
        &self,
        name: &str,
        config: &[u8],
    ) -> Result<Vec<u8>, BrokerError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let key = self.provider_key(&nonce);
        let sealed = seal(&key, &provider_aad(name), config)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_CONFIG_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Reverses [`BrokerKeys::seal_provider_config`]; fails for another
    /// master key, another provider name, or tampered bytes.
    pub(crate) fn open_provider_config(
        &self,
        name: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, BrokerError> {
        let bad = || {
            BrokerError::Config(format!(
                "stored config of provider `{name}` cannot be decrypted (different master key, or damaged)"
            ))
        };
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != SEALED_CONFIG_VERSION {
            return Err(bad());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let key = self.provider_key(&nonce);
        open(&key, &provider_aad(name), &sealed[1 + NONCE_LEN..]).map_err(|_| bad())
    }

    fn provider_key(&self, nonce: &[u8; NONCE_LEN]) -> ChunkKey {
        let mut material = [0u8; KEY_LEN + NONCE_LEN];
        material[..KEY_LEN].copy_from_slice(&self.provider_seal);
        material[KEY_LEN..].copy_from_slice(nonce);
        let key = ChunkKey::from_bytes(material);
        material.zeroize();
        key
    }
}

fn provider_aad(name: &str) -> Vec<u8> {
    let mut aad = PROVIDER_SEAL_AAD.to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn provider_config_round_trips_and_is_bound_to_name_and_key() {
        let keys = BrokerKeys::from_hex(MASTER).expect("key");
        let sealed = keys
            .seal_provider_config("p1", b"secret=abc")
            .expect("seal");
        assert!(!sealed.windows(3).any(|w| w == b"abc"));
        assert_eq!(
            keys.open_provider_config("p1", &sealed).expect("open"),
            b"secret=abc"
        );
        assert!(keys.open_provider_config("p2", &sealed).is_err());
        let other = BrokerKeys::from_hex(&MASTER.replace("00", "ff")).expect("key");
        assert!(other.open_provider_config("p1", &sealed).is_err());
    }

    #[test]
    fn convergence_is_per_tenant_unless_global() {
        let keys = BrokerKeys::from_hex(MASTER).expect("key");
        let a = keys.convergence("a").expect("a").chunk_key(&[0; 32]);
        let b = keys.convergence("b").expect("b").chunk_key(&[0; 32]);
        assert_ne!(a.expose_bytes(), b.expose_bytes());
        let keys = keys.with_global_dedup(true);
        let a = keys.convergence("a").expect("a").chunk_key(&[0; 32]);
        let b = keys.convergence("b").expect("b").chunk_key(&[0; 32]);
        assert_eq!(a.expose_bytes(), b.expose_bytes());
    }

    #[test]
    fn rejects_bad_master_keys() {
        assert!(BrokerKeys::from_hex("abcd").is_err());
        assert!(BrokerKeys::from_hex(&"zz".repeat(32)).is_err());
    }
}
