//! Dedup and garbage collection through the real `shardgate serve` binary
//! over three real peers (s3, gcs, b2; 2+1), counting shard objects on the
//! providers directly (not through the broker):
//! - uploading the same file twice writes no new shard;
//! - a blob whose chunks are a prefix of another's writes no new shard;
//! - deleting one of two blobs that share chunks and running GC removes
//!   only the chunk nobody else uses, and the other blob still reads
//!   exactly; deleting both and running GC leaves zero shard objects.

use shardgate_client::Client;
use shardgate_tests::broker_process::BrokerProcess;
use shardgate_tests::broker_process::client::{
    as_tenant, get_checked, header, list_all, put_pattern,
};
use shardgate_tests::broker_process::pattern::Pattern;

const CHUNK: u64 = 256 * 1024;
/// Shards per chunk at 2+1.
const SHARDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_writes_nothing_twice_and_gc_removes_exactly_the_unshared_chunks() {
    let (peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-gc").await;
    let client = broker.client().await.expect("client");
    let k = Some(key.as_str());
    assert_eq!(peers.total_shards().await.expect("list"), 0);

    // Four chunks; every chunk's three shards on three providers.
    let whole = Pattern::new(7, 4 * CHUNK);
    let a = put_pattern(
        &client,
        k,
        header("a", whole.len(), Some(CHUNK as u32)),
        whole,
    )
    .await
    .unwrap_or_else(|e| panic!("put a: {e}\n{}", broker.log_tail()));
    assert_eq!(a.chunks_deduplicated, 0);
    let counts = peers.shard_counts().await.expect("list");
    assert!(
        counts.iter().all(|(_, n)| *n == 4),
        "one shard of each of 4 chunks per provider: {counts:?}"
    );

    // The same file again: same blob, every chunk deduplicated, no new shard.
    let again = put_pattern(
        &client,
        k,
        header("a", whole.len(), Some(CHUNK as u32)),
        whole,
    )
    .await
    .expect("put a again");
    assert_eq!(again.blob_id, a.blob_id);
    assert!(again.already_existed);
    assert_eq!(again.chunks_deduplicated, 4);
    assert_eq!(peers.shard_counts().await.expect("list"), counts);

    // Its first three chunks as another blob: shares them, writes nothing.
    let prefix = Pattern::new(7, 3 * CHUNK);
    let b = put_pattern(
        &client,
        k,
        header("b", prefix.len(), Some(CHUNK as u32)),
        prefix,
    )
    .await
    .expect("put b");
    assert_ne!(b.blob_id, a.blob_id);
    assert_eq!(b.chunks_deduplicated, 3);
    assert_eq!(peers.total_shards().await.expect("list"), 4 * SHARDS);

    // Delete a, GC: only a's last chunk goes; b reads exactly.
    delete(&client, &key, &a.blob_id).await;
    let report = broker.run_gc().await.expect("gc");
    assert_eq!(report.chunks_released, 1, "{report:?}");
    assert_eq!(peers.total_shards().await.expect("list"), 3 * SHARDS);
    let got = get_checked(&client, k, &b.blob_id, None, prefix)
        .await
        .expect("b after gc");
    assert_eq!((got.len, got.first_mismatch), (prefix.len(), None));
    // A second pass finds nothing more to do and keeps b's chunks.
    let report = broker.run_gc().await.expect("gc again");
    assert_eq!(report.chunks_released, 0, "{report:?}");
    assert_eq!(peers.total_shards().await.expect("list"), 3 * SHARDS);

    // Delete b too, GC: nothing left on any provider.
    delete(&client, &key, &b.blob_id).await;
    let report = broker.run_gc().await.expect("gc");
    assert_eq!(report.chunks_released, 3, "{report:?}");
    let counts = peers.shard_counts().await.expect("list");
    assert!(
        counts.iter().all(|(_, n)| *n == 0),
        "orphans left: {counts:?}"
    );
    assert!(list_all(&client, &key).await.expect("list").is_empty());
    assert!(broker.is_serving().await);
}

async fn delete(client: &Client, key: &str, blob_id: &str) {
    as_tenant(client, Some(key))
        .delete(blob_id)
        .await
        .unwrap_or_else(|e| panic!("delete {blob_id}: {e}"));
}
