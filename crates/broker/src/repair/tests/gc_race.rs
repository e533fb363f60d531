//! GC condemning or releasing a chunk while repair rebuilds it: the repair
//! must not commit, must delete what it wrote (no orphan), and nothing GC
//! deleted may come back (no resurrection).

use std::time::Duration;

use bytes::Bytes;
use shardgate_core::ContentId;
use shardgate_index::ChunkRecord;

use super::fixture::Fixture;
use crate::gc::{GcWorker, Worker};
use crate::repair::commit::{Committed, commit};
use crate::repair::inspect::{ShardState, inspect};
use crate::repair::plan::{Plan, Verdict, plan};
use crate::repair::rebuild::rebuild_shards;
use crate::repair::view::{DownTracker, ProviderView};

const PROVIDERS: [&str; 4] = ["p0", "p1", "p2", "p3"];

/// A repair stopped right before its commit.
struct Pending {
    record: ChunkRecord,
    plan: Plan,
    objects: Vec<(u8, Bytes)>,
}

impl Pending {
    async fn commit(&self, f: &Fixture) -> Committed {
        commit(
            &f.registry,
            f.index.as_ref(),
            &self.record,
            &self.plan.rebuilds,
            &self.objects,
        )
        .await
        .expect("commit")
    }
}

/// Scrubs, plans and rebuilds `id` (one shard provider draining), stopping
/// right before the commit.
async fn prepare(f: &Fixture, id: &ContentId) -> Pending {
    let record = f.record(id).await;
    f.registry.drain(&record.shards[0].provider).expect("drain");
    let view = ProviderView::capture(
        &f.registry,
        &DownTracker::default(),
        Duration::from_secs(3600),
    );
    let shards = inspect(&f.registry, &view, &record).await;
    let Verdict::Repair(plan) = plan(&record, &shards, &view) else {
        panic!("a shard on a draining provider needs moving");
    };
    assert_eq!(plan.rebuilds.len(), 1);
    let intact: Vec<(u8, Bytes)> = shards
        .iter()
        .filter_map(|s| match &s.state {
            ShardState::Intact(o) => Some((s.index, o.clone())),
            _ => None,
        })
        .collect();
    let wanted: Vec<u8> = plan.rebuilds.iter().map(|r| r.index).collect();
    let objects = rebuild_shards(&record, &intact, &wanted).expect("rebuild");
    Pending {
        record,
        plan,
        objects,
    }
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

async fn total_objects(f: &Fixture) -> usize {
    let mut n = 0;
    for p in PROVIDERS {
        n += f.objects_on(p).await;
    }
    n
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
        total_objects(&f).await,
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
    assert_eq!(total_objects(&f).await, 0);

    let out = pending.commit(&f).await;
    assert_eq!(out, Committed::Collected);
    assert_eq!(total_objects(&f).await, 0, "no resurrected shard");
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
    assert_eq!(total_objects(&f).await, 0);
}
