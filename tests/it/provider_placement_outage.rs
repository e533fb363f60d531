//! Placement and health across real providers: 2+1 shards of each chunk go
//! to three different peers (moto as S3, moto through the B2 profile, the
//! GCS emulator); then one peer is killed. Every chunk must stay readable
//! from the other two, the dead provider must be marked DOWN and skipped,
//! and placing new chunks must refuse — or, when the policy allows, say that
//! fault tolerance is reduced.
//!
//! Needs the `s3`, `gcs` and `b2` kinds in `SHARDGATE_PROVIDER_KINDS`.

use bytes::Bytes;
use shardgate_backends::{
    BackendErrorKind, HealthPolicy, PlacementPolicy, ProviderConfig, ProviderKind as Kind,
    ProviderLimits, ProviderRegistry, Secret,
};
use shardgate_core::{ContentId, encode_shard_object};
use shardgate_tests::peers::{MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
use shardgate_tests::{
    ProviderKind, create_gcs_bucket, create_s3_bucket, create_s3_bucket_in_region, provider_kinds,
    start_gcs_emulator, start_moto, tools_available,
};

const BUCKET: &str = "shardgate-placement";
const CHUNKS: u64 = 12;
const K2M1: PlacementPolicy = PlacementPolicy {
    k: 2,
    m: 1,
    allow_reduced: false,
};

fn chunk(i: u64) -> ContentId {
    ContentId::of(&i.to_le_bytes())
}

fn shard(i: u64, index: u8) -> Bytes {
    let body: Vec<u8> = (0..2048u32)
        .map(|b| (b as u8) ^ (i as u8) ^ index)
        .collect();
    Bytes::from(encode_shard_object(chunk(i), index, 2, 1, 4096, &body))
}

/// Short limits so a dead peer is noticed in about a second, not minutes.
fn limits() -> ProviderLimits {
    ProviderLimits {
        timeout_ms: 5_000,
        io_timeout_ms: 5_000,
        retry_max_times: 1,
        retry_min_delay_ms: 10,
        retry_max_delay_ms: 50,
        ..ProviderLimits::default()
    }
}

fn provider(name: &str, kind: Kind) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        weight: 1.0,
        prefix: "placement".into(),
        kind,
        limits: limits(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunks_survive_one_dead_provider_and_placement_notices() {
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

    let s3_peer = start_moto().await.expect("moto");
    create_s3_bucket(&s3_peer, BUCKET).await.expect("bucket");
    let b2_peer = start_moto().await.expect("moto for b2");
    create_s3_bucket_in_region(&b2_peer, BUCKET, "us-west-004")
        .await
        .expect("bucket");
    let mut gcs_peer = start_gcs_emulator().await.expect("gcs emulator");
    create_gcs_bucket(&gcs_peer, BUCKET).await.expect("bucket");
    let secret = |s: &str| Secret::new(s.to_owned());

    let reg = ProviderRegistry::new(HealthPolicy {
        failure_threshold: 2,
        base_backoff_ms: 60_000,
        max_backoff_ms: 60_000,
    });
    for cfg in [
        provider(
            "s3",
            Kind::S3 {
                bucket: BUCKET.into(),
                endpoint: Some(s3_peer.endpoint()),
                region: "us-east-1".into(),
                access_key_id: Some(secret(MOTO_ACCESS_KEY)),
                secret_access_key: Some(secret(MOTO_SECRET_KEY)),
                virtual_host_style: false,
                conditional_writes: true,
            },
        ),
        provider(
            "b2",
            Kind::B2 {
                bucket: BUCKET.into(),
                region: "us-west-004".into(),
                endpoint: Some(b2_peer.endpoint()),
                key_id: secret(MOTO_ACCESS_KEY),
                application_key: secret(MOTO_SECRET_KEY),
            },
        ),
        provider(
            "gcs",
            Kind::Gcs {
                bucket: BUCKET.into(),
                endpoint: Some(gcs_peer.endpoint()),
                credential: None,
                credential_path: None,
                token: None,
                anonymous: true,
                conditional_writes: false,
            },
        ),
    ] {
        reg.join(cfg).await.expect("join");
    }

    // Write: each chunk's three shards on three different providers.
    let mut locations = Vec::new();
    for i in 0..CHUNKS {
        let placement = reg.place(&chunk(i), K2M1).expect("three providers");
        assert!(!placement.reduced);
        let mut distinct = placement.shard_providers.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "shards of a chunk on distinct providers");
        for (index, name) in placement.shard_providers.iter().enumerate() {
            let object = shard(i, index as u8);
            reg.call(name, |s| async move { s.put_shard(object).await })
                .await
                .expect("put");
        }
        locations.push(placement.shard_providers);
    }

    gcs_peer.stop();

    // Read: every chunk still yields at least k = 2 verified shards.
    let mut gcs_failures = 0;
    for (i, providers) in locations.iter().enumerate() {
        let mut good = 0;
        for (index, name) in providers.iter().enumerate() {
            let id = chunk(i as u64);
            let res = reg
                .call(name, |s| async move { s.get_shard(&id, index as u8).await })
                .await;
            match res {
                Ok(v) => {
                    assert_eq!(v.object(), &shard(i as u64, index as u8));
                    good += 1;
                }
                Err(e) => {
                    assert_eq!(name, "gcs", "only the dead provider may fail: {e}");
                    assert!(e.is_temporary(), "a dead peer is unavailable: {e}");
                    gcs_failures += 1;
                }
            }
        }
        assert!(good >= 2, "chunk {i}: only {good} shards readable");
    }
    assert!(gcs_failures >= 2);

    // Health: DOWN, skipped for writes; placement refuses or reports reduced.
    let gcs = reg
        .list()
        .into_iter()
        .find(|s| s.name == "gcs")
        .expect("listed");
    assert!(!gcs.up, "the dead provider is marked DOWN");
    let err = reg
        .place(&chunk(999), K2M1)
        .expect_err("two providers left");
    assert_eq!(err.kind(), &BackendErrorKind::InsufficientProviders);
    let reduced = reg
        .place(
            &chunk(999),
            PlacementPolicy {
                allow_reduced: true,
                ..K2M1
            },
        )
        .expect("reduced allowed");
    assert!(reduced.reduced);
    assert_eq!(reduced.shard_providers.len(), 3);
    assert!(reduced.shard_providers.iter().all(|p| p != "gcs"));
    assert_eq!(
        reduced.fault_tolerance, 0,
        "3 shards on 2 providers survive no loss"
    );
}
