//! Who is calling: `x-api-key` resolves to a tenant (by the BLAKE3 hash of
//! the key, the only form the index keeps), `x-admin-key` authorizes the
//! Admin and Providers services.
//!
//! This is an async extractor each handler calls first, rather than a tonic
//! interceptor: interceptors are synchronous and the look-up needs the index.

use std::sync::Arc;

use shardgate_index::{Index, TenantRecord};
use shardgate_proto::auth_metadata::{ADMIN_KEY, API_KEY};
use tonic::metadata::MetadataMap;

use crate::error::BrokerError;
use crate::limits::{KeyedRate, Limit, TenantKey, refusal};

/// Prefix of issued API keys, so a leaked key is recognisable in scanners.
const API_KEY_PREFIX: &str = "sgk_";
/// Longest key accepted before hashing (the proto promises at most 128).
const MAX_KEY_LEN: usize = 128;

/// Resolves callers from request metadata, and counts each tenant's calls
/// (`limits.requests_per_second_per_tenant`) where the tenant becomes
/// known.
#[derive(Clone)]
pub(crate) struct Authenticator {
    index: Arc<dyn Index>,
    admin_key_hash: Option<blake3::Hash>,
    per_tenant: Option<Arc<KeyedRate<TenantKey>>>,
}

impl Authenticator {
    /// `admin_key_hash`: BLAKE3 of the admin key, or `None` to refuse every
    /// admin call.
    pub(crate) fn new(index: Arc<dyn Index>, admin_key_hash: Option<[u8; 32]>) -> Self {
        Self {
            index,
            admin_key_hash: admin_key_hash.map(blake3::Hash::from_bytes),
            per_tenant: None,
        }
    }

    /// Refuses a tenant's calls past `per_second` (0: no limit).
    pub(crate) fn with_tenant_rate(mut self, per_second: u32) -> Self {
        self.per_tenant = KeyedRate::per_second(per_second).map(Arc::new);
        self
    }

    /// The tenant named by `x-api-key`, if one is sent. A key that is sent
    /// but unknown is refused even where no key is needed, so a
    /// misconfigured client finds out on its first call.
    pub(crate) async fn optional_tenant(
        &self,
        metadata: &MetadataMap,
    ) -> Result<Option<TenantRecord>, BrokerError> {
        let Some(key) = header(metadata, API_KEY)? else {
            return Ok(None);
        };
        let hash = hash_key(key);
        match self.index.tenant_by_key_hash(hash.as_bytes()).await? {
            Some(tenant) => {
                if let Some(rate) = &self.per_tenant {
                    rate.check(&TenantKey::of(&tenant))
                        .map_err(|wait| refusal(Limit::RequestsPerTenant, wait))?;
                }
                Ok(Some(tenant))
            }
            None => Err(BrokerError::Unauthenticated(
                "the x-api-key is unknown or was rotated; use a current key from Admin.CreateTenant or Admin.RotateTenantKey"
                    .to_owned(),
            )),
        }
    }

    /// The calling tenant; `x-api-key` is required.
    pub(crate) async fn tenant(&self, metadata: &MetadataMap) -> Result<TenantRecord, BrokerError> {
        self.optional_tenant(metadata).await?.ok_or_else(|| {
            BrokerError::Unauthenticated(
                "missing x-api-key metadata: this RPC needs a tenant API key".to_owned(),
            )
        })
    }

    /// Admin calls: `x-admin-key` must match. A tenant key alone is
    /// PERMISSION_DENIED (we know who it is, and it may not do this).
    pub(crate) async fn admin(&self, metadata: &MetadataMap) -> Result<(), BrokerError> {
        match header(metadata, ADMIN_KEY)? {
            Some(key) => match &self.admin_key_hash {
                // `blake3::Hash` equality is constant-time.
                Some(expected) if hash_key(key) == *expected => Ok(()),
                Some(_) => Err(BrokerError::Unauthenticated(
                    "the x-admin-key is wrong".to_owned(),
                )),
                None => Err(BrokerError::PermissionDenied(
                    "admin RPCs are disabled on this broker (no admin_key_hash configured)"
                        .to_owned(),
                )),
            },
            None => {
                if self.optional_tenant(metadata).await?.is_some() {
                    return Err(BrokerError::PermissionDenied(
                        "this RPC needs x-admin-key; a tenant x-api-key is not enough".to_owned(),
                    ));
                }
                Err(BrokerError::Unauthenticated(
                    "missing x-admin-key metadata: this RPC needs the operator's admin key"
                        .to_owned(),
                ))
            }
        }
    }
}

/// A fresh API key and the hash to store. The key is shown once.
pub(crate) fn new_api_key() -> (String, [u8; 32]) {
    let secret: [u8; 32] = rand::random();
    let key = format!("{API_KEY_PREFIX}{}", hex::encode(secret));
    let hash = *hash_key(&key).as_bytes();
    (key, hash)
}

/// BLAKE3 of a key as sent.
pub(crate) fn hash_key(key: &str) -> blake3::Hash {
    blake3::hash(key.as_bytes())
}

fn header<'a>(
    metadata: &'a MetadataMap,
    name: &'static str,
) -> Result<Option<&'a str>, BrokerError> {
    let Some(value) = metadata.get(name) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        BrokerError::Unauthenticated(format!("{name} metadata is not printable ASCII"))
    })?;
    if value.is_empty() || value.len() > MAX_KEY_LEN {
        return Err(BrokerError::Unauthenticated(format!(
            "{name} metadata must be 1..={MAX_KEY_LEN} characters"
        )));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_are_distinct_and_hash_as_sent() {
        let (a, ha) = new_api_key();
        let (b, hb) = new_api_key();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() <= MAX_KEY_LEN);
        assert_eq!(*hash_key(&a).as_bytes(), ha);
    }
}
