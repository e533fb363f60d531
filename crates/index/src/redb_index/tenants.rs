//! Tenant records and the API-key-hash index. Every change that touches
//! both tables runs in the caller's single write transaction.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::shares;
use super::tables::{BLOBS, TENANT_KEYS, TENANTS};
use crate::codec::{decode_tenant, encode_tenant};
use crate::error::IndexError;
use crate::records::{TenantId, TenantRecord};
use crate::rules;

/// Reads one tenant from any view of the `tenants` table.
pub(super) fn load(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &TenantId,
) -> Result<Option<TenantRecord>, IndexError> {
    match table.get(id.as_str())? {
        Some(bytes) => decode_tenant(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Like [`load`], `NotFound` when absent.
pub(super) fn load_existing(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &TenantId,
) -> Result<TenantRecord, IndexError> {
    load(table, id)?.ok_or_else(|| IndexError::not_found(format!("tenant {id}")))
}

pub(super) fn create(txn: &WriteTransaction, tenant: &TenantRecord) -> Result<(), IndexError> {
    if tenant.used_bytes != 0 {
        return Err(IndexError::invalid(
            "a new tenant's used_bytes must be 0 (the index maintains it)",
        ));
    }
    let mut tenants = txn.open_table(TENANTS)?;
    let mut keys = txn.open_table(TENANT_KEYS)?;
    if tenants.get(tenant.id.as_str())?.is_some() {
        return Err(IndexError::already_exists(format!("tenant {}", tenant.id)));
    }
    if keys.get(tenant.api_key_hash)?.is_some() {
        return Err(IndexError::already_exists(
            "a tenant with this API key hash",
        ));
    }
    tenants.insert(tenant.id.as_str(), encode_tenant(tenant).as_slice())?;
    keys.insert(tenant.api_key_hash, tenant.id.as_str())?;
    Ok(())
}

pub(super) fn get(
    txn: &ReadTransaction,
    id: &TenantId,
) -> Result<Option<TenantRecord>, IndexError> {
    load(&txn.open_table(TENANTS)?, id)
}

pub(super) fn by_key_hash(
    txn: &ReadTransaction,
    hash: &[u8; 32],
) -> Result<Option<TenantRecord>, IndexError> {
    let keys = txn.open_table(TENANT_KEYS)?;
    let Some(id) = keys.get(hash)? else {
        return Ok(None);
    };
    let id = TenantId::new(id.value())
        .map_err(|e| IndexError::corrupt(format!("tenant key index: {e}")))?;
    let tenant = load(&txn.open_table(TENANTS)?, &id)?;
    tenant
        .map(Some)
        .ok_or_else(|| IndexError::corrupt(format!("key index names missing tenant {id}")))
}

pub(super) fn list(txn: &ReadTransaction) -> Result<Vec<TenantRecord>, IndexError> {
    let tenants = txn.open_table(TENANTS)?;
    let mut out = Vec::new();
    for entry in tenants.iter()? {
        let (_, value) = entry?;
        out.push(decode_tenant(value.value())?);
    }
    Ok(out)
}

/// Writes a changed tenant record back.
pub(super) fn store(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    tenant: &TenantRecord,
) -> Result<(), IndexError> {
    table.insert(tenant.id.as_str(), encode_tenant(tenant).as_slice())?;
    Ok(())
}

pub(super) fn set_quota(
    txn: &WriteTransaction,
    id: &TenantId,
    quota: u64,
) -> Result<(), IndexError> {
    let mut tenants = txn.open_table(TENANTS)?;
    let mut tenant = load_existing(&tenants, id)?;
    tenant.quota_bytes = quota;
    store(&mut tenants, &tenant)
}

pub(super) fn set_key_hash(
    txn: &WriteTransaction,
    id: &TenantId,
    hash: [u8; 32],
) -> Result<(), IndexError> {
    let mut tenants = txn.open_table(TENANTS)?;
    let mut keys = txn.open_table(TENANT_KEYS)?;
    let mut tenant = load_existing(&tenants, id)?;
    if tenant.api_key_hash == hash {
        return Ok(());
    }
    if keys.get(hash)?.is_some() {
        return Err(IndexError::already_exists(
            "another tenant with this API key hash",
        ));
    }
    keys.remove(tenant.api_key_hash)?;
    keys.insert(hash, id.as_str())?;
    tenant.api_key_hash = hash;
    store(&mut tenants, &tenant)
}

pub(super) fn delete(txn: &WriteTransaction, id: &TenantId) -> Result<(), IndexError> {
    let mut tenants = txn.open_table(TENANTS)?;
    let tenant = load_existing(&tenants, id)?;
    let blobs = txn.open_table(BLOBS)?;
    let owned = blobs
        .range((id.as_str(), [0u8; 32])..=(id.as_str(), [0xffu8; 32]))?
        .next()
        .is_some();
    if owned {
        return Err(IndexError::invalid(format!(
            "tenant {id} still owns blobs; delete them first"
        )));
    }
    shares::delete_of_owner(txn, id)?;
    txn.open_table(TENANT_KEYS)?.remove(tenant.api_key_hash)?;
    tenants.remove(id.as_str())?;
    Ok(())
}

pub(super) fn check_quota(
    txn: &ReadTransaction,
    id: &TenantId,
    size: u64,
) -> Result<(), IndexError> {
    let tenant = load_existing(&txn.open_table(TENANTS)?, id)?;
    rules::check_quota(tenant.used_bytes, tenant.quota_bytes, size)
}
