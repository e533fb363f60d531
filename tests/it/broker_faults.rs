//! Faults against the real `shardgate serve` binary over three real peers
//! (s3, gcs, b2; 2+1):
//! 1. the broker is SIGKILLed in the middle of 50 concurrent uploads and
//!    restarted on the same data directory and providers: every blob its
//!    index lists reads back byte-exact, and every upload that was
//!    acknowledged before the kill is among them;
//! 2. then one of the three providers is killed (its peer, by PID): every
//!    download still returns the exact bytes, and a new upload either lands
//!    on the remaining providers (and reads back) or fails cleanly without
//!    committing anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shardgate_tests::broker_process::client::{get_checked, header, list_all, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::tools_available;
use tonic::Code;

const CHUNK: u64 = 256 * 1024;
const UPLOADS: u32 = 50;
/// Acknowledged uploads to wait for before the kill, so it lands mid-way.
const ACKED_BEFORE_KILL: usize = 3;

/// The blob a name stands for: `c-<i>` is 2.5 chunks plus `i` KiB.
fn pattern_of(name: &str) -> Option<Pattern> {
    let i: u32 = name.strip_prefix("c-")?.parse().ok()?;
    Some(Pattern::new(1000 + i, 5 * CHUNK / 2 + u64::from(i) * 1024))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_then_a_dead_provider_lose_nothing_committed() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let mut peers = PeerProviders::start("shardgate-e2e-faults")
        .await
        .expect("peers");
    let mut broker = BrokerProcess::start(&peers.specs, "")
        .await
        .expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let client = broker.client().await.expect("client");

    // 50 concurrent uploads; SIGKILL once a few were acknowledged.
    let acked = Arc::new(AtomicUsize::new(0));
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..UPLOADS {
        let (client, key, acked) = (client.clone(), key.clone(), acked.clone());
        uploads.spawn(async move {
            let name = format!("c-{i}");
            let p = pattern_of(&name).expect("pattern");
            let result = put_pattern(
                &client,
                Some(&key),
                header(&name, p.len(), Some(CHUNK as u32)),
                p,
            )
            .await;
            if result.is_ok() {
                acked.fetch_add(1, Ordering::SeqCst);
            }
            (name, result)
        });
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "no uploads acknowledged:\n{}",
            broker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.kill();
    let mut acknowledged = HashMap::new();
    let mut failed = 0;
    while let Some(joined) = uploads.join_next().await {
        match joined.expect("upload task") {
            (name, Ok(put)) => {
                acknowledged.insert(name, put.blob_id);
            }
            (_, Err(_)) => failed += 1,
        }
    }
    assert!(
        failed > 0,
        "the kill must land mid-way (all {UPLOADS} finished first)"
    );

    broker
        .restart()
        .await
        .expect("restart on the same data dir");
    let client = broker.client().await.expect("client");
    let listed = list_all(&client, &key).await.expect("list after restart");
    for (name, id) in &acknowledged {
        assert!(
            listed.iter().any(|b| &b.blob_id == id),
            "acknowledged upload {name} lost by the kill"
        );
    }
    for blob in &listed {
        let p = pattern_of(&blob.name).expect("a name this test uploaded");
        let got = get_checked(&client, Some(&key), &blob.blob_id, None, p)
            .await
            .unwrap_or_else(|e| panic!("{} listed but unreadable: {e}", blob.name));
        assert_eq!(
            (got.len, got.first_mismatch),
            (p.len(), None),
            "{}",
            blob.name
        );
    }
    eprintln!(
        "kill after {} acks: {} acknowledged, {} listed, {failed} failed",
        ACKED_BEFORE_KILL,
        acknowledged.len(),
        listed.len()
    );

    // One provider of three down: reads stay exact.
    peers.peers[1].stop();
    for blob in &listed {
        let p = pattern_of(&blob.name).expect("pattern");
        let got = get_checked(&client, Some(&key), &blob.blob_id, None, p)
            .await
            .unwrap_or_else(|e| panic!("{} with gcs down: {e}", blob.name));
        assert_eq!(
            (got.len, got.first_mismatch),
            (p.len(), None),
            "{}",
            blob.name
        );
    }

    // An upload now lands on the healthy two or fails cleanly.
    let name = format!("c-{UPLOADS}");
    let p = pattern_of(&name).expect("pattern");
    match put_pattern(
        &client,
        Some(&key),
        header(&name, p.len(), Some(CHUNK as u32)),
        p,
    )
    .await
    {
        Ok(put) => {
            let got = get_checked(&client, Some(&key), &put.blob_id, None, p)
                .await
                .expect("an upload accepted while a provider is down reads back");
            assert_eq!((got.len, got.first_mismatch), (p.len(), None));
        }
        Err(e) => {
            assert!(
                matches!(e.code(), Some(Code::FailedPrecondition | Code::Unavailable)),
                "unclean failure: {e}"
            );
            let now = list_all(&client, &key).await.expect("list");
            assert!(
                now.iter().all(|b| b.name != name),
                "a failed upload was committed"
            );
        }
    }
    assert!(broker.is_serving().await, "{}", broker.log_tail());
}
