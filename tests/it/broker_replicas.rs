//! Two real `shardgate serve` replicas on one PostgreSQL index (a fresh
//! schema of the test server) and the same fs providers, as on Kubernetes,
//! checked from outside: the providers' directories are listed directly
//! and the index's shard locations are read from PostgreSQL, never through
//! the broker.
//!
//! - A client spreads 200 uploads and downloads over both replicas from a
//!   few tasks; one replica is SIGKILLed mid-load. Every upload that was
//!   acknowledged reads back exact through the survivor, the survivor never
//!   fails a call, and after one GC pass on the survivor (orphan grace of a
//!   few seconds) every provider holds exactly the shard objects the index
//!   lists.
//! - Repair runs on both replicas at once (full passes every second) over
//!   the same degraded chunks: first a provider is drained (every shard
//!   of it moves), then every shard object of another provider is deleted
//!   (each is rewritten in place). Each time every shard is repaired
//!   exactly once over both replicas (their repair counters add up to the
//!   number of shards to repair, and stay there), every chunk ends with its
//!   `k + m` shards on distinct providers, the providers hold exactly those
//!   objects, and every blob reads back exact through either replica.
//!
//! Needs `SHARDGATE_TEST_POSTGRES_URL` (scripts/test.sh sets it); fails,
//! never skips, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shardgate_client::Client;
use shardgate_tests::broker_process::client::{get_checked, header, list_all, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec, files_under};

use crate::pg_schema::Schema;

const CHUNK: u64 = 256 * 1024;
/// Uploads (each followed by a download) of the load test.
const OPS: u32 = 200;
const TASKS: u32 = 4;
/// Acknowledged uploads before the kill: well inside the load.
const ACKED_BEFORE_KILL: usize = 50;
/// Orphan grace of the load test's brokers; uploads get half of it to
/// commit, far more than the small blobs here need.
const GRACE_SECS: u64 = 8;
/// Repair's work in the repair test must be done by then.
const REPAIR_DEADLINE: Duration = Duration::from_secs(40);

/// Upload `i` of the load test: 1 KiB to ~1.3 chunks, never twice the same
/// bytes (no dedup between uploads).
fn load_pattern(i: u32) -> Pattern {
    Pattern::new(
        50_000 + i,
        1024 + u64::from(i % 7) * 50 * 1024 + u64::from(i),
    )
}

/// Shard object keys on each provider, listed directly (fs directories).
async fn objects(specs: &[ProviderSpec]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let keys = spec.shard_objects().await.expect("list provider");
        out.insert(spec.name.clone(), keys.into_iter().collect());
    }
    out
}

/// The index's shard locations as keys per provider, with an entry (maybe
/// empty) for every provider in `specs`.
async fn referenced(schema: &Schema, specs: &[ProviderSpec]) -> BTreeMap<String, BTreeSet<String>> {
    let mut keys = schema.referenced_keys().await;
    for spec in specs {
        keys.entry(spec.name.clone()).or_default();
    }
    keys
}

fn counts(keys: &BTreeMap<String, BTreeSet<String>>) -> Vec<(&str, usize)> {
    keys.iter().map(|(p, k)| (p.as_str(), k.len())).collect()
}

/// What went wrong where the test requires success, for one message.
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn push(&self, what: String) {
        self.0.lock().expect("failures").push(what);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("failures"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_loses_no_acknowledged_upload_and_gc_leaves_only_indexed_shards() {
    let schema = Schema::fresh();
    let dirs = tempfile::tempdir().expect("provider dirs");
    let specs = ProviderSpec::fs_set(dirs.path(), 3);
    let config = format!(
        "gc_orphan_grace_secs = {GRACE_SECS}\n{}",
        schema.index_toml()
    );
    let (victim, survivor) = tokio::join!(
        BrokerProcess::start(&specs, &config),
        BrokerProcess::start(&specs, &config)
    );
    let (mut victim, survivor) = (victim.expect("replica A"), survivor.expect("replica B"));
    let (_, key) = victim.create_tenant("alice", None).await.expect("tenant");
    // Replica 0 is the one killed, replica 1 survives.
    let replicas: [Client; 2] = [
        victim.client().await.expect("client A"),
        survivor.client().await.expect("client B"),
    ];

    let acked: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let after_kill = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Failures::default());
    let victim_failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (replicas, key) = (replicas.clone(), key.clone());
        let (acked, acked_count, after_kill) =
            (acked.clone(), acked_count.clone(), after_kill.clone());
        let (killed, failures, victim_failures) =
            (killed.clone(), failures.clone(), victim_failures.clone());
        tasks.spawn(async move {
            for i in (task..OPS).step_by(TASKS as usize) {
                let pattern = load_pattern(i);
                // Uploads alternate between the replicas; each download goes
                // to the other one.
                let (up, down) = ((i % 2) as usize, ((i + 1) % 2) as usize);
                let name = format!("load-{i}");
                let spec = header(&name, pattern.len(), Some(CHUNK as u32));
                let put = put_pattern(&replicas[up], Some(&key), spec, pattern).await;
                // A failure is allowed only on the killed replica, after the
                // kill (the flag is set before the signal is sent).
                let allowed = |replica: usize| replica == 0 && killed.load(Ordering::SeqCst);
                let blob_id = match put {
                    Ok(put) => {
                        if killed.load(Ordering::SeqCst) {
                            after_kill.fetch_add(1, Ordering::SeqCst);
                        }
                        acked.lock().expect("acked").push((i, put.blob_id.clone()));
                        acked_count.fetch_add(1, Ordering::SeqCst);
                        put.blob_id
                    }
                    Err(_) if allowed(up) => {
                        victim_failures.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    Err(e) => {
                        failures.push(format!("put {name} on replica {up}: {e}"));
                        continue;
                    }
                };
                match get_checked(&replicas[down], Some(&key), &blob_id, None, pattern).await {
                    Ok(got) if (got.len, got.first_mismatch) == (pattern.len(), None) => {}
                    Ok(got) => failures.push(format!(
                        "get {name} on replica {down}: {} of {} bytes, first mismatch {:?}",
                        got.len,
                        pattern.len(),
                        got.first_mismatch
                    )),
                    Err(_) if allowed(down) => {
                        victim_failures.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(format!("get {name} on replica {down}: {e}")),
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "load too slow: {} acknowledged\n{:?}",
            acked_count.load(Ordering::SeqCst),
            failures.take()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::SeqCst);
    victim.kill(); // SIGKILL by PID: no shutdown code runs
    let killed_at = Instant::now();
    while let Some(done) = tasks.join_next().await {
        done.expect("load task");
    }
    let load_time = started.elapsed();
    let failures = failures.take();
    assert!(
        failures.is_empty(),
        "calls that had to succeed failed:\n{}\nsurvivor log:\n{}",
        failures.join("\n"),
        survivor.log_tail()
    );
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    assert!(
        victim_failures.load(Ordering::SeqCst) > 0 && after_kill.load(Ordering::SeqCst) > 0,
        "the kill must land mid-load: {} acknowledged, {} after the kill",
        acked.len(),
        after_kill.load(Ordering::SeqCst)
    );

    // Every acknowledged upload, listed and read back through the survivor.
    let on_survivor = &replicas[1];
    let listed = list_all(on_survivor, &key).await.expect("list");
    let listed_ids: BTreeMap<&str, &str> = listed
        .iter()
        .map(|b| (b.blob_id.as_str(), b.name.as_str()))
        .collect();
    for (i, blob_id) in &acked {
        assert_eq!(
            listed_ids.get(blob_id.as_str()).copied(),
            Some(format!("load-{i}").as_str()),
            "acknowledged upload {i} is not listed"
        );
        let pattern = load_pattern(*i);
        let got = get_checked(on_survivor, Some(&key), blob_id, None, pattern)
            .await
            .unwrap_or_else(|e| panic!("acknowledged upload {i} unreadable: {e}"));
        assert_eq!((got.len, got.first_mismatch), (pattern.len(), None), "{i}");
    }
    // Committed when the kill cut the answer off: listed, so readable too.
    for blob in listed
        .iter()
        .filter(|b| !acked.iter().any(|(_, id)| *id == b.blob_id))
    {
        let i: u32 = blob.name["load-".len()..]
            .parse()
            .expect("a name of this test");
        let got = get_checked(
            on_survivor,
            Some(&key),
            &blob.blob_id,
            None,
            load_pattern(i),
        )
        .await
        .unwrap_or_else(|e| panic!("{} listed but unreadable: {e}", blob.name));
        assert_eq!(got.first_mismatch, None, "{}", blob.name);
    }

    // Nothing the index lists is missing from its provider.
    let before_gc = objects(&specs).await;
    let wanted = referenced(&schema, &specs).await;
    for (provider, keys) in &wanted {
        let missing: Vec<_> = keys.difference(&before_gc[provider]).collect();
        assert!(
            missing.is_empty(),
            "{provider} lost indexed shards: {missing:?}"
        );
    }

    // The killed uploads' shards are orphans once older than the grace.
    let wait = Duration::from_secs(GRACE_SECS + 2).saturating_sub(killed_at.elapsed());
    tokio::time::sleep(wait).await;
    let report = survivor
        .run_gc()
        .await
        .unwrap_or_else(|e| panic!("GC on the survivor: {e}\n{}", survivor.log_tail()));
    let after_gc = objects(&specs).await;
    let wanted = referenced(&schema, &specs).await;
    assert_eq!(
        after_gc,
        wanted,
        "providers hold exactly the indexed shards (before GC {:?}, GC {report:?})",
        counts(&before_gc)
    );
    let orphans_before: usize = before_gc.values().map(BTreeSet::len).sum::<usize>()
        - wanted.values().map(BTreeSet::len).sum::<usize>();
    assert_eq!(
        report.orphan_shards_deleted, orphans_before as u64,
        "{report:?}"
    );
    eprintln!(
        "load: {} acknowledged ({} after the kill), {} calls failed on the killed replica, \
         {load_time:?}; GC removed {orphans_before} orphans; providers {:?}",
        acked.len(),
        after_kill.load(Ordering::SeqCst),
        victim_failures.load(Ordering::SeqCst),
        counts(&after_gc)
    );
}

/// The two replicas' repair counters, summed: shards re-created or moved.
async fn repaired_over(replicas: &[&BrokerProcess]) -> Vec<u64> {
    let mut out = Vec::new();
    for broker in replicas {
        let admin = broker.admin_client().await.expect("admin");
        let status = admin.repair_status().await.expect("GetRepairStatus");
        out.push(status.shards_repaired_total);
    }
    out
}

/// Waits until the index places nothing on p2, the providers hold exactly
/// the shards the index lists and the replicas' repair counters reach
/// `to_repair`; then, two passes later on each, checks that they stayed
/// there (nothing repaired twice). Returns the counters and the wait.
async fn settle(
    schema: &Schema,
    specs: &[ProviderSpec],
    replicas: &[&BrokerProcess],
    to_repair: u64,
) -> (Vec<u64>, Duration) {
    let started = Instant::now();
    loop {
        let now = objects(specs).await;
        let wanted = referenced(schema, specs).await;
        let repaired = repaired_over(replicas).await;
        let sum: u64 = repaired.iter().sum();
        if wanted["p2"].is_empty() && now == wanted && sum >= to_repair {
            break;
        }
        assert!(
            started.elapsed() < REPAIR_DEADLINE,
            "repair not done: objects {:?}, index {:?}, repaired {repaired:?} of {to_repair}\n{}",
            counts(&now),
            counts(&wanted),
            replicas
                .iter()
                .map(|r| r.log_tail())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let repaired = repaired_over(replicas).await;
    assert_eq!(
        repaired.iter().sum::<u64>(),
        to_repair,
        "each shard repaired once over both replicas (A, B): {repaired:?}"
    );
    (repaired, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_on_two_replicas_repairs_each_shard_once() {
    let schema = Schema::fresh();
    let dirs = tempfile::tempdir().expect("provider dirs");
    let specs = ProviderSpec::fs_set(dirs.path(), 4);
    // Both replicas run a full pass every second over the same chunks.
    let config = format!(
        "repair_interval_secs = 1\nprovider_sync_interval_ms = 300\n{}",
        schema.index_toml()
    );
    let (a, b) = tokio::join!(
        BrokerProcess::start(&specs, &config),
        BrokerProcess::start(&specs, &config)
    );
    let (a, b) = (a.expect("replica A"), b.expect("replica B"));
    let (_, key) = a.create_tenant("alice", None).await.expect("tenant");
    let clients = [
        a.client().await.expect("client A"),
        b.client().await.expect("client B"),
    ];

    // 16 blobs of 3 to 5 chunks, 2+1 shards each.
    let mut blobs = Vec::new();
    for i in 0..16u32 {
        let pattern = Pattern::new(70_000 + i, (3 + u64::from(i % 3)) * CHUNK - u64::from(i));
        let spec = header(&format!("r-{i}"), pattern.len(), Some(CHUNK as u32));
        let put = put_pattern(&clients[(i % 2) as usize], Some(&key), spec, pattern)
            .await
            .unwrap_or_else(|e| panic!("put {i}: {e}"));
        blobs.push((put.blob_id, pattern));
    }
    let chunks = schema.chunk_shards().await;
    let chunk_count: u64 = blobs.iter().map(|(_, p)| p.len().div_ceil(CHUNK)).sum();
    assert_eq!(
        chunks.len() as u64,
        chunk_count,
        "no dedup between the blobs"
    );
    let before = objects(&specs).await;
    assert_eq!(before, referenced(&schema, &specs).await);
    let repaired_at_start: u64 = repaired_over(&[&a, &b]).await.iter().sum();
    assert_eq!(repaired_at_start, 0, "nothing to repair after the uploads");

    // Degraded twice, each time with both replicas repairing. First p2 is
    // drained: its shards move (compare-and-set in the index decides).
    let drained = before["p2"].len() as u64;
    let admin_a = a.admin_client().await.expect("admin");
    admin_a.drain_provider("p2").await.expect("drain p2");
    let replicas = [&a, &b];
    let (by_replica, drain_time) = settle(&schema, &specs, &replicas, drained).await;
    // Then every shard object on p1 is lost: each is rewritten in place,
    // where the record does not change (the put decides). Both replicas
    // see p2 draining by now; see the README on a replica whose view of
    // the providers lags.
    let lost = files_under(&dirs.path().join("p1").join("shards"));
    assert!(!lost.is_empty() && drained > 0, "{:?}", counts(&before));
    for file in &lost {
        std::fs::remove_file(file).expect("delete a shard object");
    }
    let to_repair = drained + lost.len() as u64;
    let (repaired, rebuild_time) = settle(&schema, &specs, &replicas, to_repair).await;

    let after = schema.chunk_shards().await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        chunks.keys().collect::<Vec<_>>(),
        "same chunks"
    );
    for (chunk, shards) in &after {
        let indexes: BTreeSet<u8> = shards.iter().map(|(i, _)| *i).collect();
        let providers: BTreeSet<&str> = shards.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            (shards.len(), indexes.len(), providers.len()),
            (3, 3, 3),
            "chunk {chunk}: k + m shards on distinct providers: {shards:?}"
        );
        assert!(!providers.contains("p2"), "chunk {chunk} still on p2");
    }
    let now = objects(&specs).await;
    assert_eq!(
        now,
        referenced(&schema, &specs).await,
        "no extra or missing object"
    );
    for (i, (blob_id, pattern)) in blobs.iter().enumerate() {
        for (r, client) in clients.iter().enumerate() {
            let got = get_checked(client, Some(&key), blob_id, None, *pattern)
                .await
                .unwrap_or_else(|e| panic!("get r-{i} on replica {r}: {e}"));
            assert_eq!(
                (got.len, got.first_mismatch),
                (pattern.len(), None),
                "r-{i}"
            );
        }
    }
    eprintln!(
        "repair: {drained} drained shards moved by (A, B) {by_replica:?} in {drain_time:?}, \
         then {} lost shards over {chunk_count} chunks, totals {repaired:?} after \
         {rebuild_time:?}; providers {:?}",
        lost.len(),
        counts(&now)
    );
}
