//! Upload and download through the real server: sizes around chunk
//! boundaries, byte ranges, dedup, END_TO_END ciphertext.

use crate::common;

use common::{CHUNK, TestBroker, as_tenant, bytes, get, header, put, raw_get, raw_put};
use shardgate_proto::v1 as pb;
use tonic::Code;

#[tokio::test]
async fn sizes_around_chunk_boundaries_round_trip() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // Each size hits a different path: no chunks; one short chunk; a full
    // chunk less one byte; exactly one chunk; a 1-byte second chunk; several
    // chunks with a short tail.
    for (i, size) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 777]
        .into_iter()
        .enumerate()
    {
        let data = bytes(size, i as u8);
        let put_r = put(
            &client,
            Some(&key),
            header(&format!("f{i}"), Some(size as u64)),
            &data,
        )
        .await
        .unwrap_or_else(|e| panic!("put {size}: {e:?}"));
        assert_eq!(put_r.size_bytes, size as u64);
        assert_eq!(
            put_r.chunk_count,
            size.div_ceil(CHUNK) as u64,
            "size {size}"
        );
        assert_eq!(put_r.content_hash, blake3::hash(&data).to_hex().to_string());
        let red = put_r.redundancy.expect("redundancy");
        assert_eq!((red.k, red.m, red.reduced), (2, 1, false));

        let (h, got) = get(&client, Some(&key), &put_r.blob_id, None)
            .await
            .expect("get");
        assert_eq!(got.len(), size, "size {size}");
        assert!(got == data, "bytes differ for size {size}");
        let range = h.range.expect("range");
        assert_eq!((range.offset, range.length), (0, size as u64));
        let info = h.blob.expect("info");
        assert_eq!(info.size_bytes, size as u64);
        assert!(info.owned_by_caller);
    }
    broker.stop().await;
}

#[tokio::test]
async fn ranges_at_chunk_boundaries() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let size = 3 * CHUNK + 100;
    let data = bytes(size, 9);
    let id = put(&client, Some(&key), header("r", None), &data)
        .await
        .expect("put")
        .blob_id;
    let c = CHUNK as u64;
    let cases: Vec<(u64, Option<u64>)> = vec![
        (0, Some(1)),
        (c - 1, Some(2)),            // straddles chunks 0 and 1
        (c, Some(c)),                // exactly chunk 1
        (c - 1, Some(c + 2)),        // three chunks, one byte at each end
        (3 * c, None),               // the short tail chunk
        (2 * c + 5, Some(u64::MAX)), // shortened to the end
        (size as u64 - 1, None),
    ];
    for (offset, length) in cases {
        let (h, got) = get(
            &client,
            Some(&key),
            &id,
            Some(pb::ByteRange { offset, length }),
        )
        .await
        .unwrap_or_else(|e| panic!("range {offset}+{length:?}: {e:?}"));
        let end = length.map_or(size as u64, |l| (offset.saturating_add(l)).min(size as u64));
        assert!(
            got == data[offset as usize..end as usize],
            "range {offset}+{length:?}"
        );
        assert_eq!(h.range.expect("range").length, end - offset);
    }
    let past = get(
        &client,
        Some(&key),
        &id,
        Some(pb::ByteRange {
            offset: size as u64,
            length: None,
        }),
    )
    .await
    .expect_err("offset at end");
    assert_eq!(past.code(), Some(Code::OutOfRange), "{past:?}");
    let zero = get(
        &client,
        Some(&key),
        &id,
        Some(pb::ByteRange {
            offset: 0,
            length: Some(0),
        }),
    )
    .await
    .expect_err("zero length");
    assert_eq!(zero.code(), Some(Code::InvalidArgument), "{zero:?}");
    broker.stop().await;
}

#[tokio::test]
async fn a_second_upload_of_the_same_content_writes_no_shards() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let data = bytes(2 * CHUNK + 10, 3);
    let first = put(&client, Some(&key), header("one", None), &data)
        .await
        .expect("put");
    let files = broker.shard_files();
    assert_eq!(files, 3 * 3, "3 chunks × (2+1) shards");
    assert_eq!(first.chunks_deduplicated, 0);

    let second = put(&client, Some(&key), header("two", None), &data)
        .await
        .expect("put again");
    assert_eq!(second.blob_id, first.blob_id, "same content, same blob id");
    assert!(second.already_existed);
    assert_eq!(second.chunks_deduplicated, 3);
    assert_eq!(broker.shard_files(), files, "no new shard objects");

    // The re-upload's name replaced the stored one.
    let info = as_tenant(&client, Some(&key))
        .stat(&first.blob_id)
        .await
        .expect("stat");
    assert_eq!(info.name, "two");
    broker.stop().await;
}

#[tokio::test]
async fn end_to_end_ciphertext_is_stored_and_served_as_sent() {
    use shardgate_core::FileKey;
    use shardgate_core::aead::{e2e_aad, open, seal};

    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    // Raw: the SDK seals end-to-end uploads itself; this test sends
    // ciphertext it made and reads it back as stored.
    let mut raw = broker.raw_storage().await;
    let plain = bytes(2 * CHUNK + 5, 4);
    let file_key = FileKey::generate();
    let pieces: Vec<&[u8]> = plain.chunks(CHUNK).collect();
    let mut stream = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        stream.extend(
            seal(
                &file_key.chunk_key(i as u64, last),
                &e2e_aad(i as u64, last),
                piece,
            )
            .expect("seal"),
        );
    }
    let h = pb::PutHeader {
        name: "secret".into(),
        key_mode: pb::KeyMode::EndToEnd as i32,
        end_to_end: Some(pb::EndToEndParams {
            scheme: pb::EndToEndScheme::Aes256GcmHkdfSha256V1 as i32,
        }),
        declared_size_bytes: Some(stream.len() as u64),
        ..Default::default()
    };
    let r = raw_put(&mut raw, Some(&key), h, &stream)
        .await
        .expect("put");
    assert_eq!(r.size_bytes, stream.len() as u64);
    assert_eq!(r.chunk_count, 3);
    let (h, got) = raw_get(&mut raw, Some(&key), &r.blob_id, None)
        .await
        .expect("get");
    assert!(got == stream, "ciphertext served as stored");
    let info = h.blob.expect("info");
    assert_eq!(info.plaintext_size_bytes, plain.len() as u64);
    assert_eq!(info.key_mode, pb::KeyMode::EndToEnd as i32);
    // The client decrypts the second chunk from its ciphertext range.
    let stride = (CHUNK + 16) as u64;
    let (_, chunk1) = raw_get(
        &mut raw,
        Some(&key),
        &r.blob_id,
        Some(pb::ByteRange {
            offset: stride,
            length: Some(stride),
        }),
    )
    .await
    .expect("range");
    let opened =
        open(&file_key.chunk_key(1, false), &e2e_aad(1, false), &chunk1).expect("decrypts");
    assert!(opened == plain[CHUNK..2 * CHUNK]);

    // A stream whose last piece is too short to be a chunk is refused.
    let bad = pb::PutHeader {
        name: "bad".into(),
        key_mode: pb::KeyMode::EndToEnd as i32,
        end_to_end: Some(pb::EndToEndParams {
            scheme: pb::EndToEndScheme::Aes256GcmHkdfSha256V1 as i32,
        }),
        ..Default::default()
    };
    let err = raw_put(&mut raw, Some(&key), bad, &[0u8; 10])
        .await
        .expect_err("short");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
    broker.stop().await;
}

#[tokio::test]
async fn more_shards_than_providers_needs_reduced_redundancy() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let data = bytes(CHUNK + 3, 8);
    let policy = |allow| pb::PutHeader {
        redundancy: Some(pb::RedundancyPolicy {
            k: 2,
            m: 2,
            allow_reduced_redundancy: allow,
        }),
        ..header("wide", None)
    };
    let err = put(&client, Some(&key), policy(false), &data)
        .await
        .expect_err("4 shards, 3 providers");
    assert_eq!(err.code(), Some(Code::FailedPrecondition), "{err:?}");
    assert_eq!(broker.shard_files(), 0, "refused before any write");

    let r = put(&client, Some(&key), policy(true), &data)
        .await
        .expect("reduced");
    let red = r.redundancy.expect("report");
    assert!(red.reduced, "{red:?}");
    assert_eq!((red.k, red.m, red.min_distinct_providers), (2, 2, 3));
    assert_eq!(
        red.tolerated_provider_failures, 1,
        "one provider holds two shards"
    );
    assert!(!red.reduced_reason.is_empty());
    let (_, got) = get(&client, Some(&key), &r.blob_id, None)
        .await
        .expect("get");
    assert!(got == data);
    broker.stop().await;
}
