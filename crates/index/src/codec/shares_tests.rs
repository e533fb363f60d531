//! Golden and robustness tests of the share record encoding.

use shardgate_core::ContentId;

use super::*;
use crate::records::TenantId;

fn share() -> ShareRecord {
    ShareRecord {
        share_id: ShareId([0x11; 16]),
        blob_id: ContentId::from_bytes([0x22; 32]),
        owner: TenantId::new("acme").unwrap(),
        token_hash: [0x33; 32],
        wrapped_key: Some(vec![0xaa, 0xbb]),
        sealed_name: None,
        price_msat: Some(1000),
        expires_at_unix_ms: None,
        max_downloads: 20,
        downloads: 3,
        revoked_at_unix_ms: Some(0x0102),
        created_at_unix_ms: 0x0a0b,
    }
}

/// The stored bytes of a share record, field by field. A change here means
/// existing databases no longer decode: add a new version instead.
#[test]
fn share_record_v1_golden_bytes() {
    let expected = [
        "01",                                                               // version 1
        "11111111111111111111111111111111",                                 // share id
        "2222222222222222222222222222222222222222222222222222222222222222", // blob id
        "00000004",
        "61636d65",                                                         // owner "acme"
        "3333333333333333333333333333333333333333333333333333333333333333", // token hash
        "01",
        "00000002",
        "aabb", // wrapped key: Some, 2 bytes
        "00",   // sealed name: None
        "01",
        "00000000000003e8", // price: Some(1000)
        "00",               // expiry: None
        "00000014",         // max downloads 20
        "00000003",         // downloads 3
        "01",
        "0000000000000102", // revoked at: Some
        "0000000000000a0b", // created at
    ]
    .concat();
    assert_eq!(hex::encode(encode_share(&share())), expected);
    assert_eq!(
        decode_share(&hex::decode(expected).unwrap()).unwrap(),
        share()
    );
}

#[test]
fn share_round_trips_and_every_truncation_is_corrupt() {
    let all_none = ShareRecord {
        wrapped_key: None,
        sealed_name: None,
        price_msat: None,
        expires_at_unix_ms: None,
        revoked_at_unix_ms: None,
        ..share()
    };
    let all_some = ShareRecord {
        sealed_name: Some(vec![9; 300]),
        expires_at_unix_ms: Some(u64::MAX),
        ..share()
    };
    for s in [share(), all_none, all_some] {
        let bytes = encode_share(&s);
        assert_eq!(decode_share(&bytes).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode_share(&bytes[..cut]), Err(IndexError::Corrupt { .. })),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_share(&long),
            Err(IndexError::Corrupt { .. })
        ));
    }
}

#[test]
fn unknown_tags_versions_and_owners_are_corrupt() {
    // The wrapped key's option tag follows version, ids, owner, token hash.
    let tag_at = 1 + 16 + 32 + 4 + 4 + 32;
    let mut bytes = encode_share(&share());
    bytes[tag_at] = 2;
    let err = decode_share(&bytes).unwrap_err();
    assert!(err.to_string().contains("wrapped key option"), "{err}");

    let mut bytes = encode_share(&share());
    bytes[0] = 2;
    let err = decode_share(&bytes).unwrap_err();
    assert!(
        matches!(&err, IndexError::Corrupt { what } if what.contains("version 2")),
        "{err}"
    );

    // An owner that is not a tenant id ("ACME").
    let mut bytes = encode_share(&share());
    bytes[1 + 16 + 32 + 4..][..4].copy_from_slice(b"ACME");
    assert!(matches!(
        decode_share(&bytes),
        Err(IndexError::Corrupt { .. })
    ));
}
