//! Provider faults through `FaultProxy` in front of a real moto peer, one
//! provider per fault mode: connection refused, hang, HTTP 500, corrupted
//! GET bodies. For each, the registry operation must come back within a
//! bound derived from the provider's limits (a hang guard, not a performance
//! figure), with an error that names the provider and says what happened.
//! Every fault (refuse, hang, 500, corrupt reads) must mark the provider DOWN after
//! `failure_threshold` failures, placement must then skip it, and once the
//! fault clears the half-open probe must bring it back UP.
//!
//! Also: configs that are wrong at join (unknown kind, missing bucket field,
//! an endpoint where nothing listens) are rejected naming the field.
//!
//! FAILS when the peers are not installed: run `scripts/install-test-peers.sh`.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_backends::{
    BackendError, BackendErrorKind, BackendsConfig, HealthPolicy, PlacementPolicy, ProviderConfig,
    ProviderKind as Kind, ProviderLimits, ProviderRegistry, Secret,
};
use shardgate_core::{ContentId, encode_shard_object};
use shardgate_tests::fault_proxy::{FaultMode, FaultProxy, ProxyStats};
use shardgate_tests::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
use shardgate_tests::{Peer, create_s3_bucket, start_moto, tools_available};

const BUCKET: &str = "shardgate-faults";
const FAULTY: &str = "faulty";
const POLICY: HealthPolicy = HealthPolicy {
    failure_threshold: 3,
    base_backoff_ms: 300,
    max_backoff_ms: 1_000,
};
const K2M1: PlacementPolicy = PlacementPolicy {
    k: 2,
    m: 1,
    allow_reduced: false,
};
/// Chunks placed to see whether the faulty provider is chosen at all. With
/// five equal providers it wins a slot of a chunk with p = 3/5, so 40 chunks
/// miss it by chance with p = 0.4^40.
const PLACEMENT_SAMPLE: u64 = 40;

/// Small limits so a fault costs about a second, not minutes.
fn limits() -> ProviderLimits {
    ProviderLimits {
        timeout_ms: 500,
        io_timeout_ms: 500,
        retry_max_times: 1,
        retry_min_delay_ms: 10,
        retry_max_delay_ms: 50,
        ..ProviderLimits::default()
    }
}

/// The longest one shard operation may take under `limits()`: every attempt
/// may use its whole request and I/O deadline plus the largest back-off,
/// and a put may need a read after its write; one second of slack for a
/// loaded 2-core machine.
fn hang_guard() -> Duration {
    let l = limits();
    let attempts = l.retry_max_times as u64 + 1;
    let per_attempt = l.timeout_ms + l.io_timeout_ms + l.retry_max_delay_ms;
    Duration::from_millis(2 * attempts * per_attempt + 1_000)
}

fn s3_kind(endpoint: String) -> Kind {
    Kind::S3 {
        bucket: BUCKET.into(),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: Some(Secret::new(MOTO_ACCESS_KEY.to_owned())),
        secret_access_key: Some(Secret::new(MOTO_SECRET_KEY.to_owned())),
        virtual_host_style: false,
        conditional_writes: true,
    }
}

fn chunk(i: u64) -> ContentId {
    ContentId::of(&i.to_le_bytes())
}

fn shard(i: u64) -> Bytes {
    let body: Vec<u8> = (0..4096u32).map(|b| (b % 251) as u8 ^ i as u8).collect();
    Bytes::from(encode_shard_object(chunk(i), 0, 2, 1, 8192, &body))
}

/// A moto peer behind a proxy, joined as `faulty`, next to four memory
/// providers that keep placement possible while it is DOWN.
struct Setup {
    _peer: Peer,
    proxy: FaultProxy,
    registry: ProviderRegistry,
}

async fn setup() -> Setup {
    assert!(
        tools_available(),
        "test peers are not installed: run scripts/install-test-peers.sh"
    );
    let peer = start_moto().await.expect("start moto");
    create_s3_bucket(&peer, BUCKET).await.expect("bucket");
    let proxy = FaultProxy::in_front_of(&peer).await.expect("proxy");
    let registry = ProviderRegistry::new(POLICY);
    let faulty = ProviderConfig {
        name: FAULTY.into(),
        weight: 1.0,
        prefix: "faults".into(),
        kind: s3_kind(proxy.endpoint()),
        limits: limits(),
    };
    registry.join(faulty).await.expect("join through the proxy");
    for name in ["mem-a", "mem-b", "mem-c", "mem-d"] {
        registry
            .join(ProviderConfig::memory(name))
            .await
            .expect("join");
    }
    Setup {
        _peer: peer,
        proxy,
        registry,
    }
}

impl Setup {
    fn faulty_is_up(&self) -> bool {
        let status = self.registry.list();
        let s = status.iter().find(|s| s.name == FAULTY).expect("listed");
        s.up
    }

    /// How many of the sample chunks get a shard on the faulty provider.
    fn placed_on_faulty(&self) -> usize {
        (0..PLACEMENT_SAMPLE)
            .map(|i| self.registry.place(&chunk(1_000 + i), K2M1).expect("place"))
            .filter(|p| p.shard_providers.iter().any(|n| n == FAULTY))
            .count()
    }

    async fn timed_put(&self, i: u64) -> (Result<(), BackendError>, Duration) {
        let start = Instant::now();
        let object = shard(i);
        let result = self
            .registry
            .call(FAULTY, |s| async move { s.put_shard(object).await })
            .await;
        (result.map(|_| ()), start.elapsed())
    }

    async fn timed_get(&self, i: u64) -> (Result<(), BackendError>, Duration) {
        let start = Instant::now();
        let id = chunk(i);
        let result = self
            .registry
            .call(FAULTY, |s| async move { s.get_shard(&id, 0).await })
            .await;
        (result.map(|_| ()), start.elapsed())
    }

    /// Poll the half-open probe until the provider is back, bounded.
    async fn wait_until_revived(&self) -> Duration {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(POLICY.max_backoff_ms) + hang_guard() * 4;
        loop {
            if self
                .registry
                .probe_down_providers()
                .await
                .iter()
                .any(|n| n == FAULTY)
            {
                return start.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "half-open probe never brought `{FAULTY}` back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The error names the provider and says what happened, in kind and text.
fn assert_explains(err: &BackendError, kind: BackendErrorKind, took: Duration) {
    assert!(took < hang_guard(), "took {took:?}: {err}");
    assert_eq!(err.kind(), &kind, "{err}");
    assert_eq!(err.provider(), FAULTY);
    let text = err.to_string();
    assert!(text.contains(&format!("`{FAULTY}`")), "{text}");
    assert!(text.contains(&kind.to_string()), "{text}");
}

/// An outage: puts fail with `kind` until the provider is DOWN and skipped;
/// then the fault clears and the provider comes back.
async fn outage(mode: FaultMode, kind: BackendErrorKind, fired: fn(&ProxyStats) -> u64) {
    let s = setup().await;
    assert!(
        s.placed_on_faulty() > 0,
        "control: placement uses the provider"
    );
    s.proxy.set_mode(mode);
    for i in 0..u64::from(POLICY.failure_threshold) {
        assert!(s.faulty_is_up(), "DOWN after only {i} failures");
        let (result, took) = s.timed_put(i).await;
        let err = result.expect_err("the put must fail");
        eprintln!("{mode:?}: put failed after {took:?}: {err}");
        assert_explains(&err, kind.clone(), took);
    }
    assert!(fired(&s.proxy.stats()) > 0, "the {mode:?} fault fired");
    assert!(
        !s.faulty_is_up(),
        "DOWN after {} failures",
        POLICY.failure_threshold
    );
    assert_eq!(s.placed_on_faulty(), 0, "placement skips a DOWN provider");

    // Reads may still try a DOWN provider; they fail just as fast.
    let (result, took) = s.timed_get(0).await;
    assert_explains(&result.expect_err("still failing"), kind, took);

    s.proxy.set_mode(FaultMode::PassThrough);
    let waited = s.wait_until_revived().await;
    eprintln!("{mode:?}: UP again after {waited:?}");
    assert!(s.faulty_is_up());
    assert!(s.placed_on_faulty() > 0, "placement uses it again");
    let (result, _) = s.timed_put(7).await;
    result.expect("a put works after recovery");
    let (result, _) = s.timed_get(7).await;
    result.expect("and reads back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections() {
    outage(FaultMode::Refuse, BackendErrorKind::Unavailable, |s| {
        s.connections_refused
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_provider_times_out() {
    outage(FaultMode::Hang, BackendErrorKind::Timeout, |s| {
        s.requests_hung
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500() {
    outage(FaultMode::Http500, BackendErrorKind::Unavailable, |s| {
        s.requests_answered_500
    })
    .await;
}

/// Corrupted bodies: every read is `Corrupt` (never the bad bytes), and a
/// provider that corrupts `failure_threshold` reads in a row is marked DOWN
/// and skipped by placement like any other outage. Once it serves clean
/// bytes again the half-open probe brings it back, and the last read shows
/// the stored object itself was never damaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_bodies() {
    let s = setup().await;
    let (result, _) = s.timed_put(0).await;
    result.expect("put while healthy");
    assert!(s.placed_on_faulty() > 0, "control: placement uses it");
    s.proxy.set_mode(FaultMode::CorruptGetBodies);
    for i in 0..POLICY.failure_threshold {
        assert!(s.faulty_is_up(), "DOWN after only {i} corrupt reads");
        let (result, took) = s.timed_get(0).await;
        let err = result.expect_err("corrupted bytes must not verify");
        eprintln!("corrupt: get failed after {took:?}: {err}");
        assert_explains(&err, BackendErrorKind::Corrupt, took);
        assert!(err.key().is_some_and(|k| k.starts_with("faults/shards/")));
    }
    assert!(s.proxy.stats().bodies_corrupted > 0, "the fault fired");
    assert!(
        !s.faulty_is_up(),
        "a provider corrupting every read is DOWN"
    );
    assert_eq!(s.placed_on_faulty(), 0, "placement skips it");
    s.proxy.set_mode(FaultMode::PassThrough);
    let waited = s.wait_until_revived().await;
    eprintln!("corrupt: UP again after {waited:?}");
    let (result, _) = s.timed_get(0).await;
    result.expect("the stored shard itself was never damaged");
}

/// Bad configs at join, each rejected naming the field to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_rejected_naming_the_field() {
    let field_of = |e: &BackendError| match e.kind() {
        BackendErrorKind::InvalidConfig { field } => field.clone(),
        other => panic!("expected InvalidConfig, got {other:?}: {e}"),
    };
    let unknown_kind = "[[providers]]\nname = \"x\"\nkind = \"ftp\"\nbucket = \"b\"\n";
    let err = BackendsConfig::from_toml(unknown_kind).expect_err("ftp is no provider kind");
    assert_eq!(field_of(&err), "kind", "{err}");
    assert!(err.to_string().contains("ftp"), "{err}");

    let no_bucket = "[[providers]]\nname = \"x\"\nkind = \"s3\"\nregion = \"us-east-1\"\n";
    let err = BackendsConfig::from_toml(no_bucket).expect_err("s3 needs a bucket");
    assert_eq!(field_of(&err), "bucket", "{err}");
    assert_eq!(err.provider(), "x", "{err}");

    // A port that was free a moment ago: nothing listens there.
    let dead = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let unreachable = ProviderConfig {
        name: "nowhere".into(),
        weight: 1.0,
        prefix: String::new(),
        kind: s3_kind(format!("http://127.0.0.1:{port}")),
        limits: limits(),
    };
    let registry = ProviderRegistry::new(POLICY);
    let start = Instant::now();
    let err = registry
        .join(unreachable)
        .await
        .expect_err("nothing listens");
    assert!(
        start.elapsed() < hang_guard(),
        "join took {:?}",
        start.elapsed()
    );
    assert_eq!(field_of(&err), "endpoint", "{err}");
    assert_eq!(err.provider(), "nowhere");
    assert!(
        registry.list().is_empty(),
        "a rejected provider is not joined"
    );
}
