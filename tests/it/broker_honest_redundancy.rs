//! Redundancy a client is told while a provider is out: the real
//! `shardgate serve` binary over three real peers (s3, gcs, b2; 2+1). With
//! one peer killed and the broker holding it DOWN, a blob's shards are
//! readable on two providers only, so losing one more would make it
//! unreadable: Stat must say `tolerated_provider_failures: 0`, `reduced`,
//! and name the provider — not the 1 it was placed with.

use std::time::{Duration, Instant};

use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::BrokerProcess;
use shardgate_tests::broker_process::client::{as_tenant, get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;

const CHUNK: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_counts_only_shards_readable_now() {
    let (mut peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-honest").await;
    let client = broker.client().await.expect("client");
    let p = Pattern::new(5, 8 * CHUNK);
    let put = put_pattern(
        &client,
        Some(&key),
        header("b", p.len(), Some(CHUNK as u32)),
        p,
    )
    .await
    .expect("upload");
    let stat = |client: &shardgate_client::Client| {
        let client = as_tenant(client, Some(&key));
        let blob_id = put.blob_id.clone();
        async move {
            client
                .stat(&blob_id)
                .await
                .expect("stat")
                .redundancy
                .expect("redundancy")
        }
    };
    let before = stat(&client).await;
    assert_eq!(
        (before.tolerated_provider_failures, before.reduced),
        (1, false)
    );

    // Kill the s3 peer; downloads (exact, from the other two) make the
    // broker hold it DOWN.
    peers.peers[0].stop();
    let providers = broker.admin_client().await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = get_checked(&client, Some(&key), &put.blob_id, None, p)
            .await
            .expect("readable from the other two");
        assert_eq!((got.len, got.first_mismatch), (p.len(), None));
        let list = providers.list_providers().await.expect("providers");
        let s3 = list.iter().find(|i| i.name == "s3").expect("s3");
        if s3.state == pb::ProviderState::Down as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "s3 never went DOWN: {s3:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let during = stat(&client).await;
    assert_eq!(
        (during.tolerated_provider_failures, during.reduced),
        (0, true),
        "one more lost provider would make the blob unreadable: {during:?}"
    );
    assert_eq!(during.min_distinct_providers, 2, "{during:?}");
    assert!(during.reduced_reason.contains("s3"), "{during:?}");
    assert!(broker.is_serving().await);
}
