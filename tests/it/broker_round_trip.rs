//! Round trips through the real `shardgate serve` binary over three real
//! peers (moto as `s3`, the GCS emulator as `gcs`, moto via the B2 profile
//! as `b2`; 2+1): the interesting sizes around a 256 KiB chunk, ranges at
//! chunk boundaries, and one 200 MiB blob at the default 4 MiB chunks,
//! streamed both ways. Then the broker's data directory is checked to hold
//! only an index: small, and without a 64-byte window of the plaintext.
//!
//! With `azure` in `SHARDGATE_PROVIDER_KINDS`, the same sizes and ranges
//! (and a blob of several default chunks) go through a broker whose three
//! providers are containers on one azurite, kind `azblob`.

use shardgate_client::Client;
use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::client::{get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::{ProviderKind, provider_kinds};

const SMALL_CHUNK: u64 = 256 * 1024;
const BIG_CHUNK: u64 = 4 << 20;
const BIG: u64 = 200 << 20;
/// What the index of a few dozen blobs may take, at most.
const INDEX_BUDGET: u64 = 8 << 20;

fn range(offset: u64, length: Option<u64>) -> Option<pb::ByteRange> {
    Some(pb::ByteRange { offset, length })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_ranges_and_a_200_mib_blob_round_trip_and_the_index_holds_no_file_bytes() {
    let (_peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-rt").await;
    let key = Some(key.as_str());
    let client = broker.client().await.expect("client");

    let pattern = sizes_and_ranges(&broker, &client, key).await;

    // 200 MiB at the default chunk size, generated and checked on the fly.
    let big = Pattern::new(99, BIG);
    let put = put_pattern(&client, key, header("big", BIG, None), big)
        .await
        .unwrap_or_else(|e| panic!("put 200 MiB: {e}\n{}", broker.log_tail()));
    assert_eq!(put.chunk_count, BIG / BIG_CHUNK);
    assert_eq!(put.content_hash, big.blake3_hex());
    let got = get_checked(&client, key, &put.blob_id, None, big)
        .await
        .expect("get 200 MiB");
    assert_eq!((got.len, got.first_mismatch), (BIG, None));
    for (offset, length) in [(BIG_CHUNK - 3, 6), (BIG - BIG_CHUNK - 1, 2), (BIG - 1, 1)] {
        let got = get_checked(&client, key, &put.blob_id, range(offset, Some(length)), big)
            .await
            .expect("ranged get");
        assert_eq!((got.len, got.first_mismatch), (length, None), "at {offset}");
    }

    // The data directory holds an index, not file bytes.
    let mut total = 0;
    let files = broker.data_dir_files();
    assert!(!files.is_empty(), "the index lives in data_dir");
    for path in &files {
        let bytes = std::fs::read(path).expect("read data_dir file");
        total += bytes.len() as u64;
        for (name, p) in [("big", big), ("ranges", pattern)] {
            assert_eq!(
                p.find_window(&bytes),
                None,
                "{} holds a 64-byte window of the {name} plaintext",
                path.display()
            );
        }
    }
    assert!(
        total < INDEX_BUDGET,
        "data_dir holds {total} bytes after a 200 MiB upload: {files:?}"
    );
    assert!(broker.is_serving().await);
}

/// The interesting sizes around a 256 KiB chunk (empty, one byte, the three
/// around a boundary), then ranges at and across the chunk boundaries of a
/// 3-chunk-and-a-bit blob: each put, read back and compared. Returns the
/// ranged blob's pattern.
async fn sizes_and_ranges(broker: &BrokerProcess, client: &Client, key: Option<&str>) -> Pattern {
    // Sizes: empty (no chunks), one byte, and the three around a boundary.
    for (seed, size) in [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1]
        .into_iter()
        .enumerate()
    {
        let pattern = Pattern::new(seed as u32 + 1, size);
        let put = put_pattern(
            client,
            key,
            header(&format!("size-{size}"), size, Some(SMALL_CHUNK as u32)),
            pattern,
        )
        .await
        .unwrap_or_else(|e| panic!("put {size}: {e}\n{}", broker.log_tail()));
        assert_eq!(put.size_bytes, size);
        assert_eq!(put.chunk_count, size.div_ceil(SMALL_CHUNK));
        assert_eq!(put.content_hash, pattern.blake3_hex());
        let got = get_checked(client, key, &put.blob_id, None, pattern)
            .await
            .unwrap_or_else(|e| panic!("get {size}: {e}"));
        assert_eq!(got.len, size, "size {size}");
        assert_eq!(got.first_mismatch, None, "size {size}");
    }

    // Ranges at and across the boundaries of a 3-chunk-and-a-bit blob.
    let size = 3 * SMALL_CHUNK + 5;
    let pattern = Pattern::new(50, size);
    let put = put_pattern(
        client,
        key,
        header("ranges", size, Some(SMALL_CHUNK as u32)),
        pattern,
    )
    .await
    .expect("put ranges");
    let c = SMALL_CHUNK;
    for (offset, length, served) in [
        (0, Some(1), 1),
        (c - 1, Some(2), 2),
        (c, Some(c), c),
        (c - 1, Some(c + 2), c + 2),
        (2 * c - 1, Some(1), 1),
        (3 * c, None, 5),
        (size - 1, None, 1),
        (c + 7, Some(10 * c), size - c - 7),
    ] {
        let got = get_checked(client, key, &put.blob_id, range(offset, length), pattern)
            .await
            .unwrap_or_else(|e| panic!("range {offset}+{length:?}: {e}"));
        let r = got.header.range.expect("served range");
        assert_eq!(
            (r.offset, got.len),
            (offset, served),
            "range {offset}+{length:?}"
        );
        assert_eq!(got.first_mismatch, None, "range {offset}+{length:?}");
    }
    pattern
}

/// Sizes, ranges and a blob of several default (4 MiB) chunks through a
/// broker on three azurite containers; each container ends up holding
/// shards, listed directly through the Azure Blob API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_providers_round_trip_sizes_ranges_and_a_multi_chunk_blob() {
    let selected = provider_kinds().expect("SHARDGATE_PROVIDER_KINDS must list known kinds");
    if !selected.contains(&ProviderKind::Azure) {
        eprintln!("provider kind `azure` not selected; nothing to run");
        return;
    }
    let peers = PeerProviders::start_azurite("shardgate-e2e-rt")
        .await
        .expect("azurite and its containers");
    let broker = BrokerProcess::start(&peers.specs, "")
        .await
        .expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let key = Some(key.as_str());
    let client = broker.client().await.expect("client");

    sizes_and_ranges(&broker, &client, key).await;

    let size = 6 * BIG_CHUNK + 3;
    let blob = Pattern::new(77, size);
    let put = put_pattern(&client, key, header("multi-chunk", size, None), blob)
        .await
        .unwrap_or_else(|e| panic!("put {size}: {e}\n{}", broker.log_tail()));
    assert_eq!(put.chunk_count, size.div_ceil(BIG_CHUNK));
    let got = get_checked(&client, key, &put.blob_id, None, blob)
        .await
        .expect("get the multi-chunk blob");
    assert_eq!((got.len, got.first_mismatch), (size, None));

    for (provider, shards) in peers.shard_counts().await.expect("list the containers") {
        assert!(shards > 0, "{provider} holds no shard objects");
    }
    assert!(broker.is_serving().await);
}
