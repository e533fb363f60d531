//! Provider behaviour suite: every behaviour is written once, as an async
//! function over a `ShardStore`, and run against each provider kind selected
//! by `SHARDGATE_PROVIDER_KINDS` (default all: memory, fs, s3 = moto,
//! gcs = gcp-storage-emulator, b2 = a second moto through the B2 profile,
//! azure = azurite through the `azblob` kind).
//!
//! One test per kind starts its peer once; each behaviour then works under
//! its own key prefix so behaviours cannot see each other's objects.
//! Peer kinds FAIL (never silently pass) when the tools are not installed:
//! run `scripts/install-test-peers.sh`.

use std::time::Duration;

use bytes::Bytes;
use shardgate_backends::{
    BackendErrorKind, HealthPolicy, ProviderConfig, ProviderKind as Kind, ProviderLimits,
    ProviderRegistry, PutOutcome, Secret, ShardStore,
};
use shardgate_core::{ContentId, SHARD_HEADER_LEN, ShardHeader, encode_shard_object};
use shardgate_tests::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
use shardgate_tests::{
    Peer, ProviderKind, azurite_blob_endpoint, create_azure_container, create_gcs_bucket,
    create_s3_bucket, create_s3_bucket_in_region, provider_kinds, start_azurite,
    start_gcs_emulator, start_moto, tools_available,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKET: &str = "shardgate-suite";
/// The region the B2 profile signs for (a B2-style region name).
const B2_REGION: &str = "us-west-004";
/// Large enough to cross every multipart threshold (5 MiB on S3 and GCS),
/// so a single-shot write path is really exercised.
const LARGE_BODY: usize = 32 * 1024 * 1024;

/// A valid shard: index `index` of a 2+1 coding of the chunk named by `seed`.
fn shard(seed: u64, index: u8, body_len: usize) -> Bytes {
    shard_km(seed, index, 2, 1, body_len)
}

fn shard_km(seed: u64, index: u8, k: u8, m: u8, body_len: usize) -> Bytes {
    assert!(body_len.is_multiple_of(2), "shard bodies have even length");
    let body: Vec<u8> = (0..body_len)
        .map(|i| (i as u64).wrapping_mul(seed | 1).to_le_bytes()[1])
        .collect();
    let chunk_len = u32::try_from(body_len * usize::from(k)).expect("fits");
    Bytes::from(encode_shard_object(
        chunk(seed),
        index,
        k,
        m,
        chunk_len,
        &body,
    ))
}

fn chunk(seed: u64) -> ContentId {
    ContentId::of(&seed.to_le_bytes())
}

/// A provider under test: its base config and whatever keeps it alive.
struct Target {
    kind: ProviderKind,
    base: ProviderConfig,
    _peer: Option<Peer>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    async fn start(kind: ProviderKind) -> Target {
        let limits = ProviderLimits {
            // Python peers on a loaded 2-core box: a 32 MiB upload is slow.
            timeout_ms: 120_000,
            io_timeout_ms: 60_000,
            ..ProviderLimits::default()
        };
        let cfg = |kind: Kind| ProviderConfig {
            name: format!("suite-{}", kind.label()),
            weight: 1.0,
            prefix: String::new(),
            kind,
            limits: limits.clone(),
        };
        let secret = |s: &str| Secret::new(s.to_owned());
        let (base, peer, dir) = match kind {
            ProviderKind::Memory => (cfg(Kind::Memory {}), None, None),
            ProviderKind::Fs => {
                let dir = tempfile::tempdir().expect("tempdir");
                (
                    cfg(Kind::Fs {
                        root: dir.path().join("root"),
                    }),
                    None,
                    Some(dir),
                )
            }
            ProviderKind::S3 => {
                let peer = start_moto().await.expect("start moto");
                create_s3_bucket(&peer, BUCKET)
                    .await
                    .expect("create bucket");
                let kind = Kind::S3 {
                    bucket: BUCKET.into(),
                    endpoint: Some(peer.endpoint()),
                    region: "us-east-1".into(),
                    access_key_id: Some(secret(MOTO_ACCESS_KEY)),
                    secret_access_key: Some(secret(MOTO_SECRET_KEY)),
                    virtual_host_style: false,
                    conditional_writes: true,
                };
                (cfg(kind), Some(peer), None)
            }
            ProviderKind::B2 => {
                let peer = start_moto().await.expect("start moto for the B2 profile");
                create_s3_bucket_in_region(&peer, BUCKET, B2_REGION)
                    .await
                    .expect("create bucket");
                let kind = Kind::B2 {
                    bucket: BUCKET.into(),
                    region: B2_REGION.into(),
                    endpoint: Some(peer.endpoint()),
                    key_id: secret(MOTO_ACCESS_KEY),
                    application_key: secret(MOTO_SECRET_KEY),
                };
                (cfg(kind), Some(peer), None)
            }
            ProviderKind::Gcs => {
                let peer = start_gcs_emulator().await.expect("start gcs emulator");
                create_gcs_bucket(&peer, BUCKET)
                    .await
                    .expect("create bucket");
                let kind = Kind::Gcs {
                    bucket: BUCKET.into(),
                    endpoint: Some(peer.endpoint()),
                    credential: None,
                    credential_path: None,
                    token: None,
                    anonymous: true,
                    conditional_writes: false,
                };
                (cfg(kind), Some(peer), None)
            }
            ProviderKind::Azure => {
                let peer = start_azurite().await.expect("start azurite");
                create_azure_container(&peer, BUCKET)
                    .await
                    .expect("create container");
                let kind = Kind::Azblob {
                    container: BUCKET.into(),
                    endpoint: azurite_blob_endpoint(&peer),
                    account_name: peer.access_key().into(),
                    account_key: Some(secret(peer.secret_key())),
                    sas_token: None,
                };
                (cfg(kind), Some(peer), None)
            }
        };
        Target {
            kind,
            base,
            _peer: peer,
            _dir: dir,
        }
    }

    fn config(&self, behaviour: &str) -> ProviderConfig {
        ProviderConfig {
            prefix: format!("suite/{behaviour}"),
            ..self.base.clone()
        }
    }

    fn store(&self, behaviour: &str) -> ShardStore {
        ShardStore::from_config(&self.config(behaviour)).expect("store from config")
    }
}

async fn run_suite(kind: ProviderKind) {
    let selected = provider_kinds().expect("SHARDGATE_PROVIDER_KINDS must list known kinds");
    if !selected.contains(&kind) {
        eprintln!(
            "provider kind `{kind}` not selected by SHARDGATE_PROVIDER_KINDS; nothing to run"
        );
        return;
    }
    for tool in kind.tools() {
        assert!(
            tool.installed(),
            "test peer `{}` is not installed at {}: run scripts/install-test-peers.sh",
            tool.name(),
            tool.path().display()
        );
    }
    let t = Target::start(kind).await;
    eprintln!("[{kind}] roundtrip");
    roundtrip(t.store("roundtrip")).await;
    eprintln!("[{kind}] idempotent re-put");
    idempotent_reput(t.store("reput")).await;
    eprintln!("[{kind}] missing objects");
    missing_objects(t.store("missing")).await;
    eprintln!("[{kind}] corruption");
    corruption_detected_and_repaired(t.store("corrupt")).await;
    eprintln!("[{kind}] conflict");
    conflicting_valid_shard_is_kept(t.store("conflict")).await;
    eprintln!("[{kind}] large shard");
    large_shard(t.store("large")).await;
    eprintln!("[{kind}] concurrent writes");
    concurrent_writes(t.store("concurrent")).await;
    eprintln!("[{kind}] listing across pages");
    list_across_pages(t.store("list-pages")).await;
    eprintln!("[{kind}] presign");
    presign(t.store("presign")).await;
    eprintln!("[{kind}] registry join");
    registry_join(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() {
    run_suite(ProviderKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs() {
    run_suite(ProviderKind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3() {
    run_suite(ProviderKind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs() {
    run_suite(ProviderKind::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b2() {
    run_suite(ProviderKind::B2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn azure() {
    run_suite(ProviderKind::Azure).await;
}

/// Write raw bytes under a key, bypassing every shard check (tampering).
async fn raw_write(store: &ShardStore, key: &str, bytes: Vec<u8>) {
    let mut w = store.operator().write_with(key, bytes);
    if store.capability().write_with_content_type {
        w = w.content_type("application/octet-stream");
    }
    w.await.expect("raw write");
}

async fn roundtrip(store: ShardStore) {
    let obj = shard(1, 0, 10_000);
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("put"),
        PutOutcome::Created
    );
    let key = store.shard_key(&chunk(1), 0);

    let got = store.get_shard(&chunk(1), 0).await.expect("get");
    assert_eq!(got.object(), &obj, "get returns the stored bytes");
    assert_eq!(got.body(), &obj[SHARD_HEADER_LEN..]);
    assert_eq!(got.header.chunk_id, chunk(1));

    assert_eq!(store.head(&key).await.expect("head").size, obj.len() as u64);
    let header = store
        .get_range(&key, 0..SHARD_HEADER_LEN as u64)
        .await
        .expect("header range");
    let decoded = ShardHeader::decode(&header).expect("range is exactly the header");
    assert_eq!(decoded.index, 0);
    let tail = store
        .get_range(&key, 9_000..obj.len() as u64)
        .await
        .expect("tail range");
    assert_eq!(tail, obj.slice(9_000..));

    store.put_shard(shard(2, 1, 100)).await.expect("put 2");
    store.put_shard(shard(3, 2, 100)).await.expect("put 3");
    let mut want = vec![
        key.clone(),
        store.shard_key(&chunk(2), 1),
        store.shard_key(&chunk(3), 2),
    ];
    want.sort();
    assert_eq!(store.list_all("shards/").await.expect("list"), want);

    store.delete(&key).await.expect("delete");
    assert!(
        store
            .get_shard(&chunk(1), 0)
            .await
            .expect_err("deleted")
            .is_not_found()
    );
    assert_eq!(store.list_all("shards/").await.expect("list").len(), 2);
}

async fn idempotent_reput(store: ShardStore) {
    let obj = shard(10, 1, 4_096);
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("put"),
        PutOutcome::Created
    );
    for _ in 0..3 {
        assert_eq!(
            store.put_shard(obj.clone()).await.expect("re-put"),
            PutOutcome::AlreadyPresent
        );
    }
    let key = store.shard_key(&chunk(10), 1);
    assert_eq!(store.head(&key).await.expect("head").size, obj.len() as u64);
    assert_eq!(store.list_all("shards/").await.expect("list"), vec![key]);
}

async fn missing_objects(store: ShardStore) {
    let key = store.shard_key(&chunk(20), 0);
    let err = store.get_shard(&chunk(20), 0).await.expect_err("missing");
    assert_eq!(err.kind(), &BackendErrorKind::NotFound, "{err}");
    assert_eq!(err.provider(), store.name());
    assert!(store.head(&key).await.expect_err("missing").is_not_found());
    assert!(
        store
            .get_range(&key, 0..10)
            .await
            .expect_err("missing")
            .is_not_found()
    );
    store
        .delete(&key)
        .await
        .expect("deleting a missing object succeeds");
    assert!(
        store
            .list_all("shards/")
            .await
            .expect("list of nothing")
            .is_empty()
    );
}

async fn corruption_detected_and_repaired(store: ShardStore) {
    let obj = shard(30, 2, 8_192);
    let key = store.shard_key(&chunk(30), 2);
    let mut flipped = obj.to_vec();
    flipped[SHARD_HEADER_LEN + 100] ^= 0x01;
    let truncated = obj[..obj.len() - 10].to_vec();
    let mut bad_header = obj.to_vec();
    bad_header[0] = b'X';
    let empty = Vec::new();
    for (what, tampered) in [
        ("flipped bit", flipped),
        ("truncated", truncated),
        ("bad magic", bad_header),
        ("empty", empty),
    ] {
        store.put_shard(obj.clone()).await.expect("put");
        raw_write(&store, &key, tampered).await;
        let err = store.get_shard(&chunk(30), 2).await.expect_err(what);
        assert_eq!(err.kind(), &BackendErrorKind::Corrupt, "{what}: {err}");
        assert_eq!(err.provider(), store.name(), "{what}");
        assert_eq!(err.key(), Some(key.as_str()), "{what}");
        assert_eq!(
            store.put_shard(obj.clone()).await.expect("repair"),
            PutOutcome::Repaired,
            "{what}"
        );
        assert_eq!(
            store
                .get_shard(&chunk(30), 2)
                .await
                .expect("repaired")
                .object(),
            &obj,
            "{what}"
        );
    }
}

async fn conflicting_valid_shard_is_kept(store: ShardStore) {
    let ours = shard(40, 0, 1_000);
    store.put_shard(ours.clone()).await.expect("put");
    let other = shard_km(40, 0, 3, 2, 1_000);
    let err = store
        .put_shard(other)
        .await
        .expect_err("different valid shard");
    assert_eq!(err.kind(), &BackendErrorKind::Conflict, "{err}");
    assert_eq!(
        store.get_shard(&chunk(40), 0).await.expect("kept").object(),
        &ours
    );
}

async fn large_shard(store: ShardStore) {
    let obj = shard(50, 1, LARGE_BODY);
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("put 32 MiB"),
        PutOutcome::Created
    );
    let got = store.get_shard(&chunk(50), 1).await.expect("get 32 MiB");
    assert_eq!(got.body().len(), LARGE_BODY);
    assert!(
        got.object() == &obj,
        "32 MiB shard differs after round trip"
    );
    let key = store.shard_key(&chunk(50), 1);
    let end = obj.len() as u64;
    assert_eq!(
        store.get_range(&key, end - 4096..end).await.expect("range"),
        obj.slice(obj.len() - 4096..)
    );
    assert_eq!(
        store.put_shard(obj).await.expect("re-put"),
        PutOutcome::AlreadyPresent
    );
}

async fn concurrent_writes(store: ShardStore) {
    let same = shard(60, 0, 64 * 1024);
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let s = store.clone();
        let distinct = shard(100 + i, 0, 64 * 1024);
        tasks.push(tokio::spawn(async move { s.put_shard(distinct).await }));
        let (s, o) = (store.clone(), same.clone());
        tasks.push(tokio::spawn(async move { s.put_shard(o).await }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(PutOutcome::Created) => created += 1,
            Ok(PutOutcome::AlreadyPresent) => {}
            Ok(PutOutcome::Repaired) => panic!("a concurrent put saw a half-written object"),
            Err(e) => panic!("concurrent put failed: {e}"),
        }
    }
    assert!(
        created >= 17,
        "each distinct key created once, the shared key at least once"
    );
    assert_eq!(store.list_all("shards/").await.expect("list").len(), 17);
    assert_eq!(
        store
            .get_shard(&chunk(60), 0)
            .await
            .expect("shared")
            .object(),
        &same
    );
    for i in 0..16u64 {
        store
            .get_shard(&chunk(100 + i), 0)
            .await
            .expect("distinct shard readable and valid");
    }
}

/// More keys than one S3/GCS list page (1000), so the stream must follow
/// continuation tokens.
async fn list_across_pages(store: ShardStore) {
    const N: u64 = 1_100;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let s = store.clone();
        tasks.spawn(async move { s.put_shard(shard(1_000_000 + i, 0, 2)).await });
        // Bounded fan-out: at most 32 requests in flight.
        while tasks.len() >= 32 {
            tasks
                .join_next()
                .await
                .expect("task")
                .expect("join")
                .expect("put");
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("join").expect("put");
    }
    let keys = store.list_all("shards/").await.expect("list");
    assert_eq!(keys.len() as u64, N, "every key listed exactly once");
    let mut want: Vec<String> = (0..N)
        .map(|i| store.shard_key(&chunk(1_000_000 + i), 0))
        .collect();
    want.sort();
    assert_eq!(keys, want);
}

async fn presign(store: ShardStore) {
    let obj = shard(70, 0, 2_048);
    store.put_shard(obj.clone()).await.expect("put");
    let key = store.shard_key(&chunk(70), 0);
    if !store.capability().presign_read {
        let err = store
            .presign_get(&key, Duration::from_secs(300))
            .await
            .expect_err("no presign");
        assert_eq!(err.kind(), &BackendErrorKind::Unsupported);
        return;
    }
    let pre = store
        .presign_get(&key, Duration::from_secs(300))
        .await
        .expect("presign");
    let (status, body) = http_get(&pre.url, &pre.headers).await;
    assert_eq!(status, 200, "presigned GET");
    assert_eq!(body, obj.to_vec(), "presigned GET returns the shard");
}

/// Minimal HTTP/1.1 GET for `http://127.0.0.1:port/...` URLs (test peers only).
async fn http_get(url: &str, headers: &[(String, String)]) -> (u16, Vec<u8>) {
    let rest = url
        .strip_prefix("http://")
        .expect("test peers speak plain http");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("host") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = raw[split + 4..].to_vec();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(&body) } else { body })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
    out
}

/// Joining probes the provider; a missing bucket is rejected naming `bucket`.
async fn registry_join(t: &Target) {
    let reg = ProviderRegistry::new(HealthPolicy::default());
    reg.join(t.config("registry"))
        .await
        .expect("join a working provider");
    let status = reg.list();
    assert_eq!(status.len(), 1);
    assert!(status[0].up);
    let store = reg.store(&t.base.name).expect("registered");
    assert!(
        store.list_all("probe/").await.expect("list").is_empty(),
        "the probe cleans up after itself"
    );

    let mut wrong = t.config("registry-missing");
    wrong.name = "missing-bucket".into();
    let field = match &mut wrong.kind {
        Kind::S3 { bucket, .. } | Kind::B2 { bucket, .. } | Kind::Gcs { bucket, .. } => {
            *bucket = "no-such-bucket".into();
            "bucket"
        }
        Kind::Azblob { container, .. } => {
            *container = "no-such-container".into();
            "container"
        }
        // memory and fs have no bucket to get wrong
        _ => return,
    };
    let err = reg
        .join(wrong)
        .await
        .expect_err("missing bucket must be rejected");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: field.into()
        },
        "[{}] {err}",
        t.kind
    );
    assert_eq!(reg.list().len(), 1);
}

/// Wrong credentials are caught by the join probe and reported against the
/// credential field. Needs a server that checks SigV4 (s3s-fs; moto accepts
/// anything), so it runs with the `s3` kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_credentials_are_rejected_at_join() {
    let selected = provider_kinds().expect("SHARDGATE_PROVIDER_KINDS must list known kinds");
    if !selected.contains(&ProviderKind::S3) {
        eprintln!("provider kind `s3` not selected; nothing to run");
        return;
    }
    assert!(
        tools_available(),
        "test peers are not installed: run scripts/install-test-peers.sh"
    );
    let peer = shardgate_tests::start_s3s_fs("right-key", "right-secret")
        .await
        .expect("start s3s-fs");
    create_s3_bucket(&peer, BUCKET)
        .await
        .expect("create bucket");
    let cfg = |secret: &str| ProviderConfig {
        name: "sigv4".into(),
        weight: 1.0,
        prefix: "creds".into(),
        kind: Kind::S3 {
            bucket: BUCKET.into(),
            endpoint: Some(peer.endpoint()),
            region: "us-east-1".into(),
            access_key_id: Some(Secret::new("right-key".into())),
            secret_access_key: Some(Secret::new(secret.into())),
            virtual_host_style: false,
            conditional_writes: true,
        },
        limits: ProviderLimits::default(),
    };
    let reg = ProviderRegistry::new(HealthPolicy::default());
    let err = reg
        .join(cfg("wrong-secret"))
        .await
        .expect_err("bad secret must be rejected");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "secret_access_key".into()
        },
        "{err}"
    );
    assert!(
        !err.to_string().contains("wrong-secret"),
        "the secret leaked into: {err}"
    );
    reg.join(cfg("right-secret"))
        .await
        .expect("right credentials join");
}

/// A wrong account key is caught by the join probe and reported against
/// `account_key` (azurite checks shared-key signatures), without the key in
/// the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_wrong_key_is_rejected_at_join() {
    let selected = provider_kinds().expect("SHARDGATE_PROVIDER_KINDS must list known kinds");
    if !selected.contains(&ProviderKind::Azure) {
        eprintln!("provider kind `azure` not selected; nothing to run");
        return;
    }
    let peer = start_azurite().await.expect("start azurite");
    create_azure_container(&peer, BUCKET)
        .await
        .expect("create container");
    // Well-formed (base64) but not the account's key.
    let wrong_key =
        "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkt";
    let cfg = |key: &str| ProviderConfig {
        name: "shared-key".into(),
        weight: 1.0,
        prefix: "creds".into(),
        kind: Kind::Azblob {
            container: BUCKET.into(),
            endpoint: azurite_blob_endpoint(&peer),
            account_name: peer.access_key().into(),
            account_key: Some(Secret::new(key.into())),
            sas_token: None,
        },
        limits: ProviderLimits::default(),
    };
    let reg = ProviderRegistry::new(HealthPolicy::default());
    let err = reg
        .join(cfg(wrong_key))
        .await
        .expect_err("a wrong key must be rejected");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "account_key".into()
        },
        "{err}"
    );
    assert!(
        !err.to_string().contains(wrong_key),
        "the key leaked into: {err}"
    );
    reg.join(cfg(peer.secret_key()))
        .await
        .expect("the right key joins");
}
