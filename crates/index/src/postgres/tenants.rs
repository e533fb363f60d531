//! Tenants. The API key hash is a UNIQUE column, so a taken hash is
//! refused by the database itself (`AlreadyExists`), also across replicas.

use deadpool_postgres::tokio_postgres::{Client, Transaction};

use super::errors::pg;
use super::numeric::U64;
use super::rows::{self, TENANT_COLUMNS};
use crate::error::IndexError;
use crate::records::{TenantId, TenantRecord};
use crate::rules;

pub(super) async fn create(txn: &Transaction<'_>, tenant: TenantRecord) -> Result<(), IndexError> {
    if tenant.used_bytes != 0 {
        return Err(IndexError::invalid(
            "a new tenant's used_bytes must be 0 (the index maintains it)",
        ));
    }
    // Two unique constraints: say which one is taken, as redb does.
    let taken = txn
        .query_opt(
            "SELECT id = $1 AS same_id FROM tenants WHERE id = $1 OR api_key_hash = $2 \
             ORDER BY (id = $1) DESC LIMIT 1",
            &[&tenant.id.as_str(), &tenant.api_key_hash.as_slice()],
        )
        .await
        .map_err(pg("create tenant"))?;
    if let Some(row) = taken {
        return Err(if super::errors::col::<bool>(&row, "same_id")? {
            IndexError::already_exists(format!("tenant {}", tenant.id))
        } else {
            IndexError::already_exists("a tenant with this API key hash")
        });
    }
    // A concurrent create of the same id or hash still ends in a unique
    // violation here, which maps to AlreadyExists as well.
    txn.execute(
        "INSERT INTO tenants (id, name, api_key_hash, quota_bytes, used_bytes, created_at_unix_ms) \
         VALUES ($1, $2, $3, $4, 0, $5)",
        &[
            &tenant.id.as_str(),
            &tenant.name,
            &tenant.api_key_hash.as_slice(),
            &U64(tenant.quota_bytes),
            &U64(tenant.created_at_unix_ms),
        ],
    )
    .await
    .map_err(pg("create tenant"))?;
    Ok(())
}

pub(super) async fn get(
    client: &Client,
    id: &TenantId,
) -> Result<Option<TenantRecord>, IndexError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    let row = client
        .query_opt(&sql, &[&id.as_str()])
        .await
        .map_err(pg("read tenant"))?;
    row.as_ref().map(rows::tenant).transpose()
}

pub(super) async fn by_key_hash(
    client: &Client,
    hash: &[u8; 32],
) -> Result<Option<TenantRecord>, IndexError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE api_key_hash = $1");
    let row = client
        .query_opt(&sql, &[&hash.as_slice()])
        .await
        .map_err(pg("look up API key"))?;
    row.as_ref().map(rows::tenant).transpose()
}

pub(super) async fn list(client: &Client) -> Result<Vec<TenantRecord>, IndexError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id");
    let all = client.query(&sql, &[]).await.map_err(pg("list tenants"))?;
    all.iter().map(rows::tenant).collect()
}

/// Locks the tenant row for this transaction (quota, usage, its blobs).
pub(super) async fn lock(txn: &Transaction<'_>, id: &TenantId) -> Result<TenantRecord, IndexError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR NO KEY UPDATE");
    let row = txn
        .query_opt(&sql, &[&id.as_str()])
        .await
        .map_err(pg("lock tenant"))?
        .ok_or_else(|| IndexError::not_found(format!("tenant {id}")))?;
    rows::tenant(&row)
}

pub(super) async fn set_used(
    txn: &Transaction<'_>,
    id: &TenantId,
    used: u64,
) -> Result<(), IndexError> {
    txn.execute(
        "UPDATE tenants SET used_bytes = $2 WHERE id = $1",
        &[&id.as_str(), &U64(used)],
    )
    .await
    .map_err(pg("update tenant usage"))?;
    Ok(())
}

pub(super) async fn set_quota(
    txn: &Transaction<'_>,
    id: TenantId,
    quota: u64,
) -> Result<(), IndexError> {
    let n = txn
        .execute(
            "UPDATE tenants SET quota_bytes = $2 WHERE id = $1",
            &[&id.as_str(), &U64(quota)],
        )
        .await
        .map_err(pg("set quota"))?;
    if n == 0 {
        return Err(IndexError::not_found(format!("tenant {id}")));
    }
    Ok(())
}

/// One statement: the old hash stops working when the new one starts.
pub(super) async fn set_key_hash(
    txn: &Transaction<'_>,
    id: TenantId,
    hash: [u8; 32],
) -> Result<(), IndexError> {
    let n = txn
        .execute(
            "UPDATE tenants SET api_key_hash = $2 WHERE id = $1",
            &[&id.as_str(), &hash.as_slice()],
        )
        .await
        .map_err(|e| match super::errors::from_pg("set API key hash", &e) {
            IndexError::AlreadyExists { .. } => {
                IndexError::already_exists("another tenant with this API key hash")
            }
            other => other,
        })?;
    if n == 0 {
        return Err(IndexError::not_found(format!("tenant {id}")));
    }
    Ok(())
}

pub(super) async fn delete(txn: &Transaction<'_>, id: TenantId) -> Result<(), IndexError> {
    // The row lock keeps commits of this tenant out until we are done.
    lock(txn, &id).await?;
    let owns = txn
        .query_opt(
            "SELECT 1 FROM blobs WHERE owner = $1 LIMIT 1",
            &[&id.as_str()],
        )
        .await
        .map_err(pg("delete tenant"))?
        .is_some();
    if owns {
        return Err(IndexError::invalid(format!(
            "tenant {id} still owns blobs; delete them first"
        )));
    }
    txn.execute("DELETE FROM tenants WHERE id = $1", &[&id.as_str()])
        .await
        .map_err(pg("delete tenant"))?;
    Ok(())
}

pub(super) async fn check_quota(
    client: &Client,
    id: &TenantId,
    size: u64,
) -> Result<(), IndexError> {
    let tenant = get(client, id)
        .await?
        .ok_or_else(|| IndexError::not_found(format!("tenant {id}")))?;
    rules::check_quota(tenant.used_bytes, tenant.quota_bytes, size)
}
