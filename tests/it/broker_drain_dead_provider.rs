//! An operator drains a provider that is dead: the real `shardgate serve`
//! binary over four real peers (s3, gcs, b2 and a second moto `s3-d`; 2+1).
//! The s3 peer is killed and the broker holds it DOWN; `Providers.Drain`
//! must start rebuilding its shards from the survivors at once — not after
//! the one-hour DOWN grace period — so within a minute the index places no
//! shard on it, and afterwards every blob survives the loss of one more
//! provider.

use std::time::{Duration, Instant};

use shardgate_client::{Client, pb};
use shardgate_tests::broker_process::client::{get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders, ProviderSpec};
use shardgate_tests::{create_s3_bucket, start_moto, tools_available};

const CHUNK: u64 = 256 * 1024;
const BUCKET: &str = "shardgate-e2e-drain-dead";

async fn provider(admin: &Client, name: &str) -> pb::ProviderInfo {
    admin
        .list_providers()
        .await
        .expect("providers")
        .into_iter()
        .find(|p| p.name == name)
        .expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_of_a_dead_provider_rebuilds_at_once() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let mut peers = PeerProviders::start(BUCKET).await.expect("peers");
    let fourth = start_moto().await.expect("fourth moto");
    create_s3_bucket(&fourth, BUCKET).await.expect("bucket");
    let mut specs = peers.specs.clone();
    specs.push(ProviderSpec::s3("s3-d", &fourth, BUCKET));
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let client = broker.client().await.expect("client");
    let mut blobs = Vec::new();
    for i in 0..4u32 {
        let p = Pattern::new(300 + i, 6 * CHUNK + u64::from(i) * 1000);
        let put = put_pattern(
            &client,
            Some(&key),
            header(&format!("b{i}"), p.len(), Some(CHUNK as u32)),
            p,
        )
        .await
        .expect("upload");
        blobs.push((put.blob_id, p));
    }
    let providers = broker.admin_client().await.expect("connect");
    assert!(provider(&providers, "s3").await.shards_stored > 0);

    // s3 dies; downloads (still exact) make the broker hold it DOWN.
    peers.peers[0].stop();
    let deadline = Instant::now() + Duration::from_secs(60);
    while provider(&providers, "s3").await.state != pb::ProviderState::Down as i32 {
        assert!(Instant::now() < deadline, "s3 never went DOWN");
        for (id, p) in &blobs {
            let got = get_checked(&client, Some(&key), id, None, *p)
                .await
                .expect("readable from the others");
            assert_eq!((got.len, got.first_mismatch), (p.len(), None));
        }
    }

    // The operator drains it: within a minute no shard is placed on it.
    providers.drain_provider("s3").await.expect("drain");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s3 = provider(&providers, "s3").await;
        if s3.shards_stored == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drain of a dead provider did not move its shards within a minute: {} left\n{}",
            s3.shards_stored,
            broker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The operator's log says the move started and that the drain is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = broker.log_text();
        let done = log
            .lines()
            .any(|l| l.contains("drain complete") && l.contains("s3"));
        if done {
            assert!(log.contains("evacuation started"), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no `drain complete` for the dead provider in the log\n{}",
            broker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // One more provider lost: every blob still reads back exact.
    peers.peers[1].stop();
    for (id, p) in &blobs {
        let got = get_checked(&client, Some(&key), id, None, *p)
            .await
            .unwrap_or_else(|e| panic!("blob {id} after losing gcs too: {e}"));
        assert_eq!((got.len, got.first_mismatch), (p.len(), None));
    }
    assert!(broker.is_serving().await);
}
