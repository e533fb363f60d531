//! The broker-wide memory budget (`pipeline.memory_budget_bytes`), seen
//! from a client of the real binary: a broker at its budget refuses new
//! transfers with RESOURCE_EXHAUSTED and a retry hint, commits nothing
//! for them,
//! keeps serving the transfer it admitted, and takes new ones again once
//! that one is gone.
//!
//! The budget is the 16 MiB minimum; one chunk read (4 MiB chunks, 2+1)
//! reserves ~10 MiB and an upload piece ~10 MiB, so one download whose
//! client stops reading holds enough to keep any second transfer out.

use std::time::Duration;

use shardgate_client::{ErrorKind, GetOptions};
use shardgate_tests::broker_process::client::{as_tenant, get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_at_its_memory_budget_refuses_new_transfers_then_recovers() {
    let dirs = tempfile::tempdir().unwrap();
    let providers = ProviderSpec::fs_set(dirs.path(), 3);
    let broker = BrokerProcess::start(
        &providers,
        "[pipeline]\nmemory_budget_bytes = 16777216\nmemory_wait_ms = 300\n",
    )
    .await
    .unwrap();
    let (_, key) = broker.create_tenant("t", None).await.unwrap();
    let client = broker.client().await.unwrap();
    let pattern = Pattern::new(7, 64 * MIB);
    let blob = put_pattern(
        &client,
        Some(&key),
        header("big", pattern.len(), None),
        pattern,
    )
    .await
    .unwrap()
    .blob_id;

    // A download whose client reads the header and then nothing: the
    // broker fills the client's window and its read-ahead, and holds them.
    let stalled_client = broker.client().await.unwrap();
    let stalled = as_tenant(&stalled_client, Some(&key))
        .get(&blob, &GetOptions::default())
        .await
        .unwrap();

    // A second download is refused once the stalled one holds the budget
    // (polled: on a busy machine its read-ahead takes a moment).
    let other = broker.client().await.unwrap();
    let mut refusal = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match get_checked(&other, Some(&key), &blob, None, pattern).await {
            Err(e) if e.kind() == ErrorKind::Throttled => {
                refusal = Some(e);
                break;
            }
            Err(e) => panic!("a download failed with something else than backpressure: {e}"),
            Ok(got) => assert_eq!((got.len, got.first_mismatch), (pattern.len(), None)),
        }
    }
    let refusal = refusal.expect("no download was refused while the budget was held");
    let text = refusal.to_string();
    assert!(text.contains("memory budget"), "{text}");
    assert!(text.contains("retry in 1 s"), "{text}");
    assert_eq!(refusal.retry_after(), Some(Duration::from_secs(1)));

    // An upload is refused before it stores anything.
    let listed_before = as_tenant(&other, Some(&key))
        .list_all("")
        .await
        .unwrap()
        .len();
    let small = Pattern::new(8, 8 * MIB);
    let err = put_pattern(
        &other,
        Some(&key),
        header("refused", small.len(), None),
        small,
    )
    .await
    .expect_err("an upload was admitted past the memory budget");
    assert_eq!(err.kind(), ErrorKind::Throttled, "{err}");
    let listed_after = as_tenant(&other, Some(&key))
        .list_all("")
        .await
        .unwrap()
        .len();
    assert_eq!(listed_before, listed_after, "a refused upload left a blob");

    // The stalled download is gone: its memory comes back, and transfers
    // are admitted again, exact.
    drop(stalled);
    drop(stalled_client);
    let mut served = None;
    for _ in 0..40 {
        match get_checked(&other, Some(&key), &blob, None, pattern).await {
            Ok(got) => {
                served = Some(got);
                break;
            }
            Err(e) if e.kind() == ErrorKind::Throttled => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let served = served.expect("the budget never came back after the stalled download ended");
    assert_eq!((served.len, served.first_mismatch), (pattern.len(), None));
    let uploaded = put_pattern(
        &other,
        Some(&key),
        header("after", small.len(), None),
        small,
    )
    .await
    .unwrap();
    let back = get_checked(&other, Some(&key), &uploaded.blob_id, None, small)
        .await
        .unwrap();
    assert_eq!((back.len, back.first_mismatch), (small.len(), None));
}
