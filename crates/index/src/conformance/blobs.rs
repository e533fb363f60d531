//! Blobs: commit, look-ups, listing, idempotence, quota, delete.

use std::collections::BTreeSet;
use std::sync::Arc;

use shardgate_core::ContentId;

use super::fixtures::{CHUNK, chunk, cid, commit, is_live, new_blob, refcount, tenant, tid, used};
use crate::{CommitOutcome, Index, IndexError, Price, ShardLocation, Visibility};

/// A committed blob reads back unchanged by id, charges its size to the
/// owner once, and counts a chunk listed twice in its manifest once.
pub async fn commit_get_and_stat(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    // "c" appears twice in the manifest: one reference from this blob.
    let new = commit(&index, &t, "docs/report.pdf", &["a", "b", "c", "c"]).await;
    let id = new.blob.blob_id;

    assert_eq!(index.blob(&t, &id).await.unwrap(), Some(new.blob.clone()));
    assert_eq!(used(&index, &t).await, 4 * CHUNK);
    let records = index.chunks_of(&[cid("a"), cid("c")]).await.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].shards, chunk("a").shards);
    assert_eq!(records[0].wrapped_key, chunk("a").wrapped_key);
    assert_eq!((records[0].refcount, records[1].refcount), (1, 1));
    let live = index.live_chunks(&[cid("b"), cid("nope")]).await.unwrap();
    assert_eq!(live[0].as_ref().map(|c| c.chunk_id), Some(cid("b")));
    assert_eq!(live[1], None);
    assert!(matches!(
        index.chunks_of(&[cid("a"), cid("nope")]).await,
        Err(IndexError::NotFound { .. })
    ));
    assert_eq!(
        index.blob(&t, &ContentId::of(b"other")).await.unwrap(),
        None
    );

    // An empty blob has no chunks and costs no quota.
    let empty = commit(&index, &t, "empty", &[]).await;
    assert_eq!(empty.blob.size, 0);
    let stored = index.blob(&t, &empty.blob.blob_id).await.unwrap();
    assert_eq!(stored, Some(empty.blob.clone()));
    assert_eq!(used(&index, &t).await, 4 * CHUNK);
    assert!(index.delete_blob(&t, &empty.blob.blob_id).await.unwrap());
}

/// Every inconsistent `NewBlob` (id not the manifest hash, wrong size,
/// bad chunk or shard records, ...) is `Invalid` and leaves no trace; the
/// corrected commit then succeeds.
pub async fn invalid_commits_write_nothing(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let good = new_blob(&t, "x", &["a", "b"], 0);

    let mut wrong_id = good.clone();
    wrong_id.blob.blob_id = ContentId::of(b"not the manifest");
    let mut wrong_size = good.clone();
    wrong_size.blob.size += 1;
    let mut missing_chunk = good.clone();
    missing_chunk.chunks.pop();
    let mut extra_chunk = good.clone();
    extra_chunk.chunks.push(chunk("z"));
    let mut bad_shard = good.clone();
    bad_shard.chunks[0].shards.push(ShardLocation {
        index: 3,
        provider: "p3".into(),
    });
    let mut bad_manifest = good.clone();
    bad_manifest.blob.manifest.truncate(10);
    let mut long_name = good.clone();
    long_name.blob.name = "n".repeat(crate::MAX_BLOB_NAME_LEN + 1);
    for (what, bad) in [
        ("blob id", wrong_id),
        ("size", wrong_size),
        ("missing chunk", missing_chunk),
        ("extra chunk", extra_chunk),
        ("shard index", bad_shard),
        ("manifest", bad_manifest),
        ("name", long_name),
    ] {
        let r = index.commit_blob(bad).await;
        assert!(
            matches!(r, Err(IndexError::Invalid { .. })),
            "{what}: {r:?}"
        );
    }
    let mut stranger = good.clone();
    stranger.blob.owner = tid("nobody");
    assert!(matches!(
        index.commit_blob(stranger).await,
        Err(IndexError::NotFound { .. })
    ));
    let mut future = good.clone();
    future.observed_gc_epoch = 1_000_000;
    assert!(matches!(
        index.commit_blob(future).await,
        Err(IndexError::Invalid { .. })
    ));

    assert_eq!(used(&index, &t).await, 0);
    assert_eq!(index.blob(&t, &good.blob.blob_id).await.unwrap(), None);
    assert_eq!(refcount(&index, "a").await, None, "no chunk record written");
    assert_eq!(index.commit_blob(good).await, Ok(CommitOutcome::Created));
}

/// Committing a blob id the owner already has replaces name, metadata,
/// price and visibility, and charges quota and refcounts only once.
pub async fn recommit_is_idempotent(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let first = commit(&index, &t, "old-name", &["a", "b"]).await;
    let mut again = first.clone();
    again.blob.name = "new-name".into();
    again.blob.metadata.insert("v".into(), "2".into());
    again.blob.created_at_unix_ms += 99;
    assert_eq!(
        index.commit_blob(again.clone()).await,
        Ok(CommitOutcome::AlreadyExisted)
    );

    assert_eq!(used(&index, &t).await, 2 * CHUNK, "not charged twice");
    assert_eq!(refcount(&index, "a").await, Some(1), "not referenced twice");
    let stored = index.blob(&t, &first.blob.blob_id).await.unwrap().unwrap();
    assert_eq!(stored.name, "new-name");
    assert_eq!(stored.metadata.get("v").map(String::as_str), Some("2"));
    assert_eq!(
        stored.created_at_unix_ms, first.blob.created_at_unix_ms,
        "creation time kept"
    );
    let (listed, _) = index.list_blobs(&t, "", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["new-name"]
    );
    // One delete removes it completely.
    assert!(index.delete_blob(&t, &first.blob.blob_id).await.unwrap());
    assert_eq!(
        (used(&index, &t).await, refcount(&index, "a").await),
        (0, Some(0))
    );
}

/// A commit over the tenant's quota is `QuotaExceeded` and writes no blob,
/// chunk or usage.
pub async fn quota_exceeded_writes_nothing(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 3 * CHUNK)).await.unwrap();
    let t = tid("t");
    commit(&index, &t, "one", &["a"]).await;
    let too_big = new_blob(
        &t,
        "three",
        &["b", "c", "d"],
        index.gc_epoch().await.unwrap(),
    );
    let expected = IndexError::QuotaExceeded {
        used: CHUNK,
        quota: 3 * CHUNK,
        requested: 3 * CHUNK,
    };
    assert_eq!(
        index.commit_blob(too_big.clone()).await,
        Err(expected.clone())
    );
    assert_eq!(index.check_quota(&t, 3 * CHUNK).await, Err(expected));

    assert_eq!(used(&index, &t).await, CHUNK);
    assert_eq!(index.blob(&t, &too_big.blob.blob_id).await.unwrap(), None);
    assert!(!is_live(&index, "b").await && refcount(&index, "b").await.is_none());
    assert_eq!(index.list_blobs(&t, "", None, 10).await.unwrap().0.len(), 1);

    // Exactly full is allowed; one byte more is not.
    index
        .check_quota(&t, 2 * CHUNK)
        .await
        .expect("fits exactly");
    commit(&index, &t, "two", &["b", "c"]).await;
    assert!(matches!(
        index.check_quota(&t, 1).await,
        Err(IndexError::QuotaExceeded { .. })
    ));
    index
        .check_quota(&t, 0)
        .await
        .expect("zero bytes always fit");
    assert!(matches!(
        index.check_quota(&tid("nobody"), 1).await,
        Err(IndexError::NotFound { .. })
    ));
    // A lowered quota refuses uploads but keeps existing blobs.
    index.set_quota(&t, CHUNK).await.unwrap();
    assert_eq!(index.list_blobs(&t, "", None, 10).await.unwrap().0.len(), 2);
    let r = index
        .commit_blob(new_blob(&t, "z", &["z"], index.gc_epoch().await.unwrap()))
        .await;
    assert!(matches!(r, Err(IndexError::QuotaExceeded { .. })));
}

/// Deleting a blob gives its size back to the owner's quota and lowers the
/// refcount of each of its chunks.
pub async fn delete_returns_quota_and_decrements_refcounts(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 2 * CHUNK)).await.unwrap();
    let t = tid("t");
    let blob = commit(&index, &t, "x", &["a", "b"]).await;
    assert!(matches!(
        index.check_quota(&t, 1).await,
        Err(IndexError::QuotaExceeded { .. })
    ));

    assert!(index.delete_blob(&t, &blob.blob.blob_id).await.unwrap());
    assert_eq!(used(&index, &t).await, 0);
    assert_eq!(
        (refcount(&index, "a").await, refcount(&index, "b").await),
        (Some(0), Some(0))
    );
    assert!(
        !is_live(&index, "a").await,
        "zero-ref chunks are not offered for dedup"
    );
    assert_eq!(index.blob(&t, &blob.blob.blob_id).await.unwrap(), None);
    assert!(
        index
            .list_blobs(&t, "", None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        !index.delete_blob(&t, &blob.blob.blob_id).await.unwrap(),
        "second delete"
    );
    index
        .check_quota(&t, 2 * CHUNK)
        .await
        .expect("quota returned");
}

/// A chunk two blobs share stays live (refcount 1) when one of them is
/// deleted, and becomes collectable only after the other goes too.
pub async fn shared_chunks_survive_deleting_one_blob(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    index.create_tenant(tenant("u", 1 << 40)).await.unwrap();
    let a = commit(&index, &tid("t"), "a", &["x", "shared"]).await;
    let b = commit(&index, &tid("u"), "b", &["shared", "y"]).await;
    assert_eq!(refcount(&index, "shared").await, Some(2));

    assert!(index.delete_blob(&tid("t"), &a.blob.blob_id).await.unwrap());
    assert_eq!(refcount(&index, "shared").await, Some(1));
    assert!(is_live(&index, "shared").await);
    let condemned: BTreeSet<ContentId> = index
        .gc_condemn(100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.chunk_id)
        .collect();
    assert_eq!(condemned, BTreeSet::from([cid("x")]));
    index.gc_finish(&[cid("x")]).await.unwrap();
    let still = index
        .chunks_of(&[cid("shared"), cid("y")])
        .await
        .expect("b still readable");
    assert_eq!(still.len(), 2);
    assert!(
        index
            .blob(&tid("u"), &b.blob.blob_id)
            .await
            .unwrap()
            .is_some()
    );
}

/// A private blob is found only by its owner; made public, anyone finds it
/// by id alone.
pub async fn public_and_private_lookups(index: Arc<dyn Index>) {
    index.create_tenant(tenant("owner", 1 << 40)).await.unwrap();
    index.create_tenant(tenant("other", 1 << 40)).await.unwrap();
    let (owner, other) = (tid("owner"), tid("other"));
    let id = commit(&index, &owner, "secret", &["s"]).await.blob.blob_id;

    assert_eq!(
        index.public_blob(&id).await.unwrap(),
        None,
        "private is not public"
    );
    assert_eq!(
        index.blob(&other, &id).await.unwrap(),
        None,
        "other tenants see nothing"
    );
    assert!(matches!(
        index
            .update_blob(&other, &id, None, Some(Visibility::Public))
            .await,
        Err(IndexError::NotFound { .. })
    ));

    let price = Price {
        flat_msat: 7,
        per_mib_msat: 3,
    };
    let updated = index
        .update_blob(&owner, &id, Some(price), Some(Visibility::Public))
        .await
        .unwrap();
    assert_eq!(
        (updated.price, updated.visibility),
        (price, Visibility::Public)
    );
    let public = index.public_blob(&id).await.unwrap().expect("now public");
    assert_eq!((public.owner.clone(), public.price), (owner.clone(), price));
    assert_eq!(
        index.blob(&other, &id).await.unwrap(),
        None,
        "owner view stays owner-only"
    );
    assert_eq!(
        index.public_blob(&ContentId::of(b"nope")).await.unwrap(),
        None
    );

    // Price-only update keeps visibility.
    let cheaper = Price {
        flat_msat: 1,
        per_mib_msat: 0,
    };
    let updated = index
        .update_blob(&owner, &id, Some(cheaper), None)
        .await
        .unwrap();
    assert_eq!(updated.visibility, Visibility::Public);
    assert_eq!(
        index.public_blob(&id).await.unwrap().unwrap().price,
        cheaper
    );

    index
        .update_blob(&owner, &id, None, Some(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(index.public_blob(&id).await.unwrap(), None);
    index
        .update_blob(&owner, &id, None, Some(Visibility::Public))
        .await
        .unwrap();
    assert!(index.delete_blob(&owner, &id).await.unwrap());
    assert_eq!(
        index.public_blob(&id).await.unwrap(),
        None,
        "deleted is not public"
    );
}
