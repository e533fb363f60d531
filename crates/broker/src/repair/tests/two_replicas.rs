//! Two replicas repairing the same chunk at once (both plans made before
//! either commits): exactly one repair lands and counts, the other reports
//! the chunk changed, and the providers end with one object per shard.

use super::fixture::Fixture;
use super::pending::Pending;
use crate::repair::commit::Committed;

const PROVIDERS: [&str; 4] = ["p0", "p1", "p2", "p3"];

#[tokio::test]
async fn a_shard_rewritten_in_place_by_two_replicas_counts_once() {
    let mut f = Fixture::new(&PROVIDERS).await;
    let ids = f.put_blob("a", 21, 2, 2, 1).await;
    let record = f.record(&ids[0]).await;
    let loc = record.shards[1].clone();
    f.remove(&loc.provider, &ids[0], loc.index).await;

    let (a, b) = (
        Pending::prepare(&f, &ids[0]).await,
        Pending::prepare(&f, &ids[0]).await,
    );
    assert_eq!(a.plan.rebuilds[0].target, loc.provider, "in place");
    let done = Committed::Done {
        rebuilt: 1,
        moved: 0,
        failed: 0,
    };
    assert_eq!(
        [a.commit(&f).await, b.commit(&f).await],
        [done, Committed::Changed { rebuilt: 0 }],
        "the second replica finds the shard already restored"
    );
    assert_eq!(f.record(&ids[0]).await.shards, record.shards);
    assert_eq!(f.total_objects(&PROVIDERS).await, 2 * 3);
    f.assert_all_read_back(false).await;
}

#[tokio::test]
async fn a_shard_moved_by_two_replicas_moves_once() {
    let mut f = Fixture::new(&PROVIDERS).await;
    let ids = f.put_blob("a", 22, 2, 2, 1).await;
    let record = f.record(&ids[0]).await;
    let victim = record.shards[0].provider.clone();
    f.registry.drain(&victim).expect("drain");

    let (a, b) = (
        Pending::prepare(&f, &ids[0]).await,
        Pending::prepare(&f, &ids[0]).await,
    );
    let done = Committed::Done {
        rebuilt: 0,
        moved: 1,
        failed: 0,
    };
    assert_eq!(
        [a.commit(&f).await, b.commit(&f).await],
        [done, Committed::Changed { rebuilt: 0 }]
    );
    let now = f.record(&ids[0]).await;
    assert!(now.shards.iter().all(|l| l.provider != victim), "{now:?}");
    assert_eq!(
        f.total_objects(&PROVIDERS).await,
        2 * 3,
        "moved, not copied twice"
    );
    f.assert_all_read_back(false).await;
}
