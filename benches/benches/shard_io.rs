//! Shard put/get throughput per provider kind, through `ShardStore`: 4 MiB
//! shard bodies, `WRITERS` concurrent writers (then readers), each phase
//! bounded by `PHASE_BYTES` and `PHASE_TIME`. Peers are started here by the
//! test harness (moto as S3 and behind the B2 profile, the GCS emulator,
//! s3s-fs); memory and fs show what the broker side alone sustains
//! (put verifies the object's BLAKE3, get verifies it again), so the gap to
//! the peer rows is the emulators' cost, not ours.
//!
//! Run: `cargo bench -p shardgate-benches --bench shard_io`
//! (needs `scripts/install-test-peers.sh` for the peer kinds).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_backends::{
    ProviderConfig, ProviderKind as Kind, ProviderLimits, Secret, ShardStore,
};
use shardgate_core::{ContentId, decode_shard_object, encode_shard_object};
use shardgate_tests::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
use shardgate_tests::{
    Peer, create_gcs_bucket, create_s3_bucket, create_s3_bucket_in_region, start_gcs_emulator,
    start_moto, start_s3s_fs, tools_available,
};

/// Shard body size: one 4 MiB chunk's worth.
const SHARD_BODY: usize = 4 * 1024 * 1024;
const WRITERS: usize = 4;
/// Each phase (put, get) of each kind stops after this many bytes...
const PHASE_BYTES: usize = 256 * 1024 * 1024;
/// ...or once this much time has passed (the running requests finish).
const PHASE_TIME: Duration = Duration::from_secs(10);
const BUCKET: &str = "shardgate-bench";
const S3S_KEY: &str = "bench-key";
const S3S_SECRET: &str = "bench-secret";

/// One provider under measurement, and what keeps it alive.
struct Target {
    label: &'static str,
    store: ShardStore,
    peer_pid: Option<u32>,
    _peer: Option<Peer>,
    _dir: Option<tempfile::TempDir>,
}

fn config(label: &str, kind: Kind) -> ProviderConfig {
    ProviderConfig {
        // Labels read well in the table; names allow only [A-Za-z0-9._-].
        name: format!("bench-{}", label.split(' ').next().unwrap_or(label)),
        weight: 1.0,
        prefix: "bench".into(),
        kind,
        // Generous: a slow emulator should show up as low MB/s, not errors.
        limits: ProviderLimits {
            timeout_ms: 120_000,
            io_timeout_ms: 60_000,
            ..ProviderLimits::default()
        },
    }
}

fn target(label: &'static str, kind: Kind, peer: Option<Peer>) -> Target {
    let store = ShardStore::from_config(&config(label, kind)).expect("store from config");
    Target {
        label,
        store,
        peer_pid: peer.as_ref().map(Peer::pid),
        _peer: peer,
        _dir: None,
    }
}

fn s3(endpoint: String, key: &str, secret: &str, conditional: bool) -> Kind {
    Kind::S3 {
        bucket: BUCKET.into(),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: Some(Secret::new(key.to_owned())),
        secret_access_key: Some(Secret::new(secret.to_owned())),
        virtual_host_style: false,
        conditional_writes: conditional,
    }
}

async fn targets() -> Vec<Target> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut fs = target(
        "fs",
        Kind::Fs {
            root: dir.path().join("root"),
        },
        None,
    );
    fs._dir = Some(dir);
    let mut out = vec![target("memory", Kind::Memory {}, None), fs];
    if !tools_available() {
        eprintln!("peers not installed (scripts/install-test-peers.sh): memory and fs only");
        return out;
    }
    let (moto, moto_b2, gcs, s3s) = tokio::join!(
        start_moto(),
        start_moto(),
        start_gcs_emulator(),
        start_s3s_fs(S3S_KEY, S3S_SECRET)
    );
    let (moto, moto_b2, gcs, s3s) = (
        moto.expect("moto"),
        moto_b2.expect("moto for b2"),
        gcs.expect("gcs emulator"),
        s3s.expect("s3s-fs"),
    );
    create_s3_bucket(&moto, BUCKET).await.expect("bucket");
    create_s3_bucket_in_region(&moto_b2, BUCKET, "us-west-004")
        .await
        .expect("bucket");
    create_gcs_bucket(&gcs, BUCKET).await.expect("bucket");
    create_s3_bucket(&s3s, BUCKET).await.expect("bucket");
    let b2 = Kind::B2 {
        bucket: BUCKET.into(),
        region: "us-west-004".into(),
        endpoint: Some(moto_b2.endpoint()),
        key_id: Secret::new(MOTO_ACCESS_KEY.to_owned()),
        application_key: Secret::new(MOTO_SECRET_KEY.to_owned()),
    };
    let gcs_kind = Kind::Gcs {
        bucket: BUCKET.into(),
        endpoint: Some(gcs.endpoint()),
        credential: None,
        credential_path: None,
        token: None,
        anonymous: true,
        conditional_writes: false,
    };
    out.push(target(
        "s3 (moto)",
        s3(moto.endpoint(), MOTO_ACCESS_KEY, MOTO_SECRET_KEY, true),
        Some(moto),
    ));
    out.push(target("gcs (emulator)", gcs_kind, Some(gcs)));
    out.push(target("b2 (moto)", b2, Some(moto_b2)));
    out.push(target(
        "s3s-fs",
        s3(s3s.endpoint(), S3S_KEY, S3S_SECRET, true),
        Some(s3s),
    ));
    out
}

/// Distinct shard objects (distinct chunk ids, so every put is a new key)
/// sharing one body, built before any timing starts.
fn objects() -> Arc<Vec<Bytes>> {
    let body: Vec<u8> = (0..SHARD_BODY)
        .map(|i| ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    let count = PHASE_BYTES / SHARD_BODY;
    let chunk_len = u32::try_from(2 * SHARD_BODY).expect("fits");
    Arc::new(
        (0..count as u64)
            .map(|i| {
                let id = ContentId::of(&i.to_le_bytes());
                Bytes::from(encode_shard_object(id, 0, 2, 1, chunk_len, &body))
            })
            .collect(),
    )
}

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time (user + system, all threads) of a process so far, in seconds;
/// 0 where `/proc` is unavailable (the CPU columns then read 0).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the `(comm)`, which may itself contain spaces: state is
    // field 3, utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) as f64 / TICKS_PER_SEC,
        _ => 0.0,
    }
}

/// What one phase did: objects, wall seconds, and CPU used by this process
/// (the broker side) and by the peer, each as a share of one core.
struct Measure {
    done: usize,
    secs: f64,
    broker_cpu: f64,
    peer_cpu: f64,
}

impl Measure {
    fn mbps(&self, bytes_each: usize) -> f64 {
        (self.done * bytes_each) as f64 / self.secs / 1e6
    }
}

/// Runs `WRITERS` workers, each taking the next object index until the
/// objects or the time run out.
async fn phase<F, Fut>(count: usize, peer: Option<u32>, op: F) -> Measure
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let me = std::process::id();
    let cpu = move || (cpu_seconds(me), peer.map(cpu_seconds).unwrap_or(0.0));
    let (broker0, peer0) = cpu();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let (next, op) = (next.clone(), op.clone());
        workers.spawn(async move {
            let mut done = 0;
            while start.elapsed() < PHASE_TIME {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                op(i).await;
                done += 1;
            }
            done
        });
    }
    let mut done = 0;
    while let Some(n) = workers.join_next().await {
        done += n.expect("worker panicked");
    }
    let secs = start.elapsed().as_secs_f64();
    let (broker1, peer1) = cpu();
    Measure {
        done,
        secs,
        broker_cpu: (broker1 - broker0) / secs,
        peer_cpu: (peer1 - peer0) / secs,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; there are no options to parse.
    let objects = objects();
    let each = objects[0].len();
    let ids: Arc<Vec<ContentId>> = Arc::new(
        objects
            .iter()
            .map(|o| decode_shard_object(o).expect("valid shard").0.chunk_id)
            .collect(),
    );
    let targets = targets().await;
    println!(
        "\nshard_io: {} MiB shards, {WRITERS} concurrent workers, each phase ≤ {} MiB or ≤ {:?}\n",
        SHARD_BODY >> 20,
        PHASE_BYTES >> 20,
        PHASE_TIME
    );
    println!(
        "CPU columns: cores busy during the phase (this process = broker side; peer = the server)\n"
    );
    println!(
        "{:<15} {:>9} {:>6} {:>7} {:>6} | {:>9} {:>6} {:>7} {:>6}",
        "provider", "put MB/s", "shards", "broker", "peer", "get MB/s", "shards", "broker", "peer"
    );
    for t in &targets {
        let (store, objs) = (t.store.clone(), objects.clone());
        let put = phase(objs.len(), t.peer_pid, move |i| {
            let (store, obj) = (store.clone(), objs[i].clone());
            async move {
                store.put_shard(obj).await.expect("put");
            }
        })
        .await;
        let store = t.store.clone();
        let ids = ids.clone();
        let got = phase(put.done, t.peer_pid, move |i| {
            let (store, id) = (store.clone(), ids[i]);
            async move {
                let shard = store.get_shard(&id, 0).await.expect("get");
                assert_eq!(shard.object().len(), each, "whole shard read back");
            }
        })
        .await;
        println!(
            "{:<15} {:>9.1} {:>6} {:>7.2} {:>6.2} | {:>9.1} {:>6} {:>7.2} {:>6.2}",
            t.label,
            put.mbps(each),
            put.done,
            put.broker_cpu,
            put.peer_cpu,
            got.mbps(each),
            got.done,
            got.broker_cpu,
            got.peer_cpu,
        );
    }
}
