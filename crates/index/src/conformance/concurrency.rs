//! Many writers at once, and durability across a reopen.

use std::sync::Arc;

use super::Harness;
use super::fixtures::{
    CHUNK, cid, commit, gc_pass, is_conflict, new_blob, refcount, tenant, tid, used,
};
use crate::{CommitOutcome, Index, ProviderRecord, ProviderState, Visibility};

const TASKS: usize = 16;
const BLOBS_PER_TASK: usize = 6;

/// Many tasks committing blobs at once: every blob lands, and usage and
/// refcounts equal what serial commits would give.
pub async fn concurrent_commits_add_up(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    index.create_tenant(tenant("u", 1 << 40)).await.unwrap();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let index = Arc::clone(&index);
        tasks.push(tokio::spawn(async move {
            let owner = tid(if task % 2 == 0 { "t" } else { "u" });
            for i in 0..BLOBS_PER_TASK {
                let unique = format!("u-{task}-{i}");
                let name = format!("blob-{task}-{i}");
                // Every blob shares "common"; each also has its own chunk.
                commit(&index, &owner, &name, &["common", unique.as_str()]).await;
            }
        }));
    }
    // The same blob from many tasks at once: created exactly once.
    let mut same = Vec::new();
    for _ in 0..8 {
        let index = Arc::clone(&index);
        same.push(tokio::spawn(async move {
            let epoch = index.gc_epoch().await.unwrap();
            index
                .commit_blob(new_blob(&tid("t"), "same", &["same"], epoch))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut created = 0;
    for task in same {
        if task.await.expect("task") == CommitOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "one Created, the rest AlreadyExisted");

    let per_tenant = (TASKS / 2 * BLOBS_PER_TASK) as u64;
    assert_eq!(used(&index, &tid("t")).await, (per_tenant * 2 + 1) * CHUNK);
    assert_eq!(used(&index, &tid("u")).await, per_tenant * 2 * CHUNK);
    assert_eq!(
        refcount(&index, "common").await,
        Some((TASKS * BLOBS_PER_TASK) as u64)
    );
    assert_eq!(refcount(&index, "same").await, Some(1));
    assert_eq!(refcount(&index, "u-3-5").await, Some(1));
    let (page, _) = index.list_blobs(&tid("u"), "", None, 1000).await.unwrap();
    assert_eq!(page.len() as u64, per_tenant);
}

/// Writes every kind of record and GC state, drops the index, opens the
/// same store again, and finds all of it.
pub async fn reopen_keeps_everything<H: Harness>(harness: &H) {
    let store = harness.create_store().await;
    let (blob_id, epoch);
    {
        let index = harness.open(&store).await;
        index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
        let t = tid("t");
        let kept = commit(&index, &t, "kept", &["k1", "shared"]).await;
        blob_id = kept.blob.blob_id;
        index
            .update_blob(&t, &blob_id, None, Some(Visibility::Public))
            .await
            .unwrap();
        let gone = commit(&index, &t, "gone", &["g1", "shared"]).await;
        index.delete_blob(&t, &gone.blob.blob_id).await.unwrap();
        let doomed = commit(&index, &t, "doomed", &["d1"]).await;
        index.delete_blob(&t, &doomed.blob.blob_id).await.unwrap();
        index.gc_condemn(1).await.unwrap(); // one of g1/d1 condemned, pending
        index
            .put_provider(ProviderRecord {
                name: "p0".into(),
                config_sealed: vec![7; 16],
                weight: 2.0,
                state: ProviderState::Draining,
            })
            .await
            .unwrap();
        epoch = index.gc_epoch().await.unwrap();
        // The index (and its database handle) is dropped here.
    }
    let index = harness.open(&store).await;
    let t = tid("t");
    assert_eq!(
        index.tenant(&t).await.unwrap().unwrap().used_bytes,
        2 * CHUNK
    );
    assert_eq!(
        index.public_blob(&blob_id).await.unwrap().map(|b| b.name),
        Some("kept".into())
    );
    assert_eq!(refcount(&index, "shared").await, Some(1));
    assert_eq!(index.gc_epoch().await.unwrap(), epoch);
    let providers = index.providers().await.unwrap();
    assert_eq!(
        (providers.len(), providers[0].state),
        (1, ProviderState::Draining)
    );

    // The pending condemnation survived: it is handed out again, and an
    // upload that observed the old epoch is refused after the finish.
    let pending = index.gc_condemn(1).await.unwrap();
    assert_eq!(pending.len(), 1);
    let pending_id = pending[0].chunk_id;
    let seed = if pending_id == cid("g1") { "g1" } else { "d1" };
    index.gc_finish(&[pending_id]).await.unwrap();
    drop(index);
    let index = harness.open(&store).await;
    let r = index
        .commit_blob(new_blob(&t, "late", &[seed], epoch))
        .await;
    assert!(is_conflict(&r), "tombstone survived the reopen: {r:?}");
    assert_eq!(gc_pass(&index).await.len(), 1, "the other zero-ref chunk");
}
