//! Whole passes: drains, missing and corrupt shards, lost providers.

use std::time::Duration;

use super::fixture::Fixture;
use crate::repair::{RepairSettings, RepairWorker, Scope};

const GRACE: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn drain_moves_every_shard_and_every_chunk_reads_back_exactly() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 1, 6, 2, 1).await;
    f.put_blob("b", 2, 5, 2, 1).await;
    let victim = "p1";
    let before = f.objects_on(victim).await;
    assert!(before > 0, "placement put shards on {victim}");
    f.registry.drain(victim).expect("drain");

    let worker = f.worker(GRACE);
    let report = worker.run_pass(Scope::Full).await.expect("pass");

    assert_eq!(report.shards_moved, before as u64, "{report:?}");
    assert_eq!(report.chunks_checked, 11);
    assert_eq!(report.chunks_failed, 0);
    assert_eq!(report.chunks_reduced, 0, "three other providers are enough");
    assert!(
        f.index
            .shards_on_provider(victim, None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        f.objects_on(victim).await,
        0,
        "the drained provider holds nothing"
    );
    f.assert_all_read_back(false).await;
    let status = worker.status();
    assert_eq!(status.drained, vec![victim.to_owned()]);
    assert_eq!(status.last_full.expect("full pass").chunks_healthy, 11);
    assert!(!status.running);
    assert!(status.last_scrub_finished_at_unix_ms.is_some());

    // The next pass finds nothing to do.
    let again = worker.run_pass(Scope::Full).await.expect("pass");
    assert_eq!(
        (
            again.shards_moved,
            again.shards_rebuilt,
            again.chunks_healthy
        ),
        (0, 0, 11)
    );
}

#[tokio::test]
async fn evacuation_pass_drains_without_a_full_scrub() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 3, 6, 2, 1).await;
    let on_p2 = f
        .index
        .shards_on_provider("p2", None, 100)
        .await
        .expect("list")
        .len();
    f.registry.drain("p2").expect("drain");
    let report = f
        .worker(GRACE)
        .run_pass(Scope::Evacuate)
        .await
        .expect("pass");
    assert_eq!(
        report.chunks_checked, on_p2 as u64,
        "only chunks on the draining provider"
    );
    assert_eq!(f.objects_on("p2").await, 0);
    f.assert_all_read_back(false).await;
}

#[tokio::test]
async fn drain_with_no_spare_provider_doubles_up_and_says_so() {
    let mut f = Fixture::new(&["p0", "p1", "p2"]).await;
    f.put_blob("a", 4, 4, 2, 1).await;
    f.registry.drain("p0").expect("drain");
    let worker = f.worker(GRACE);
    let report = worker.run_pass(Scope::Full).await.expect("pass");
    assert_eq!(report.chunks_reduced, 4, "{report:?}");
    assert_eq!(
        report.chunks_degraded, 4,
        "reduced redundancy is not healthy"
    );
    assert_eq!(f.objects_on("p0").await, 0);
    f.assert_all_read_back(true).await;
    assert_eq!(worker.status().queue_length(), 4);
}

#[tokio::test]
async fn a_deleted_shard_is_rebuilt_in_place() {
    let mut f = Fixture::new(&["p0", "p1", "p2"]).await;
    let ids = f.put_blob("a", 5, 3, 2, 1).await;
    let record = f.record(&ids[1]).await;
    let loc = record.shards[0].clone();
    f.remove(&loc.provider, &ids[1], loc.index).await;
    assert!(f.read_back_fails(&ids[1]).await, "the shard is really gone");

    let worker = f.worker(GRACE);
    let report = worker.run_pass(Scope::Full).await.expect("pass");
    assert_eq!(
        (
            report.shards_bad,
            report.shards_rebuilt,
            report.chunks_repaired
        ),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        f.record(&ids[1]).await.shards,
        record.shards,
        "rewritten where it was"
    );
    f.assert_all_read_back(false).await;
    let status = worker.status();
    assert_eq!(status.totals.shards_bad, 1);
    assert_eq!(status.last_full.expect("pass").chunks_healthy, 3);
}

#[tokio::test]
async fn a_corrupt_shard_is_rebuilt() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    let ids = f.put_blob("a", 6, 4, 2, 1).await;
    let record = f.record(&ids[2]).await;
    let loc = record.shards[2].clone();
    f.corrupt(&loc.provider, &ids[2], loc.index).await;
    assert!(
        f.read_back_fails(&ids[2]).await,
        "the shard is really corrupt"
    );

    let report = f.worker(GRACE).run_pass(Scope::Full).await.expect("pass");
    assert_eq!(
        (report.shards_bad, report.shards_rebuilt),
        (1, 1),
        "{report:?}"
    );
    f.assert_all_read_back(false).await;
}

#[tokio::test]
async fn shards_of_a_provider_that_left_are_recreated_elsewhere() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 7, 5, 2, 1).await;
    let lost = f
        .index
        .shards_on_provider("p3", None, 100)
        .await
        .expect("list")
        .len() as u64;
    assert!(lost > 0);
    f.registry.leave("p3").expect("leave");
    let report = f.worker(GRACE).run_pass(Scope::Full).await.expect("pass");
    assert_eq!(report.shards_rebuilt, lost, "{report:?}");
    assert!(
        f.index
            .shards_on_provider("p3", None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    f.assert_all_read_back(false).await;
}

#[tokio::test]
async fn a_second_pass_while_one_runs_is_aborted() {
    let mut f = Fixture::new(&["p0", "p1", "p2"]).await;
    f.put_blob("a", 8, 3, 2, 1).await;
    let worker = f.worker(GRACE);
    // Holding the pass lock is exactly what a running pass does.
    let running = worker.inner.running.try_lock().expect("idle");
    let refused = worker.run_pass(Scope::Full).await;
    assert!(
        matches!(refused, Err(crate::error::BrokerError::Aborted(_))),
        "{refused:?}"
    );
    drop(running);
    let report = worker.run_pass(Scope::Full).await.expect("idle again");
    assert_eq!(report.chunks_healthy, 3);
}

impl Fixture {
    async fn read_back_fails(&self, id: &shardgate_core::ContentId) -> bool {
        let record = self.record(id).await;
        let mut ok = 0;
        for loc in &record.shards {
            let store = self.registry.store(&loc.provider).expect("store");
            if store.get_shard(id, loc.index).await.is_ok() {
                ok += 1;
            }
        }
        ok < record.shards.len()
    }
}

/// Marks `name` DOWN the way real traffic does: failures in a row,
/// reported through the registry's health layer.
async fn mark_down(f: &Fixture, name: &str) {
    use shardgate_backends::{BackendError, BackendErrorKind};
    for _ in 0..10 {
        let failed = f
            .registry
            .call(name, |_| async {
                Err::<(), _>(BackendError::new(
                    BackendErrorKind::Unavailable,
                    name,
                    "get",
                    "test: provider unreachable",
                ))
            })
            .await;
        assert!(failed.is_err());
    }
    assert!(
        f.registry.list().iter().any(|s| s.name == name && !s.up),
        "{name} is DOWN"
    );
}

#[tokio::test]
async fn a_provider_down_within_its_grace_period_is_left_alone() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 9, 4, 2, 1).await;
    let before = f.objects_on("p2").await;
    mark_down(&f, "p2").await;
    let worker = f.worker(GRACE);
    let report = worker.run_pass(Scope::Full).await.expect("pass");
    assert_eq!(
        (report.shards_rebuilt, report.shards_moved),
        (0, 0),
        "{report:?}"
    );
    let on_p2 = f
        .index
        .shards_on_provider("p2", None, 100)
        .await
        .expect("list");
    assert_eq!(on_p2.len(), before, "the index still places them on p2");
    assert_eq!(report.chunks_degraded, before as u64, "counted as degraded");
}

#[tokio::test]
async fn a_provider_down_past_its_grace_period_has_its_shards_recreated() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 10, 4, 2, 1).await;
    let lost = f.objects_on("p2").await as u64;
    assert!(lost > 0);
    mark_down(&f, "p2").await;
    let report = f
        .worker(Duration::ZERO)
        .run_pass(Scope::Evacuate)
        .await
        .expect("pass");
    assert_eq!(report.shards_rebuilt, lost, "{report:?}");
    assert!(
        f.index
            .shards_on_provider("p2", None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    f.assert_all_read_back(false).await;
}

/// The background loop (virtual time): a forced Leave brings the next full
/// pass forward, so the lost shards are re-created within seconds, not at
/// the hourly pass.
#[tokio::test(start_paused = true)]
async fn the_worker_loop_recreates_shards_soon_after_a_provider_leaves() {
    let mut f = Fixture::new(&["p0", "p1", "p2", "p3"]).await;
    f.put_blob("a", 14, 4, 2, 1).await;
    assert!(f.objects_on("p3").await > 0);
    let worker = RepairWorker::new(
        f.index.clone(),
        f.registry.clone(),
        RepairSettings {
            interval: Some(Duration::from_secs(3600)),
            batch: 2,
            down_grace: GRACE,
            concurrency: 2,
        },
        crate::memory_budget::MemoryBudget::new(256 << 20, Duration::from_secs(10)),
    );
    let task = tokio::spawn(worker.clone().run_periodic());
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.registry.leave("p3").expect("leave");
    let started = tokio::time::Instant::now();
    while !f
        .index
        .shards_on_provider("p3", None, 1)
        .await
        .expect("list")
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not repaired within a minute of the leave: {:?}",
            worker.status()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    task.abort();
    f.assert_all_read_back(false).await;
}
