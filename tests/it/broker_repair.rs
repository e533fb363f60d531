//! Draining a provider through the real `shardgate serve` binary, over two
//! moto (s3) and two fs providers at 2+1, counting shard objects on the
//! providers directly (not through the broker):
//! - Providers.Drain → the repair worker moves every shard away on its own
//!   (no pass triggered by the test): the drained provider ends up holding
//!   zero objects and the index places none there;
//! - nothing is lost or doubled: the other three hold exactly the shards
//!   the four held before;
//! - every blob still reads back byte for byte;
//! - Admin.GetRepairStatus counts the re-created shards, and Providers.Leave
//!   (without force) now succeeds.

use std::time::{Duration, Instant};

use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::client::{get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::{create_s3_bucket, start_moto, tools_available};

const CHUNK: u64 = 256 * 1024;
const BUCKET: &str = "shardgate-e2e-repair";
/// The worker looks for draining providers every 5 s; moving a few dozen
/// shards takes well under a second. Generous for a loaded 2-core box.
const DRAIN_DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);

async fn counts(specs: &[ProviderSpec]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for spec in specs {
        let n = spec.shard_objects().await.expect("list provider").len();
        out.push((spec.name.clone(), n));
    }
    out
}

async fn shards_stored(broker: &BrokerProcess, name: &str) -> u64 {
    let admin = broker.admin_client().await.expect("connect");
    let list = admin.list_providers().await.expect("Providers.List");
    list.iter()
        .find(|p| p.name == name)
        .map(|p| p.shards_stored)
        .expect("provider listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_provider_ends_empty_and_every_blob_reads_back_exactly() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let (m0, m1) = tokio::join!(start_moto(), start_moto());
    let (m0, m1) = (m0.expect("moto"), m1.expect("moto"));
    create_s3_bucket(&m0, BUCKET).await.expect("bucket");
    create_s3_bucket(&m1, BUCKET).await.expect("bucket");
    let dirs = tempfile::tempdir().expect("tempdir");
    let specs = vec![
        ProviderSpec::s3("s3a", &m0, BUCKET),
        ProviderSpec::s3("s3b", &m1, BUCKET),
        ProviderSpec::fs("fsa", dirs.path().join("fsa")),
        ProviderSpec::fs("fsb", dirs.path().join("fsb")),
    ];
    // Full passes hourly: the drain must be picked up by the worker's
    // watch for draining providers, not by a scheduled scrub.
    let broker = BrokerProcess::start(&specs, "repair_interval_secs = 3600\nrepair_batch = 7\n")
        .await
        .expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let storage = broker.client().await.expect("client");
    let k = Some(key.as_str());

    // 1 + 5 + 9 chunks (the last ones short), 15 chunks × 3 shards.
    let mut blobs = Vec::new();
    for (seed, len) in [(1u32, 1000), (2, 5 * CHUNK - 17), (3, 9 * CHUNK - 1)] {
        let pattern = Pattern::new(seed, len);
        let put = put_pattern(
            &storage,
            k,
            header(&format!("blob-{seed}"), len, Some(CHUNK as u32)),
            pattern,
        )
        .await
        .unwrap_or_else(|e| panic!("put {seed}: {e}\n{}", broker.log_tail()));
        blobs.push((put.blob_id, pattern));
    }
    let before = counts(&specs).await;
    let total: usize = before.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 15 * 3, "{before:?}");
    let (victim, held) = before
        .iter()
        .max_by_key(|(_, n)| *n)
        .cloned()
        .expect("four providers");
    assert!(held > 0, "{before:?}");
    assert_eq!(shards_stored(&broker, &victim).await, held as u64);

    let providers = broker.admin_client().await.expect("connect");
    let drained = providers.drain_provider(&victim).await.expect("Drain");
    assert_eq!(drained.state, pb::ProviderState::Draining as i32);

    let started = Instant::now();
    let victim_spec = specs.iter().find(|s| s.name == victim).expect("spec");
    loop {
        let stored = shards_stored(&broker, &victim).await;
        let objects = victim_spec.shard_objects().await.expect("list").len();
        if stored == 0 && objects == 0 {
            break;
        }
        assert!(
            started.elapsed() < DRAIN_DEADLINE,
            "drain not done after {DRAIN_DEADLINE:?}: index {stored}, objects {objects}\n{}",
            broker.log_tail()
        );
        tokio::time::sleep(POLL).await;
    }

    let after = counts(&specs).await;
    let remaining: usize = after
        .iter()
        .filter(|(n, _)| *n != victim)
        .map(|(_, c)| c)
        .sum();
    assert_eq!(
        remaining, total,
        "moved, not lost or doubled: {before:?} → {after:?}"
    );
    for (blob_id, pattern) in &blobs {
        let got = get_checked(&storage, k, blob_id, None, *pattern)
            .await
            .unwrap_or_else(|e| panic!("get {blob_id}: {e}\n{}", broker.log_tail()));
        assert_eq!((got.len, got.first_mismatch), (pattern.len(), None));
    }

    let status = providers.repair_status().await.expect("GetRepairStatus");
    assert!(
        status.shards_repaired_total >= held as u64,
        "{status:?} after moving {held}"
    );
    assert_eq!(status.shards_bad_found_total, 0, "{status:?}");

    let left = providers
        .leave_provider(&victim, false)
        .await
        .expect("Leave without force once drained");
    assert_eq!(left.shards_queued_for_repair, 0);
}
