//! Tenants: create, look up by id and by API key hash, quota, key
//! rotation, delete.

use std::sync::Arc;

use super::fixtures::{commit, key_hash, tenant, tid};
use crate::{Index, IndexError, TenantId};

/// Tenant ids are validated; tenants are created once, read by id and by
/// API key hash, and a taken id or key hash is `AlreadyExists`.
pub async fn tenants_crud_and_key_lookup(index: Arc<dyn Index>) {
    assert!(TenantId::new("").is_err() && TenantId::new("Upper").is_err());
    assert!(TenantId::new("a".repeat(65)).is_err() && TenantId::new("ok-1").is_ok());

    let (a, b) = (tenant("acme", 1 << 30), tenant("beta", 1 << 20));
    index.create_tenant(b.clone()).await.expect("create beta");
    index.create_tenant(a.clone()).await.expect("create acme");

    let mut same_id = tenant("acme", 5);
    same_id.api_key_hash = key_hash("other");
    assert!(matches!(
        index.create_tenant(same_id).await,
        Err(IndexError::AlreadyExists { .. })
    ));
    let mut same_key = tenant("gamma", 5);
    same_key.api_key_hash = a.api_key_hash;
    assert!(matches!(
        index.create_tenant(same_key).await,
        Err(IndexError::AlreadyExists { .. })
    ));
    let mut used = tenant("delta", 5);
    used.used_bytes = 1;
    assert!(matches!(
        index.create_tenant(used).await,
        Err(IndexError::Invalid { .. })
    ));
    assert_eq!(
        index.tenant(&tid("gamma")).await.unwrap(),
        None,
        "refused create wrote nothing"
    );

    assert_eq!(index.tenant(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        index.tenant_by_key_hash(&a.api_key_hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        index.tenant_by_key_hash(&key_hash("nobody")).await.unwrap(),
        None
    );
    let ids: Vec<String> = index
        .list_tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ids, ["acme", "beta"], "ordered by id");

    index.set_quota(&a.id, 42).await.unwrap();
    assert_eq!(index.tenant(&a.id).await.unwrap().unwrap().quota_bytes, 42);
    assert!(matches!(
        index.set_quota(&tid("nobody"), 1).await,
        Err(IndexError::NotFound { .. })
    ));

    // Key rotation: the old key stops working at once.
    let new_key = key_hash("acme-rotated");
    index.set_api_key_hash(&a.id, new_key).await.unwrap();
    assert_eq!(
        index.tenant_by_key_hash(&a.api_key_hash).await.unwrap(),
        None
    );
    let rotated = index
        .tenant_by_key_hash(&new_key)
        .await
        .unwrap()
        .expect("new key works");
    assert_eq!(
        (rotated.id.clone(), rotated.quota_bytes),
        (a.id.clone(), 42)
    );
    assert!(matches!(
        index.set_api_key_hash(&a.id, b.api_key_hash).await,
        Err(IndexError::AlreadyExists { .. })
    ));
    assert_eq!(
        index
            .tenant_by_key_hash(&new_key)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(a.id.clone())
    );

    // A tenant with blobs cannot be deleted; without, it can.
    commit(&index, &b.id, "keep", &["t1"]).await;
    assert!(matches!(
        index.delete_tenant(&b.id).await,
        Err(IndexError::Invalid { .. })
    ));
    index.delete_tenant(&a.id).await.expect("delete acme");
    assert_eq!(index.tenant(&a.id).await.unwrap(), None);
    assert_eq!(index.tenant_by_key_hash(&new_key).await.unwrap(), None);
    assert!(matches!(
        index.delete_tenant(&a.id).await,
        Err(IndexError::NotFound { .. })
    ));
    let left: Vec<TenantId> = index
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, [b.id]);
}
