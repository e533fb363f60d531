//! Orphan shards, seen from outside: the real `shardgate serve` binary over
//! three real peers (s3, gcs, b2; 2+1, so every chunk has exactly one shard
//! on each provider). A client cancels an upload half-way, then the broker
//! is SIGKILLed in the middle of 30 concurrent uploads and restarted. Both
//! leave shard objects on the providers that no committed blob references.
//! Once they are older than the grace period, one `Admin.RunGc` pass (after
//! a dry run that reports them and deletes nothing) leaves on every
//! provider exactly the shards of the blobs the broker lists — counted by
//! listing the providers' buckets directly — and every listed blob still
//! reads back exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shardgate_tests::broker_process::client::{
    as_tenant, get_checked, header, list_all, put_pattern,
};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::tools_available;
use tokio::io::AsyncWriteExt;

const CHUNK: u64 = 256 * 1024;
const UPLOADS: u32 = 30;
const ACKED_BEFORE_KILL: usize = 3;
/// The broker's orphan grace period in this test; uploads get half.
const GRACE_SECS: u64 = 20;

/// `c-<i>`: 2.5 chunks plus `i` KiB.
fn pattern_of(name: &str) -> Option<Pattern> {
    let i: u32 = name.strip_prefix("c-")?.parse().ok()?;
    Some(Pattern::new(2000 + i, 5 * CHUNK / 2 + u64::from(i) * 1024))
}

/// The providers' shard counts once two listings 2 s apart agree. A shard
/// write the SIGKILL caught in flight can still land after the broker is
/// gone: its request had reached the peer, and a peer on a loaded machine
/// stores it late (one CI run counted 220 orphans at the restart and its
/// GC found 221 twenty seconds later).
async fn settled_counts(peers: &PeerProviders) -> Vec<(String, usize)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = peers.shard_counts().await.expect("count");
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = peers.shard_counts().await.expect("count");
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "shard objects still appearing 30 s after the kill: {last:?} then {now:?}"
        );
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gc_pass_removes_every_orphan_and_nothing_committed() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let peers = PeerProviders::start("shardgate-e2e-orphans")
        .await
        .expect("peers");
    let mut broker = BrokerProcess::start(
        &peers.specs,
        &format!("gc_orphan_grace_secs = {GRACE_SECS}"),
    )
    .await
    .expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let client = broker.client().await.expect("client");

    // 1. A client cancels a 5 MiB upload once shards of it are stored.
    let before = peers.total_shards().await.expect("count");
    // Through the SDK, reading from a pipe this test feeds: 2 MiB go in,
    // then the upload task is dropped (the SDK resets the stream).
    let big = Pattern::new(1, 5 << 20);
    let (mut writer, reader) = tokio::io::duplex(1 << 20);
    let cancelled = {
        let client = as_tenant(&client, Some(&key));
        let spec = header("cancelled", big.len(), Some(CHUNK as u32));
        tokio::spawn(async move { client.put(reader, spec.size, spec.options).await })
    };
    for i in 0..8u64 {
        let bytes = big.bytes(i * 256 * 1024, 256 * 1024);
        writer.write_all(&bytes).await.expect("feed the upload");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while peers.total_shards().await.expect("count") < before + 9 {
        assert!(Instant::now() < deadline, "no shards of the upload stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancelled.abort(); // the client goes away: RST_STREAM(CANCEL)
    drop(writer);

    // 2. SIGKILL in the middle of 30 concurrent uploads, then restart.
    let acked = Arc::new(AtomicUsize::new(0));
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..UPLOADS {
        let (client, key, acked) = (client.clone(), key.clone(), acked.clone());
        uploads.spawn(async move {
            let name = format!("c-{i}");
            let p = pattern_of(&name).expect("pattern");
            let header = header(&name, p.len(), Some(CHUNK as u32));
            let result = put_pattern(&client, Some(&key), header, p).await;
            if result.is_ok() {
                acked.fetch_add(1, Ordering::SeqCst);
            }
            result.is_ok()
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "no uploads acknowledged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.kill();
    let mut failed = 0;
    while let Some(ok) = uploads.join_next().await {
        failed += usize::from(!ok.expect("upload task"));
    }
    assert!(failed > 0, "the kill must land mid-way");
    broker.restart().await.expect("restart");
    let client = broker.client().await.expect("client");
    let listed = list_all(&client, &key).await.expect("list");
    // One shard per provider per chunk (2+1 on three providers, no dedup
    // between these patterns).
    let expected: usize = listed
        .iter()
        .map(|b| b.size_bytes.div_ceil(CHUNK) as usize)
        .sum();
    let counts = settled_counts(&peers).await;
    assert!(
        counts.iter().any(|(_, n)| *n > expected),
        "the cancel and the kill left orphans: {counts:?}, {expected} referenced"
    );

    // 3. Orphans are deleted only once older than the grace period.
    tokio::time::sleep(Duration::from_secs(GRACE_SECS + 3)).await;
    let admin = broker.admin_client().await.expect("admin");
    let dry = admin.run_gc(true).await.expect("dry run");
    let orphans: usize = counts.iter().map(|(_, n)| n - expected).sum();
    assert_eq!(
        (
            dry.dry_run,
            dry.orphan_shards_found,
            dry.orphan_shards_deleted
        ),
        (true, orphans as u64, 0),
        "a dry run reports every orphan"
    );
    assert_eq!(
        peers.shard_counts().await.expect("count"),
        counts,
        "dry run"
    );
    let report = broker.run_gc().await.expect("gc");
    assert_eq!(
        (report.orphan_shards_found, report.orphan_shards_deleted),
        (orphans as u64, orphans as u64),
        "{report:?}"
    );
    for (provider, n) in peers.shard_counts().await.expect("count") {
        assert_eq!(
            n, expected,
            "{provider} holds exactly the referenced shards"
        );
    }
    for blob in &listed {
        let p = pattern_of(&blob.name).expect("a name this test uploaded");
        let got = get_checked(&client, Some(&key), &blob.blob_id, None, p)
            .await
            .unwrap_or_else(|e| panic!("{} listed but unreadable: {e}", blob.name));
        assert_eq!(
            (got.len, got.first_mismatch),
            (p.len(), None),
            "{}",
            blob.name
        );
    }
}
