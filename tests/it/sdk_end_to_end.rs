//! End-to-end mode through the SDK (shardgate-client) against the real
//! `shardgate serve` binary on three moto S3 providers: round trips of the
//! interesting sizes, ranges across chunk boundaries, and what must fail —
//! a wrong key, another blob's key, shards damaged beyond what the erasure
//! code repairs — without releasing plaintext or leaving an output file.
//! Finally nothing the broker or a provider stores holds the file key or a
//! sample of the plaintext.

use shardgate_backends::ShardStore;
use shardgate_client::{Client, ErrorKind, FileKey, GetOptions, PutOptions, file_key_hex};
use shardgate_tests::broker_process::client::PatternReader;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::tools_available;

const CHUNK: u64 = 256 * 1024;
const BIG: u64 = 50 << 20;
const BUCKET: &str = "shardgate-sdk-e2e";

fn options(key: &FileKey, range: Option<(u64, Option<u64>)>) -> GetOptions {
    GetOptions {
        file_key: Some(key.clone()),
        range,
        ..GetOptions::default()
    }
}

fn put_options(name: &str, chunk: Option<u64>) -> PutOptions {
    PutOptions {
        chunk_size: chunk.map(|c| c as u32),
        ..PutOptions::new(name).end_to_end()
    }
}

/// Uploads `pattern` end-to-end (streamed from a reader, never whole in
/// memory for the big one) and returns the blob id and file key.
async fn put_pattern(
    client: &Client,
    name: &str,
    pattern: Pattern,
    chunk: Option<u64>,
) -> (String, FileKey) {
    let reader = PatternReader::new(pattern);
    let done = client
        .put(reader, Some(pattern.len()), put_options(name, chunk))
        .await
        .unwrap_or_else(|e| panic!("put {name}: {e}"));
    let key = done.file_key.expect("an end-to-end upload returns its key");
    let chunks = pattern.len().div_ceil(chunk.unwrap_or(4 << 20));
    assert_eq!(done.response.chunk_count, chunks, "{name}");
    // The broker stores ciphertext: 16 bytes of tag per chunk more.
    assert_eq!(
        done.response.size_bytes,
        pattern.len() + 16 * chunks,
        "{name}"
    );
    assert_eq!(done.response.chunks_deduplicated, 0);
    (done.response.blob_id, key)
}

/// Downloads with `options` and compares every byte with `pattern` at the
/// plaintext offsets asked for; returns the number of bytes.
async fn get_checked(client: &Client, blob: &str, options: &GetOptions, pattern: Pattern) -> u64 {
    let mut download = client
        .get(blob, options)
        .await
        .unwrap_or_else(|e| panic!("get {blob} {:?}: {e}", options.range));
    let (offset, length) = download.range();
    let mut at = offset;
    while let Some(piece) = download.next_chunk().await.expect("chunk") {
        assert!(
            piece[..] == pattern.bytes(at, piece.len() as u64)[..],
            "bytes at {at} differ ({:?})",
            options.range
        );
        at += piece.len() as u64;
    }
    let done = download.finish().await.expect("finish");
    assert_eq!(done.bytes, length);
    assert_eq!(at - offset, length);
    length
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_blobs_round_trip_fail_closed_and_never_reach_the_broker_in_clear() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let PeerProviders { peers, specs } = PeerProviders::start_motos(BUCKET).await.expect("motos");
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, api_key) = broker.create_tenant("erin", None).await.expect("tenant");
    let client = Client::builder(broker.url())
        .api_key(api_key)
        .connect()
        .await
        .expect("connect");

    // Sizes: empty (no chunks), one byte, around a chunk boundary; then
    // 50 MiB at the default 4 MiB chunks.
    let mut blobs = Vec::new();
    for (seed, size, chunk) in [
        (1, 0, Some(CHUNK)),
        (2, 1, Some(CHUNK)),
        (3, CHUNK - 1, Some(CHUNK)),
        (4, CHUNK, Some(CHUNK)),
        (5, CHUNK + 1, Some(CHUNK)),
        (6, BIG, None),
    ] {
        let pattern = Pattern::new(seed, size);
        let (blob, key) = put_pattern(&client, &format!("size-{size}"), pattern, chunk).await;
        let got = get_checked(&client, &blob, &options(&key, None), pattern).await;
        assert_eq!(got, size);
        blobs.push((blob, key, pattern));
    }
    let (big_blob, big_key, big) = blobs.last().cloned().expect("big");

    // Plaintext ranges across chunk boundaries of a 3-chunk-and-a-bit blob
    // and of the big one.
    let size = 3 * CHUNK + 5;
    let pattern = Pattern::new(7, size);
    let (blob, key) = put_pattern(&client, "ranges", pattern, Some(CHUNK)).await;
    let c = CHUNK;
    for (offset, length, served) in [
        (0, Some(1), 1),
        (c - 1, Some(2), 2),
        (c, Some(c), c),
        (c - 1, Some(c + 2), c + 2),
        (3 * c, None, 5),
        (size - 1, None, 1),
        (c + 7, Some(10 * c), size - c - 7),
    ] {
        let got = get_checked(
            &client,
            &blob,
            &options(&key, Some((offset, length))),
            pattern,
        )
        .await;
        assert_eq!(got, served, "range {offset}+{length:?}");
    }
    let big_chunk = 4u64 << 20;
    let got = get_checked(
        &client,
        &big_blob,
        &options(&big_key, Some((big_chunk - 3, Some(6)))),
        big,
    )
    .await;
    assert_eq!(got, 6);

    // Without the key the SDK refuses rather than hand out ciphertext.
    let err = client
        .get_bytes(&blob, &GetOptions::default())
        .await
        .expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("file key"), "{err}");

    // A wrong key, and another blob's key: errors, no plaintext, no file.
    let out_dir = tempfile::tempdir().expect("tempdir");
    for (what, wrong) in [
        ("a random key", FileKey::generate()),
        ("another blob's key", big_key.clone()),
    ] {
        let mut download = client
            .get(&blob, &options(&wrong, None))
            .await
            .expect("open");
        let err = download.next_chunk().await.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Integrity, "{what}: {err}");
        let out = out_dir.path().join("wrong.bin");
        let err = client
            .get_to_file(&blob, &out, &options(&wrong, None))
            .await
            .expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Integrity, "{what}: {err}");
        assert_eq!(
            std::fs::read_dir(out_dir.path()).expect("ls").count(),
            0,
            "{what}: a failed download leaves no file"
        );
    }

    // Stored shard objects, read and damaged directly on the providers.
    let stores: Vec<ShardStore> = specs
        .iter()
        .map(|s| ShardStore::from_config(&s.config()).expect("store"))
        .collect();
    let manifest = client.manifest(&blob).await.expect("manifest");
    let shards_of = |chunk: usize| {
        let id = manifest.chunks()[chunk].id.to_hex();
        let stores = stores.clone();
        async move {
            let mut objects = Vec::new();
            for store in stores {
                for key in store.list_all("shards/").await.expect("list") {
                    if key.contains(&id) {
                        objects.push((store.clone(), key));
                    }
                }
            }
            assert_eq!(objects.len(), 3, "k+m shards of chunk {chunk}");
            objects
        }
    };
    // One flipped byte in one shard body of chunk 2: the erasure code
    // repairs it, the bytes are exact.
    let (store, object) = shards_of(2).await.remove(0);
    flip_body_byte(&store, &object).await;
    let got = get_checked(&client, &blob, &options(&key, None), pattern).await;
    assert_eq!(got, size);
    // Every shard of chunk 1 damaged (more than the code can repair): an
    // error, and no output file.
    for (store, object) in shards_of(1).await {
        flip_body_byte(&store, &object).await;
    }
    let out = out_dir.path().join("damaged.bin");
    let err = client
        .get_to_file(&blob, &out, &options(&key, None))
        .await
        .expect_err("unrepairable chunk");
    assert!(
        matches!(err.kind(), ErrorKind::Integrity | ErrorKind::Unavailable),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).expect("ls").count(), 0);

    // No provider object and no file under the broker's data directory
    // holds a file key (raw or hex) or a 64-byte window of a plaintext.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (_, k, _) in &blobs {
        keys.push(k.expose_bytes().to_vec());
        keys.push(file_key_hex(k).into_bytes());
    }
    keys.push(key.expose_bytes().to_vec());
    keys.push(file_key_hex(&key).into_bytes());
    let samples: Vec<Pattern> = blobs.iter().map(|(_, _, p)| *p).chain([pattern]).collect();
    let mut objects = 0;
    for store in &stores {
        for object in store.list_all("").await.expect("list") {
            let bytes = store.operator().read(&object).await.expect("read").to_vec();
            assert_clean(&object, &bytes, &keys, &samples);
            objects += 1;
        }
    }
    // One shard object per chunk on each of the three providers.
    assert!(objects >= 3 * 20, "{objects} provider objects scanned");
    let files = broker.data_dir_files();
    assert!(!files.is_empty());
    for path in files {
        let bytes = std::fs::read(&path).expect("read");
        assert_clean(&path.display().to_string(), &bytes, &keys, &samples);
    }
    drop(broker);
    drop(peers);
}

/// Scans every byte position of `bytes` (75 MiB of shards here). memchr's
/// search is an optimized dependency even in test builds, and the
/// plaintext scan unmixes each position once for all samples: byte-wise
/// loops in this unoptimized test crate took most of the test's time.
fn assert_clean(what: &str, bytes: &[u8], keys: &[Vec<u8>], samples: &[Pattern]) {
    for key in keys {
        assert!(
            memchr::memmem::find(bytes, key).is_none(),
            "{what} holds a file key"
        );
    }
    assert_eq!(
        Pattern::find_window_of_any(samples, bytes),
        None,
        "{what} holds plaintext (sample, offset)"
    );
}

/// Flips one byte in the body of a stored shard object (after its header).
async fn flip_body_byte(store: &ShardStore, key: &str) {
    let mut bytes = store.operator().read(key).await.expect("read").to_vec();
    let at = shardgate_core::SHARD_HEADER_LEN + 10;
    bytes[at] ^= 0x40;
    store.operator().write(key, bytes).await.expect("write");
}
