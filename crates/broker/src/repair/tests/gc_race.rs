//! GC condemning or releasing a chunk while repair rebuilds it: the repair
//! must not commit, must delete what it wrote (no orphan), and nothing GC
//! deleted may come back (no resurrection).

use std::time::Duration;

use shardgate_core::ContentId;

use super::fixture::Fixture;
use super::pending::Pending;
use crate::gc::{GcWorker, Worker};
use crate::repair::commit::Committed;

const PROVIDERS: [&str; 4] = ["p0", "p1", "p2", "p3"];

/// A repair of `id` (one shard provider draining), stopped right before
/// the commit.
async fn prepare(f: &Fixture, id: &ContentId) -> Pending {
    let record = f.record(id).await;
    f.registry.drain(&record.shards[0].provider).expect("drain");
    let pending = Pending::prepare(f, id).await;
    assert_eq!(pending.plan.rebuilds.len(), 1);
    pending
}

async fn delete_only_blob(f: &Fixture) {
    let (blobs, _) = f
        .index
        .list_blobs(&f.tenant, "", None, 10)
        .await
        .expect("list");
    for b in blobs {
        assert!(
            f.index
                .delete_blob(&f.tenant, &b.blob_id)
                .await
                .expect("delete")
        );
    }
}

fn gc(f: &Fixture) -> GcWorker {
    GcWorker::new(
        f.index.clone(),
        f.registry.clone(),
        100,
        Duration::from_secs(3600),
    )
}

#[tokio::test]
async fn condemned_during_repair_nothing_committed_nothing_left() {
    let mut f = Fixture::new(&PROVIDERS).await;
    let ids = f.put_blob("a", 11, 2, 2, 1).await;
    let pending = prepare(&f, &ids[0]).await;
    let plan = &pending.plan;

    delete_only_blob(&f).await;
    let condemned = f.index.gc_condemn(100).await.expect("condemn");
    assert_eq!(condemned.len(), 2);

    let out = pending.commit(&f).await;
    assert_eq!(out, Committed::Collected);
    let target = &plan.rebuilds[0].target;
    let key = f.key(target, &ids[0], plan.rebuilds[0].index);
    let store = f.registry.store(target).expect("store");
    assert!(
        store.head(&key).await.is_err(),
        "the repair's write was deleted again"
    );

    gc(&f).run_once().await.expect("gc");
    assert_eq!(
        f.total_objects(&PROVIDERS).await,
        0,
        "no orphan: every shard object is gone"
    );
}

#[tokio::test]
async fn released_before_the_commit_nothing_comes_back() {
    let mut f = Fixture::new(&PROVIDERS).await;
    let ids = f.put_blob("a", 12, 2, 2, 1).await;
    let pending = prepare(&f, &ids[0]).await;

    delete_only_blob(&f).await;
    let report = gc(&f).run_once().await.expect("gc");
    assert_eq!(report.chunks_released, 2);
    assert_eq!(f.total_objects(&PROVIDERS).await, 0);

    let out = pending.commit(&f).await;
    assert_eq!(out, Committed::Collected);
    assert_eq!(f.total_objects(&PROVIDERS).await, 0, "no resurrected shard");
    assert!(
        f.index.chunks_of(&[ids[0]]).await.is_err(),
        "no record came back"
    );
}

#[tokio::test]
async fn a_collected_chunk_during_a_pass_is_skipped_cleanly() {
    // The ordinary path: a pass over a chunk nobody references any more
    // (refcount 0, not yet condemned) still moves it; GC then removes all.
    let mut f = Fixture::new(&PROVIDERS).await;
    let ids = f.put_blob("a", 13, 3, 2, 1).await;
    delete_only_blob(&f).await;
    let victim = f.record(&ids[0]).await.shards[0].provider.clone();
    f.registry.drain(&victim).expect("drain");
    let worker = f.worker(Duration::from_secs(3600));
    worker
        .run_pass(crate::repair::Scope::Full)
        .await
        .expect("pass");
    assert_eq!(f.objects_on(&victim).await, 0);
    gc(&f).run_once().await.expect("gc");
    assert_eq!(f.total_objects(&PROVIDERS).await, 0);
}
