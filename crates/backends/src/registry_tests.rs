//! Registry behaviour with memory providers and an injectable outage.
//! Time is paused, so back-offs pass instantly and deterministically.

use std::time::Duration;

use opendal::Operator;
use shardgate_core::ContentId;

use crate::config::{ProviderConfig, ProviderKind, ProviderLimits};
use crate::error::BackendErrorKind;
use crate::fault_layer::{FaultLayer, FaultSwitch};
use crate::health::HealthPolicy;
use crate::placement::PlacementPolicy;
use crate::registry::ProviderRegistry;
use crate::store::ShardStore;
use crate::store_tests::shard;

fn policy() -> HealthPolicy {
    HealthPolicy {
        failure_threshold: 3,
        base_backoff_ms: 10_000,
        max_backoff_ms: 60_000,
    }
}

fn faulty(name: &str) -> (ShardStore, FaultSwitch) {
    let switch = FaultSwitch::default();
    let op = Operator::new(opendal::services::Memory::default())
        .expect("memory")
        .layer(FaultLayer(switch.clone()));
    (ShardStore::new(name, "", op), switch)
}

async fn registry_with(n: usize) -> ProviderRegistry {
    let reg = ProviderRegistry::new(policy());
    for i in 0..n {
        reg.join(ProviderConfig::memory(&format!("m{i}")))
            .await
            .expect("join");
    }
    reg
}

fn chunk(i: u8) -> ContentId {
    ContentId::of(&[i])
}

const K2M1: PlacementPolicy = PlacementPolicy {
    k: 2,
    m: 1,
    allow_reduced: false,
};

#[tokio::test]
async fn join_list_drain_leave() {
    let reg = registry_with(3).await;
    let names: Vec<_> = reg.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["m0", "m1", "m2"]);
    assert!(
        reg.list()
            .iter()
            .all(|s| s.up && !s.draining && s.kind == "memory")
    );

    let err = reg
        .join(ProviderConfig::memory("m1"))
        .await
        .expect_err("duplicate");
    assert_eq!(err.kind(), &BackendErrorKind::AlreadyExists);

    // The probe leaves nothing behind.
    let store = reg.store("m0").expect("store");
    assert!(store.list_all("").await.expect("list").is_empty());

    assert_eq!(
        reg.place(&chunk(1), K2M1)
            .expect("3 providers")
            .shard_providers
            .len(),
        3
    );
    reg.drain("m2").expect("drain");
    assert!(reg.list().iter().any(|s| s.name == "m2" && s.draining));
    let err = reg.place(&chunk(1), K2M1).expect_err("only 2 writable");
    assert_eq!(err.kind(), &BackendErrorKind::InsufficientProviders);
    // Draining providers still serve reads.
    assert!(reg.store("m2").is_ok());

    reg.leave("m2").expect("leave");
    assert!(reg.store("m2").is_err());
    assert_eq!(
        reg.leave("m2").expect_err("gone").kind(),
        &BackendErrorKind::UnknownProvider
    );
}

#[tokio::test]
async fn bad_configs_are_rejected_naming_the_field() {
    let reg = ProviderRegistry::new(policy());
    let unknown =
        toml::from_str::<ProviderConfig>("name = \"x\"\nkind = \"ftp\"").expect_err("kind");
    assert!(
        unknown.to_string().contains("unknown variant `ftp`"),
        "{unknown}"
    );
    let missing =
        toml::from_str::<ProviderConfig>("name = \"x\"\nkind = \"s3\"").expect_err("bucket");
    assert!(
        missing.to_string().contains("missing field `bucket`"),
        "{missing}"
    );

    let bad_weight = ProviderConfig {
        weight: -1.0,
        ..ProviderConfig::memory("w")
    };
    let err = reg.join(bad_weight).await.expect_err("weight");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "weight".into()
        }
    );

    let s3_half_keys: ProviderConfig =
        toml::from_str("name = \"s\"\nkind = \"s3\"\nbucket = \"b\"\naccess_key_id = \"AKIA\"")
            .expect("parses");
    let err = reg.join(s3_half_keys).await.expect_err("secret missing");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "secret_access_key".into()
        }
    );

    // An endpoint where nothing listens: the probe names `endpoint`.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }; // listener dropped: the port now refuses connections
    let cfg: ProviderConfig = toml::from_str(&format!(
        "name = \"dead\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:{port}\"\n\
         access_key_id = \"k\"\nsecret_access_key = \"very-secret-value\"\n\
         [limits]\nretry_max_times = 1\nretry_min_delay_ms = 1\ntimeout_ms = 5000"
    ))
    .expect("parses");
    let err = reg.join(cfg).await.expect_err("unreachable");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "endpoint".into()
        },
        "{err}"
    );
    assert!(!err.to_string().contains("very-secret-value"));
    assert!(reg.list().is_empty());
}

#[tokio::test]
async fn fs_root_that_is_a_file_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let cfg = ProviderConfig {
        name: "disk".into(),
        weight: 1.0,
        prefix: String::new(),
        kind: ProviderKind::Fs { root: file },
        limits: ProviderLimits::default(),
    };
    let err = ProviderRegistry::new(policy())
        .join(cfg)
        .await
        .expect_err("root is a file");
    assert!(
        matches!(err.kind(), BackendErrorKind::InvalidConfig { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_mark_down_then_half_open_probe_brings_it_back() {
    let reg = registry_with(3).await;
    let (store, outage) = faulty("flaky");
    reg.join_store("memory", 1.0, store)
        .await
        .expect("join while healthy");
    assert_eq!(reg.writable().len(), 4);

    outage.set(true);
    for i in 0..3u64 {
        let result = reg
            .call("flaky", |s| async move {
                s.put_shard(shard(i, 0, 2, 1, 64)).await
            })
            .await;
        assert_eq!(
            result.expect_err("outage").kind(),
            &BackendErrorKind::Unavailable
        );
    }
    let status = reg
        .list()
        .into_iter()
        .find(|s| s.name == "flaky")
        .expect("listed");
    assert!(!status.up);
    assert_eq!(status.consecutive_failures, 3);
    assert!(
        reg.writable().iter().all(|c| c.provider != "flaky"),
        "DOWN is skipped for writes"
    );
    for i in 0..50 {
        let p = reg.place(&chunk(i), K2M1).expect("3 others");
        assert!(!p.shard_providers.iter().any(|n| n == "flaky"));
    }

    // Not due yet: no probe happens.
    assert!(reg.probe_down_providers().await.is_empty());
    // Due, but still failing: stays DOWN and the back-off doubles.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(reg.probe_down_providers().await.is_empty());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(
        reg.probe_down_providers().await.is_empty(),
        "20 s back-off not over yet"
    );

    outage.set(false);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(reg.probe_down_providers().await, ["flaky"]);
    assert!(reg.list().iter().all(|s| s.up));
    assert_eq!(reg.writable().len(), 4);
}

#[tokio::test]
async fn object_errors_do_not_count_against_health() {
    let reg = registry_with(1).await;
    let store = reg.store("m0").expect("store");
    for i in 0..10 {
        let r = store.get_shard(&chunk(i), 0).await;
        assert!(r.as_ref().expect_err("missing").is_not_found());
        reg.observe("m0", &r);
    }
    assert!(reg.list()[0].up);
}

#[tokio::test]
async fn join_probe_fails_during_outage() {
    let reg = ProviderRegistry::new(policy());
    let (store, outage) = faulty("down-at-join");
    outage.set(true);
    let err = reg
        .join_store("memory", 1.0, store)
        .await
        .expect_err("probe fails");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "endpoint".into()
        }
    );
    assert!(reg.list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn probe_loop_revives_a_recovered_provider() {
    let reg = registry_with(2).await;
    let (store, outage) = faulty("flaky");
    reg.join_store("memory", 1.0, store).await.expect("join");
    outage.set(true);
    for _ in 0..3 {
        reg.observe::<()>(
            "flaky",
            &Err(crate::BackendError::new(
                BackendErrorKind::Timeout,
                "flaky",
                "get",
                "t",
            )),
        );
    }
    assert!(reg.writable().iter().all(|c| c.provider != "flaky"));

    let prober = tokio::spawn({
        let reg = reg.clone();
        async move { reg.probe_loop(Duration::from_secs(1)).await }
    });
    // Paused clock: each sleep jumps time forward. 15 simulated seconds:
    // still failing, so still DOWN.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(reg.writable().iter().all(|c| c.provider != "flaky"));
    outage.set(false);
    // Bounded wait (simulated time): the back-off is at most 40 s by now.
    let mut up = false;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if reg.writable().iter().any(|c| c.provider == "flaky") {
            up = true;
            break;
        }
    }
    prober.abort();
    assert!(up, "the probe loop never brought the provider back");
}
