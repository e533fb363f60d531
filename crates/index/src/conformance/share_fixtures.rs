//! Share records for the cases: ids and records derived from short seeds,
//! so a case reads as "share a of blob x, 3 downloads".

use std::sync::Arc;

use shardgate_core::ContentId;

use super::fixtures::{commit, tenant};
use crate::{Index, IndexError, SHARE_ID_LEN, ShareId, ShareRecord, TenantId};

/// The "now" of the share cases, unix milliseconds.
pub const NOW: u64 = 1_700_000_100_000;

/// The share id of a seed.
pub fn sid(seed: &str) -> ShareId {
    let hash = ContentId::of(format!("share:{seed}").as_bytes());
    let mut id = [0u8; SHARE_ID_LEN];
    id.copy_from_slice(&hash.as_bytes()[..SHARE_ID_LEN]);
    ShareId(id)
}

/// A fresh (creatable) share of `owner`'s blob `blob`: a managed blob's
/// share (no sealed boxes), the blob's own price, no expiry, `max_downloads`.
pub fn share(seed: &str, owner: &TenantId, blob: &ContentId, max_downloads: u32) -> ShareRecord {
    ShareRecord {
        share_id: sid(seed),
        blob_id: *blob,
        owner: owner.clone(),
        token_hash: *ContentId::of(format!("token:{seed}").as_bytes()).as_bytes(),
        wrapped_key: None,
        sealed_name: None,
        price_msat: None,
        expires_at_unix_ms: None,
        max_downloads,
        downloads: 0,
        revoked_at_unix_ms: None,
        created_at_unix_ms: NOW - 1,
    }
}

/// Creates tenant `owner` and commits a blob `name` (chunk seed = name):
/// something to share. Returns the blob id.
pub async fn shared_blob(index: &Arc<dyn Index>, owner: &TenantId, name: &str) -> ContentId {
    if index.tenant(owner).await.expect("tenant").is_none() {
        index
            .create_tenant(tenant(owner.as_str(), 1 << 40))
            .await
            .expect("create tenant");
    }
    commit(index, owner, name, &[name]).await.blob.blob_id
}

/// Creates `share(seed, owner, blob, max_downloads)` and returns it.
pub async fn create(
    index: &Arc<dyn Index>,
    seed: &str,
    owner: &TenantId,
    blob: &ContentId,
    max_downloads: u32,
) -> ShareRecord {
    let record = share(seed, owner, blob, max_downloads);
    index
        .create_share(record.clone())
        .await
        .unwrap_or_else(|e| panic!("create share {seed}: {e}"));
    record
}

/// `take_share_download` of seed's share at `at`: the new count, or the error.
pub async fn take(index: &Arc<dyn Index>, seed: &str, at: u64) -> Result<u32, IndexError> {
    index
        .take_share_download(&sid(seed), at)
        .await
        .map(|s| s.downloads)
}

/// The stored download count of seed's share (panics if it does not exist).
pub async fn downloads(index: &Arc<dyn Index>, seed: &str) -> u32 {
    index
        .share(&sid(seed))
        .await
        .expect("share")
        .expect("share exists")
        .downloads
}

/// The ids of every share of `owner` (of `blob` if given), in list order.
pub async fn listed(
    index: &Arc<dyn Index>,
    owner: &TenantId,
    blob: Option<&ContentId>,
) -> Vec<ShareId> {
    index
        .list_shares(owner, blob, None, crate::MAX_PAGE_LIMIT)
        .await
        .expect("list_shares")
        .iter()
        .map(|s| s.share_id)
        .collect()
}
