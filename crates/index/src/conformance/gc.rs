//! GC and upload interleavings (the rule is documented in `crate::gc`).
//!
//! Each case replays one interleaving of an upload (read epoch → look up
//! live chunks → write shards → commit) with a GC pass (condemn → delete
//! shards → finish) and checks the commit is refused exactly when the GC
//! pass may have deleted shards the blob would point at.

use std::sync::Arc;

use super::fixtures::{
    CHUNK, chunk_on, cid, commit, gc_pass, is_conflict, is_live, new_blob, refcount, tenant, tid,
    used,
};
use crate::{CommitOutcome, Index, IndexError, TenantId};

/// A tenant "t" and a chunk "c" at refcount 0 (its only blob deleted).
async fn zero_ref_chunk(index: &Arc<dyn Index>) -> TenantId {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let old = commit(index, &t, "old", &["c"]).await;
    assert!(index.delete_blob(&t, &old.blob.blob_id).await.unwrap());
    assert_eq!(refcount(index, "c").await, Some(0));
    t
}

/// Asserts a refused commit left no trace.
async fn nothing_written(index: &Arc<dyn Index>, t: &TenantId, name: &str) {
    assert_eq!(used(index, t).await, 0, "{name}: no quota charged");
    let (listed, _) = index.list_blobs(t, "", None, 10).await.unwrap();
    assert!(listed.is_empty(), "{name}: no blob listed");
}

/// GC condemns exactly the chunks no blob references, never one still
/// listed by a blob.
pub async fn gc_condemns_only_zero_ref_chunks(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let a = commit(&index, &t, "a", &["c1", "c2"]).await;
    commit(&index, &t, "b", &["c2", "c3"]).await;
    assert!(
        index.gc_condemn(10).await.unwrap().is_empty(),
        "nothing to collect yet"
    );

    assert!(index.delete_blob(&t, &a.blob.blob_id).await.unwrap());
    let before = index.gc_epoch().await.unwrap();
    let condemned = index.gc_condemn(10).await.unwrap();
    assert_eq!(
        condemned.iter().map(|c| c.chunk_id).collect::<Vec<_>>(),
        [cid("c1")]
    );
    assert_eq!(
        condemned[0].shards,
        chunk_on("c1", ["p0", "p1", "p2"]).shards,
        "caller gets shard locations"
    );
    assert!(
        index.gc_epoch().await.unwrap() > before,
        "condemn bumps the epoch"
    );
    assert!(!is_live(&index, "c1").await);

    // A pass that crashed before finishing: the next condemn hands the
    // same chunk out again.
    let again = index.gc_condemn(10).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.chunk_id).collect::<Vec<_>>(),
        [cid("c1")]
    );

    index.gc_finish(&[cid("c1")]).await.unwrap();
    assert_eq!(refcount(&index, "c1").await, None, "record removed");
    index
        .gc_finish(&[cid("c1"), cid("c2")])
        .await
        .expect("idempotent, skips live chunks");
    assert_eq!(
        refcount(&index, "c2").await,
        Some(1),
        "finish never removes a live chunk"
    );
    assert!(index.gc_condemn(10).await.unwrap().is_empty());

    // Limits are honoured.
    for i in 0..5 {
        let name = format!("bulk{i}");
        let blob = commit(&index, &t, &name, &[name.as_str()]).await;
        index.delete_blob(&t, &blob.blob.blob_id).await.unwrap();
    }
    assert_eq!(index.gc_condemn(2).await.unwrap().len(), 2);
    assert_eq!(
        index.gc_condemn(10).await.unwrap().len(),
        5,
        "2 pending + 3 new"
    );
}

/// condemn → upload (reads epoch, writes, commits) → commit refused; after
/// finish a retry succeeds.
pub async fn commit_conflicts_while_condemned(index: Arc<dyn Index>) {
    let t = zero_ref_chunk(&index).await;
    index.gc_condemn(10).await.unwrap();
    let epoch = index.gc_epoch().await.unwrap();
    assert!(!is_live(&index, "c").await, "upload must write c itself");
    let r = index.commit_blob(new_blob(&t, "new", &["c"], epoch)).await;
    assert!(is_conflict(&r), "{r:?}");
    assert!(r.unwrap_err().is_temporary());
    nothing_written(&index, &t, "condemned").await;

    index.gc_finish(&[cid("c")]).await.unwrap();
    let retry = commit(&index, &t, "new", &["c"]).await;
    assert_eq!(refcount(&index, "c").await, Some(1));
    assert_eq!(used(&index, &t).await, retry.blob.size);
}

/// upload reads epoch → condemn → delete → finish → commit refused.
pub async fn commit_conflicts_when_gc_finished_after_observed_epoch(index: Arc<dyn Index>) {
    let t = zero_ref_chunk(&index).await;
    let observed = index.gc_epoch().await.unwrap();
    assert_eq!(gc_pass(&index).await, [cid("c")]);
    let r = index
        .commit_blob(new_blob(&t, "new", &["c"], observed))
        .await;
    assert!(is_conflict(&r), "{r:?}");
    nothing_written(&index, &t, "finished after").await;
    assert_eq!(refcount(&index, "c").await, None);

    let fresh = index.gc_epoch().await.unwrap();
    let r = index.commit_blob(new_blob(&t, "new", &["c"], fresh)).await;
    assert_eq!(r, Ok(CommitOutcome::Created), "retry after re-writing");
}

/// condemn → upload reads epoch and writes → GC deletes and finishes →
/// commit. The condemnation is older than the observed epoch, but the
/// deletes ran after the upload's writes: must be refused.
pub async fn commit_conflicts_when_condemned_before_and_finished_after_observed_epoch(
    index: Arc<dyn Index>,
) {
    let t = zero_ref_chunk(&index).await;
    index.gc_condemn(10).await.unwrap();
    let observed = index.gc_epoch().await.unwrap();
    index.gc_finish(&[cid("c")]).await.unwrap();
    let r = index
        .commit_blob(new_blob(&t, "new", &["c"], observed))
        .await;
    assert!(is_conflict(&r), "{r:?}");
    nothing_written(&index, &t, "condemned before, finished after").await;
}

/// condemn → delete → finish → upload reads epoch, writes, commits: fine.
pub async fn commit_succeeds_when_gc_finished_before_observed_epoch(index: Arc<dyn Index>) {
    let t = zero_ref_chunk(&index).await;
    gc_pass(&index).await;
    commit(&index, &t, "new", &["c"]).await;
    assert_eq!(refcount(&index, "c").await, Some(1));
    assert!(is_live(&index, "c").await);
    // Later uploads that observed an older epoch (from before that finish)
    // may still dedup against the re-created, live chunk.
    let r = index
        .commit_blob(new_blob(&t, "newer", &["c", "d"], 0))
        .await;
    assert_eq!(r, Ok(CommitOutcome::Created));
    assert_eq!(refcount(&index, "c").await, Some(2));
}

/// upload reads epoch, finds c live (dedup, writes nothing) → the other
/// blob is deleted → GC collects c → commit refused.
pub async fn dedup_against_live_chunk_conflicts_if_collected_before_commit(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    index.create_tenant(tenant("u", 1 << 40)).await.unwrap();
    let (t, u) = (tid("t"), tid("u"));
    let other = commit(&index, &u, "other", &["c"]).await;
    let observed = index.gc_epoch().await.unwrap();
    let found = index
        .live_chunks(&[cid("c")])
        .await
        .unwrap()
        .remove(0)
        .expect("live");
    index.delete_blob(&u, &other.blob.blob_id).await.unwrap();
    assert_eq!(gc_pass(&index).await, [cid("c")]);

    let mut new = new_blob(&t, "dedup", &["c"], observed);
    new.chunks = vec![found];
    let r = index.commit_blob(new).await;
    assert!(is_conflict(&r), "{r:?}");
    nothing_written(&index, &t, "dedup").await;
}

/// upload finds c live → the other blob is deleted (refcount 0) → commit
/// before any GC: revived, and no later GC pass condemns it.
pub async fn dedup_against_live_chunk_revives_if_not_yet_condemned(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let other = commit(&index, &t, "other", &["c"]).await;
    let observed = index.gc_epoch().await.unwrap();
    let found = index
        .live_chunks(&[cid("c")])
        .await
        .unwrap()
        .remove(0)
        .expect("live");
    index.delete_blob(&t, &other.blob.blob_id).await.unwrap();

    let mut new = new_blob(&t, "dedup", &["c"], observed);
    new.chunks = vec![found];
    assert_eq!(index.commit_blob(new).await, Ok(CommitOutcome::Created));
    assert_eq!(refcount(&index, "c").await, Some(1));
    assert!(
        index.gc_condemn(10).await.unwrap().is_empty(),
        "revived chunk not condemned"
    );
    assert_eq!(used(&index, &t).await, CHUNK);
}

/// A zero-ref chunk is revived with its STORED shard locations: the
/// upload's own writes may have been hit by an older GC pass, the stored
/// shards were never deleted.
pub async fn revive_keeps_stored_shard_locations(index: Arc<dyn Index>) {
    let t = zero_ref_chunk(&index).await;
    let epoch = index.gc_epoch().await.unwrap();
    let mut new = new_blob(&t, "new", &["c"], epoch);
    new.chunks = vec![chunk_on("c", ["q0", "q1", "q2"])];
    assert_eq!(index.commit_blob(new).await, Ok(CommitOutcome::Created));
    let stored = index.chunks_of(&[cid("c")]).await.unwrap().remove(0);
    let providers: Vec<&str> = stored.shards.iter().map(|s| s.provider.as_str()).collect();
    assert_eq!(providers, ["p0", "p1", "p2"]);
    assert_eq!(stored.refcount, 1);
}

/// Dedup must use the stored record: other (k, m) for a live chunk is a
/// conflict; the retry with `live_chunks`' record succeeds.
pub async fn live_chunk_with_other_params_conflicts(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    commit(&index, &t, "first", &["c"]).await;
    let epoch = index.gc_epoch().await.unwrap();
    let mut new = new_blob(&t, "second", &["c", "d"], epoch);
    for c in &mut new.chunks {
        if c.chunk_id == cid("c") {
            c.m = 2;
        }
    }
    let r = index.commit_blob(new.clone()).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(refcount(&index, "c").await, Some(1));
    assert_eq!(
        refcount(&index, "d").await,
        None,
        "nothing of the refused commit written"
    );

    let stored = index
        .live_chunks(&[cid("c")])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    new.chunks.retain(|c| c.chunk_id != cid("c"));
    new.chunks.push(stored);
    assert_eq!(index.commit_blob(new).await, Ok(CommitOutcome::Created));
    assert_eq!(refcount(&index, "c").await, Some(2));
}

/// Forgetting tombstones makes uploads that observed an older epoch
/// unverifiable: they are refused, fresh ones are not.
pub async fn pruned_tombstones_reject_older_uploads(index: Arc<dyn Index>) {
    let t = zero_ref_chunk(&index).await;
    let old = index.gc_epoch().await.unwrap();
    gc_pass(&index).await;
    assert_eq!(
        index.gc_prune_tombstones(0).await.unwrap(),
        0,
        "none finished before t=0"
    );
    assert_eq!(index.gc_prune_tombstones(u64::MAX).await.unwrap(), 1);

    let r = index.commit_blob(new_blob(&t, "old", &["c"], old)).await;
    assert!(is_conflict(&r), "{r:?}");
    // Even for chunks that never had a tombstone: the upload is too old to check.
    let r = index.commit_blob(new_blob(&t, "other", &["z"], old)).await;
    assert!(is_conflict(&r), "{r:?}");
    nothing_written(&index, &t, "pruned").await;

    let fresh = index.gc_epoch().await.unwrap();
    assert_eq!(
        index.commit_blob(new_blob(&t, "old", &["c"], fresh)).await,
        Ok(CommitOutcome::Created)
    );
    let ahead = index
        .commit_blob(new_blob(&t, "x", &["x"], fresh + 1))
        .await;
    assert!(
        matches!(ahead, Err(IndexError::Invalid { .. })),
        "{ahead:?}"
    );
}
