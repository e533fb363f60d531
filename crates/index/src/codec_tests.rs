//! Golden and robustness tests of the record encoding.

use super::*;

fn tenant() -> TenantRecord {
    TenantRecord {
        id: TenantId::new("acme-1").unwrap(),
        name: "Acme".into(),
        api_key_hash: [0xab; 32],
        quota_bytes: 100_000_000_000,
        used_bytes: 4096,
        created_at_unix_ms: 1_700_000_000_000,
    }
}

/// The stored bytes of a tenant record, field by field. A change here means
/// existing databases no longer decode: add a new version instead.
#[test]
fn tenant_record_v1_golden_bytes() {
    let expected = [
        "01", // format version 1
        "00000006",
        "61636d652d31", // id "acme-1"
        "00000004",
        "41636d65",                                                         // name "Acme"
        "abababababababababababababababababababababababababababababababab", // key hash
        "000000174876e800",                                                 // quota 100 GB
        "0000000000001000",                                                 // used 4096
        "0000018bcfe56800",                                                 // created at
    ]
    .concat();
    assert_eq!(hex::encode(encode_tenant(&tenant())), expected);
    assert_eq!(
        decode_tenant(&hex::decode(expected).unwrap()).unwrap(),
        tenant()
    );
}

#[test]
fn unknown_version_is_corrupt_not_panic() {
    let mut bytes = encode_tenant(&tenant());
    bytes[0] = 2;
    let err = decode_tenant(&bytes).unwrap_err();
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("version 2"), "{err}");
    assert!(matches!(
        decode_tenant(&[]),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn every_truncation_and_trailing_byte_is_corrupt() {
    let chunk = ChunkRecord {
        chunk_id: ContentId::of(b"c"),
        k: 2,
        m: 1,
        sealed_len: 1000,
        shards: vec![ShardLocation {
            index: 0,
            provider: "s3-a".into(),
        }],
        wrapped_key: Some(vec![1, 2, 3]),
        refcount: 7,
        shards_version: 0,
    };
    let repaired = ChunkRecord {
        shards_version: 3,
        ..chunk.clone()
    };
    for chunk in [chunk, repaired] {
        let bytes = encode_chunk(&chunk);
        assert_eq!(decode_chunk(&bytes).unwrap(), chunk);
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode_chunk(&bytes[..cut]), Err(IndexError::Corrupt { .. })),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_chunk(&long),
            Err(IndexError::Corrupt { .. })
        ));
    }
}

#[test]
fn a_chunk_never_repaired_is_written_as_earlier_brokers_wrote_it() {
    let chunk = ChunkRecord {
        chunk_id: ContentId::of(b"c"),
        k: 2,
        m: 1,
        sealed_len: 1000,
        shards: vec![],
        wrapped_key: None,
        refcount: 1,
        shards_version: 0,
    };
    let bytes = encode_chunk(&chunk);
    // Version byte 1, and the record ends with the refcount.
    assert_eq!(bytes[0], 1);
    assert_eq!(bytes[bytes.len() - 8..], 1u64.to_be_bytes());
    let repaired = encode_chunk(&ChunkRecord {
        shards_version: 1,
        ..chunk
    });
    assert_eq!(repaired[0], 2);
    assert_eq!(repaired.len(), bytes.len() + 8);
}

#[test]
fn blob_and_provider_round_trip_and_bad_tags() {
    let blob = BlobRecord {
        blob_id: ContentId::of(b"m"),
        owner: TenantId::new("t").unwrap(),
        name: "photos/cat.jpg".into(),
        content_type: "image/jpeg".into(),
        size: 12,
        content_hash: ContentId::of(b"p"),
        key_mode: KeyMode::EndToEnd,
        visibility: Visibility::Public,
        price: Price {
            flat_msat: 5,
            per_mib_msat: 9,
        },
        metadata: [("a".to_string(), "b".to_string())].into(),
        manifest: vec![9; 40],
        created_at_unix_ms: 3,
    };
    let bytes = encode_blob(&blob);
    assert_eq!(decode_blob(&bytes).unwrap(), blob);
    // The visibility tag sits right after the key mode byte.
    let tag_at = 1 + 32 + 4 + 1 + 4 + 14 + 4 + 10 + 8 + 32 + 1;
    let mut bad = bytes.clone();
    bad[tag_at] = 7;
    let err = decode_blob(&bad).unwrap_err();
    assert!(err.to_string().contains("visibility"), "{err}");

    let provider = ProviderRecord {
        name: "gcs-eu".into(),
        config_sealed: vec![1; 20],
        weight: 1.5,
        state: ProviderState::Draining,
    };
    assert_eq!(
        decode_provider(&encode_provider(&provider)).unwrap(),
        provider
    );
}
