//! Two real `shardgate serve` processes sharing one PostgreSQL index (one
//! fresh schema of the test server) and three fs providers, as two broker
//! replicas would on Kubernetes: a tenant created and a blob uploaded
//! through broker A are stat'ed, listed, read byte-exact and deleted
//! through broker B; GC through B then removes every shard from the
//! providers and every chunk from the index, and A finds nothing left.
//!
//! Needs `SHARDGATE_TEST_POSTGRES_URL` (scripts/test.sh sets it); fails,
//! never skips, without it.

use shardgate_tests::broker_process::client::{
    as_tenant, get_checked, header, list_all, put_pattern,
};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};

use crate::pg_schema::Schema;

const CHUNK: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_share_one_postgres_index() {
    let schema = Schema::fresh();
    let dirs = tempfile::tempdir().expect("provider dirs");
    let providers = ProviderSpec::fs_set(dirs.path(), 3);
    let index = schema.index_toml();
    // Started together: both migrate the fresh schema at once.
    let (a, b) = tokio::join!(
        BrokerProcess::start(&providers, &index),
        BrokerProcess::start(&providers, &index)
    );
    let (a, b) = (a.expect("broker A"), b.expect("broker B"));

    // A tenant created through A authenticates on B.
    let (_, key) = a.create_tenant("alice", None).await.expect("tenant");
    let k = Some(key.as_str());
    let on_a = a.client().await.expect("client A");
    let on_b = b.client().await.expect("client B");

    let pattern = Pattern::new(42, 3 * CHUNK + 1000);
    let put = put_pattern(
        &on_a,
        k,
        header("shared/report.bin", pattern.len(), Some(CHUNK as u32)),
        pattern,
    )
    .await
    .unwrap_or_else(|e| panic!("put through A: {e}\n{}", a.log_tail()));
    assert_eq!(schema.count("chunks").await, 4, "four chunks indexed");

    let info = as_tenant(&on_b, k)
        .stat(&put.blob_id)
        .await
        .unwrap_or_else(|e| panic!("stat through B: {e}\n{}", b.log_tail()));
    assert_eq!(
        (info.name.as_str(), info.size_bytes),
        ("shared/report.bin", pattern.len())
    );
    let listed = list_all(&on_b, &key).await.expect("list through B");
    assert_eq!(
        listed
            .iter()
            .map(|i| i.blob_id.as_str())
            .collect::<Vec<_>>(),
        [put.blob_id.as_str()]
    );
    let got = get_checked(&on_b, k, &put.blob_id, None, pattern)
        .await
        .unwrap_or_else(|e| panic!("get through B: {e}\n{}", b.log_tail()));
    assert_eq!((got.len, got.first_mismatch), (pattern.len(), None));

    let deleted = as_tenant(&on_b, k)
        .delete(&put.blob_id)
        .await
        .expect("delete through B");
    assert_eq!(deleted, pattern.len());
    let gone = as_tenant(&on_a, k)
        .stat(&put.blob_id)
        .await
        .expect_err("A sees the delete");
    assert_eq!(gone.code(), Some(tonic::Code::NotFound));

    let report = b
        .run_gc()
        .await
        .unwrap_or_else(|e| panic!("GC through B: {e}\n{}", b.log_tail()));
    assert_eq!(report.chunks_released, 4, "{report:?}");
    for provider in &providers {
        let left = provider.shard_objects().await.expect("list provider");
        assert!(
            left.is_empty(),
            "{} keeps orphan shards: {left:?}",
            provider.name
        );
    }
    assert_eq!(schema.count("chunks").await, 0, "no chunk record left");
    assert_eq!(schema.count("provider_shards").await, 0);
    assert_eq!(schema.count("blobs").await, 0);
    let again = a.run_gc().await.expect("GC through A");
    assert_eq!(again.chunks_released, 0, "nothing left for A: {again:?}");

    // Usage went back to zero on the shared tenant record.
    let used = schema
        .client()
        .await
        .query_one(
            &format!("SELECT used_bytes::text FROM \"{}\".tenants", schema.name),
            &[],
        )
        .await
        .expect("tenant row")
        .get::<_, String>(0);
    assert_eq!(used, "0");
}

/// Waits (bounded) until `broker` lists the providers `want` says, by name
/// and state; returns what it lists at the end.
async fn wait_for_providers(
    broker: &BrokerProcess,
    want: impl Fn(&[shardgate_client::pb::ProviderInfo]) -> bool,
) -> Vec<shardgate_client::pb::ProviderInfo> {
    let admin = broker.admin_client().await.expect("admin client");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let listed = admin.list_providers().await.expect("list providers");
        if want(&listed) || std::time::Instant::now() >= deadline {
            return listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A provider joined, drained and removed through replica A reaches
/// replica B within seconds, without a restart (each replica re-reads the
/// stored providers every `provider_sync_interval_ms`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_changes_on_one_replica_reach_the_other() {
    use shardgate_client::pb;

    let schema = Schema::fresh();
    let dirs = tempfile::tempdir().expect("provider dirs");
    let providers = ProviderSpec::fs_set(dirs.path(), 3);
    let index = format!("provider_sync_interval_ms = 300\n{}", schema.index_toml());
    let (a, b) = tokio::join!(
        BrokerProcess::start(&providers, &index),
        BrokerProcess::start(&providers, &index)
    );
    let (a, b) = (a.expect("broker A"), b.expect("broker B"));
    let admin_a = a.admin_client().await.expect("admin A");
    let state = |list: &[pb::ProviderInfo], name: &str| {
        list.iter()
            .find(|p| p.name == name)
            .map(|p| pb::ProviderState::try_from(p.state).unwrap_or_default())
    };

    let root = dirs.path().join("joined");
    admin_a
        .join_provider(pb::JoinProviderRequest {
            name: "joined".into(),
            config: Some(pb::ProviderConfig {
                kind: Some(pb::provider_config::Kind::Fs(pb::FsConfig {
                    root: root.display().to_string(),
                })),
            }),
            weight: 0,
        })
        .await
        .expect("join through A");
    let on_b = wait_for_providers(&b, |l| state(l, "joined").is_some()).await;
    assert_eq!(
        state(&on_b, "joined"),
        Some(pb::ProviderState::Up),
        "B learns of the join: {on_b:?}\n{}",
        b.log_tail()
    );

    admin_a
        .drain_provider("joined")
        .await
        .expect("drain through A");
    let on_b = wait_for_providers(&b, |l| {
        state(l, "joined") == Some(pb::ProviderState::Draining)
    })
    .await;
    assert_eq!(
        state(&on_b, "joined"),
        Some(pb::ProviderState::Draining),
        "B stops placing shards there: {on_b:?}"
    );

    admin_a
        .leave_provider("joined", false)
        .await
        .expect("leave through A (it holds no shards)");
    let on_b = wait_for_providers(&b, |l| state(l, "joined").is_none()).await;
    assert_eq!(state(&on_b, "joined"), None, "B drops it: {on_b:?}");
    // The config-file providers stay on both.
    for broker in [&a, &b] {
        let listed = wait_for_providers(broker, |_| true).await;
        let names: Vec<_> = listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p0", "p1", "p2"]);
    }
}
