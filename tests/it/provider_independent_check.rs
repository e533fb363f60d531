//! Independent check of what the backends really store: chunks are sealed
//! with `shardgate_core`, placed and written through `ShardStore` on real
//! peers (moto as S3, the GCS emulator, moto through the B2 profile, and more
//! moto instances so 4+2 has six providers), then every raw object is listed
//! and read back with a *different* client library, `object_store`, which
//! shares no code with opendal. It checks, from the bytes alone:
//!
//! * every object sits at `<prefix>/shards/<id[0..2]>/<chunk id>.<index>`
//!   (DESIGN.md "Shard objects"; the key is rebuilt here by hand, not with
//!   `shard_object_key`) and decodes as a valid shard for exactly that key;
//! * no object contains a 64-byte window of the plaintext;
//! * no provider holds two shards of one chunk;
//! * an object tampered through `object_store` is `Corrupt` to `get_shard`.
//!
//! Needs the `s3`, `gcs` and `b2` kinds in `SHARDGATE_PROVIDER_KINDS`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::{GcpCredential, GcpSigningCredential, GoogleCloudStorageBuilder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, StaticCredentialProvider};
use shardgate_backends::{
    BackendErrorKind, HealthPolicy, PlacementPolicy, ProviderConfig, ProviderKind as Kind,
    ProviderLimits, ProviderRegistry, Secret,
};
use shardgate_core::{
    ConvergenceScope, ErasureParams, MasterKey, SealKey, decode_shard_object, seal_chunk,
};
use shardgate_tests::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
use shardgate_tests::{
    Peer, ProviderKind, create_gcs_bucket, create_s3_bucket_in_region, provider_kinds,
    start_gcs_emulator, start_moto, tools_available,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// No `-`: object_store percent-encodes it in bucket paths, which the GCS
/// emulator's router does not decode.
const BUCKET: &str = "shardgateindependent";
const PREFIX: &str = "indep";
const B2_REGION: &str = "us-west-004";
/// A leak shorter than this is not looked for (see `PlaintextWindows`).
const WINDOW: usize = 64;
/// Plaintext windows start every `STRIDE` bytes, so any leaked run of at
/// least `WINDOW + STRIDE - 1` bytes contains a whole one.
const STRIDE: usize = 16;

/// One provider: its config for the backends and an `object_store` client
/// for the same bucket.
struct Provider {
    config: ProviderConfig,
    raw: Arc<dyn ObjectStore>,
    /// The GCS emulator's address. object_store cannot list or read it: it
    /// lists GCS through the XML API (the emulator answers 501) and requires
    /// a `Last-Modified` header on reads (the emulator sends none). So GCS
    /// keys are listed through the JSON API and objects read with plain
    /// HTTP GETs here; writes (tampering) still go through object_store.
    emulator: Option<SocketAddr>,
    _peer: Peer,
}

fn config(name: &str, kind: Kind) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        weight: 1.0,
        prefix: PREFIX.into(),
        kind,
        limits: ProviderLimits {
            timeout_ms: 30_000,
            io_timeout_ms: 30_000,
            ..ProviderLimits::default()
        },
    }
}

fn secret(s: &str) -> Secret {
    Secret::new(s.to_owned())
}

/// moto as plain S3 (`b2 = false`) or behind the B2 profile.
async fn moto_provider(name: &str, b2: bool) -> Provider {
    let peer = start_moto().await.expect("start moto");
    let region = if b2 { B2_REGION } else { "us-east-1" };
    create_s3_bucket_in_region(&peer, BUCKET, region)
        .await
        .expect("create bucket");
    let kind = if b2 {
        Kind::B2 {
            bucket: BUCKET.into(),
            region: region.into(),
            endpoint: Some(peer.endpoint()),
            key_id: secret(MOTO_ACCESS_KEY),
            application_key: secret(MOTO_SECRET_KEY),
        }
    } else {
        Kind::S3 {
            bucket: BUCKET.into(),
            endpoint: Some(peer.endpoint()),
            region: region.into(),
            access_key_id: Some(secret(MOTO_ACCESS_KEY)),
            secret_access_key: Some(secret(MOTO_SECRET_KEY)),
            virtual_host_style: false,
            conditional_writes: true,
        }
    };
    let raw = AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region(region)
        .with_endpoint(peer.endpoint())
        .with_allow_http(true)
        .with_access_key_id(MOTO_ACCESS_KEY)
        .with_secret_access_key(MOTO_SECRET_KEY)
        .build()
        .expect("object_store S3 client");
    Provider {
        config: config(name, kind),
        raw: Arc::new(raw),
        emulator: None,
        _peer: peer,
    }
}

/// The GCS emulator checks no credentials: `object_store` gets static empty
/// ones (so it never looks for ambient Google credentials) and skips signing.
async fn gcs_provider(name: &str) -> Provider {
    let peer = start_gcs_emulator().await.expect("start gcs emulator");
    create_gcs_bucket(&peer, BUCKET).await.expect("bucket");
    let kind = Kind::Gcs {
        bucket: BUCKET.into(),
        endpoint: Some(peer.endpoint()),
        credential: None,
        credential_path: None,
        token: None,
        anonymous: true,
        conditional_writes: false,
    };
    let raw = GoogleCloudStorageBuilder::new()
        .with_bucket_name(BUCKET)
        .with_base_url(&peer.endpoint())
        .with_credentials(Arc::new(StaticCredentialProvider::new(GcpCredential {
            bearer: String::new(),
        })))
        .with_signing_credentials(Arc::new(StaticCredentialProvider::new(
            GcpSigningCredential {
                email: String::new(),
                private_key: None,
            },
        )))
        .with_skip_signature(true)
        .build()
        .expect("object_store GCS client");
    Provider {
        config: config(name, kind),
        raw: Arc::new(raw),
        emulator: Some(peer.addr()),
        _peer: peer,
    }
}

/// One HTTP/1.0 request to the emulator: the body of a 200 answer.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response");
    let head = String::from_utf8_lossy(&response[..split]);
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{method} {path}: {head}"
    );
    response.split_off(split + 4)
}

/// Keys under `prefix` through the GCS JSON API (one page: the test stores
/// far fewer than the 1000 a page holds, and a next-page token fails it).
async fn gcs_json_list(addr: SocketAddr, prefix: &str) -> Vec<String> {
    let path = format!("/storage/v1/b/{BUCKET}/o?prefix={prefix}%2F");
    let body = http(addr, "GET", &path, b"").await;
    let body = String::from_utf8(body).expect("JSON is UTF-8");
    assert!(
        !body.contains("nextPageToken"),
        "listing spans pages: {body}"
    );
    // Object names are the only `"name"` members of the listing; the keys
    // written here need no JSON unescaping (hex, '/', '.').
    body.split("\"name\":")
        .skip(1)
        .map(|rest| {
            let value = rest.trim_start().strip_prefix('"').expect("string value");
            value[..value.find('"').expect("closing quote")].to_owned()
        })
        .collect()
}

/// The raw bytes of one object.
async fn read_object(p: &Provider, key: &str) -> Vec<u8> {
    if let Some(addr) = p.emulator {
        return http(addr, "GET", &format!("/{BUCKET}/{key}"), b"").await;
    }
    let read = async { p.raw.get(&Path::from(key)).await?.bytes().await };
    read.await
        .unwrap_or_else(|e| panic!("{}: object_store get {key}: {e}", p.config.name))
        .to_vec()
}

async fn list_keys(p: &Provider) -> Vec<String> {
    if let Some(addr) = p.emulator {
        return gcs_json_list(addr, PREFIX).await;
    }
    let listed: Vec<_> = p
        .raw
        .list(Some(&Path::from(PREFIX)))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{}: object_store list: {e}", p.config.name));
    listed.into_iter().map(|m| m.location.to_string()).collect()
}

/// Deterministic, non-repeating plaintext (SplitMix64), so every 64-byte
/// window is unique and a match cannot be a coincidence of repeated bytes.
fn plaintext(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// 64-byte windows of every plaintext, indexed by their first 8 bytes.
struct PlaintextWindows(BTreeMap<u64, Vec<[u8; WINDOW]>>);

impl PlaintextWindows {
    fn of(plaintexts: &[Vec<u8>]) -> Self {
        let mut map: BTreeMap<u64, Vec<[u8; WINDOW]>> = BTreeMap::new();
        for p in plaintexts {
            for start in (0..p.len().saturating_sub(WINDOW - 1)).step_by(STRIDE) {
                let w: [u8; WINDOW] = p[start..start + WINDOW].try_into().expect("window");
                map.entry(prefix_word(&w)).or_default().push(w);
            }
        }
        Self(map)
    }

    /// The offset of the first plaintext window found in `bytes`.
    fn find_in(&self, bytes: &[u8]) -> Option<usize> {
        (0..bytes.len().saturating_sub(WINDOW - 1)).find(|&at| {
            self.0
                .get(&prefix_word(&bytes[at..]))
                .is_some_and(|ws| ws.iter().any(|w| w[..] == bytes[at..at + WINDOW]))
        })
    }
}

fn prefix_word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_objects_are_shards_at_their_keys_without_plaintext() {
    let selected = provider_kinds().expect("SHARDGATE_PROVIDER_KINDS must list known kinds");
    let needed = [ProviderKind::S3, ProviderKind::Gcs, ProviderKind::B2];
    if !needed.iter().all(|k| selected.contains(k)) {
        eprintln!("needs s3, gcs and b2 in SHARDGATE_PROVIDER_KINDS; nothing to run");
        return;
    }
    assert!(
        tools_available(),
        "test peers are not installed: run scripts/install-test-peers.sh"
    );

    // Six providers, so 4+2 places every shard of a chunk on its own provider.
    let (s3, gcs, b2, s3b, s3c, s3d) = tokio::join!(
        moto_provider("s3", false),
        gcs_provider("gcs"),
        moto_provider("b2", true),
        moto_provider("s3-b", false),
        moto_provider("s3-c", false),
        moto_provider("s3-d", false),
    );
    let providers: BTreeMap<String, Provider> = [s3, gcs, b2, s3b, s3c, s3d]
        .into_iter()
        .map(|p| (p.config.name.clone(), p))
        .collect();
    let registry = ProviderRegistry::new(HealthPolicy::default());
    for p in providers.values() {
        registry.join(p.config.clone()).await.expect("join");
    }

    // Seal chunks of several sizes with 2+1 and 4+2; write them as placed.
    let master = MasterKey::from_bytes([7; 32]);
    let secret = master
        .convergence_secret(ConvergenceScope::Tenant("independent"))
        .expect("secret");
    let cases: [(u64, usize, u8, u8); 6] = [
        (1, 1 << 20, 2, 1),
        (2, 300_000, 2, 1),
        (3, 4_097, 2, 1),
        (4, 1 << 20, 4, 2),
        (5, 777_777, 4, 2),
        (6, 100, 4, 2),
    ];
    let mut plaintexts = Vec::new();
    // Expected objects: (provider, key) → the exact bytes sealed.
    let mut expected: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for (seed, len, k, m) in cases {
        let text = plaintext(seed, len);
        let params = ErasureParams::new(k.into(), m.into()).expect("params");
        let sealed = seal_chunk(&text, SealKey::Managed(&secret), params).expect("seal");
        let policy = PlacementPolicy {
            k,
            m,
            allow_reduced: false,
        };
        let placement = registry.place(&sealed.chunk_id, policy).expect("place");
        assert!(!placement.reduced, "six providers are enough for {k}+{m}");
        let hex = sealed.chunk_id.to_hex();
        for (index, (name, object)) in placement
            .shard_providers
            .iter()
            .zip(&sealed.shards)
            .enumerate()
        {
            let body = Bytes::from(object.clone());
            registry
                .call(name, |s| async move { s.put_shard(body).await })
                .await
                .expect("put shard");
            let key = format!("{PREFIX}/shards/{}/{hex}.{index}", &hex[..2]);
            expected.insert((name.clone(), key), object.clone());
        }
        plaintexts.push(text);
    }
    let windows = PlaintextWindows::of(&plaintexts);
    // The detector itself must work: a window copied at an odd offset is found.
    let mut control = vec![0u8; 1001];
    control[333..333 + 200].copy_from_slice(&plaintexts[2][1000..1200]);
    assert!(
        windows.find_in(&control).is_some(),
        "leak detector is blind"
    );

    // Read every raw object back through object_store.
    let mut holders: BTreeMap<String, Vec<(String, u8)>> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for (name, p) in &providers {
        let keys = list_keys(p).await;
        eprintln!("{name}: {} objects listed and checked", keys.len());
        for key in keys {
            let bytes = read_object(p, &key).await;
            let (header, _) = decode_shard_object(&bytes)
                .unwrap_or_else(|e| panic!("{name}: {key} is not a valid shard: {e}"));
            let hex = header.chunk_id.to_hex();
            let want_key = format!("{PREFIX}/shards/{}/{hex}.{}", &hex[..2], header.index);
            assert_eq!(key, want_key, "{name}: object at the wrong key");
            assert_eq!(
                expected.get(&(name.clone(), key.clone())),
                Some(&bytes),
                "{name}: {key} is not the shard that was placed here"
            );
            if let Some(at) = windows.find_in(&bytes) {
                panic!("{name}: {key} holds plaintext at byte {at}");
            }
            holders
                .entry(hex)
                .or_default()
                .push((name.clone(), header.index));
            found.insert((name.clone(), key));
        }
    }
    let want: BTreeSet<_> = expected.keys().cloned().collect();
    assert_eq!(found, want, "listing shows exactly the shards written");
    for (chunk, shards) in &holders {
        let names: BTreeSet<_> = shards.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names.len(),
            shards.len(),
            "chunk {chunk}: a provider holds two of its shards: {shards:?}"
        );
    }

    tampered_objects_are_corrupt(&registry, &providers, &expected).await;
}

/// Flip one body byte of one shard on each provider kind through
/// object_store; the backends must report `Corrupt`, naming provider and key.
async fn tampered_objects_are_corrupt(
    registry: &ProviderRegistry,
    providers: &BTreeMap<String, Provider>,
    expected: &BTreeMap<(String, String), Vec<u8>>,
) {
    for victim in ["s3", "gcs", "b2"] {
        let ((_, key), object) = expected
            .iter()
            .find(|((name, _), _)| name == victim)
            .unwrap_or_else(|| panic!("no shard was placed on {victim}"));
        let mut bad = object.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let p = &providers[victim];
        match p.emulator {
            // object_store's GCS put needs an ETag in the answer; the
            // emulator sends none (the write itself works), so use HTTP.
            Some(addr) => drop(http(addr, "PUT", &format!("/{BUCKET}/{key}"), &bad).await),
            None => drop(
                p.raw
                    .put(&Path::from(key.as_str()), PutPayload::from(bad.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{victim}: object_store put: {e}")),
            ),
        }
        assert_eq!(read_object(p, key).await, bad, "{victim}: tampering landed");
        let (header, _) = decode_shard_object(object).expect("original is valid");
        let (id, index) = (header.chunk_id, header.index);
        let store = registry.store(victim).expect("registered");
        let err = store
            .get_shard(&id, index)
            .await
            .expect_err("a tampered shard must not verify");
        assert_eq!(err.kind(), &BackendErrorKind::Corrupt, "{victim}: {err}");
        assert_eq!(err.provider(), victim);
        assert_eq!(err.key(), Some(key.as_str()));
    }
}
