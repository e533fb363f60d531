//! Golden and robustness tests of the payment record encoding.

use shardgate_core::ContentId;

use super::*;
use crate::records::TenantId;

fn invoice() -> InvoiceRecord {
    InvoiceRecord {
        payment_hash: [0x11; 32],
        blob_id: ContentId::of(b"blob"),
        owner: TenantId::new("acme").unwrap(),
        range_offset: 10,
        range_length: 20,
        amount_msat: 30_000,
        uses: 5,
        used: 2,
        hold: true,
        token_id: [0x22; 32],
        payment_request: "lnbcrt1".into(),
        created_at_unix_ms: 1,
        expires_at_unix_ms: 2,
        credential_expires_at_unix_ms: 3,
        hold_accepted_at_unix_ms: Some(4),
        progress: InvoiceProgress::Settled,
    }
}

fn entry() -> LedgerEntry {
    LedgerEntry {
        entry_id: [0x33; 32],
        blob_id: ContentId::from_bytes([0x44; 32]),
        settled_at_unix_ms: 0x0102,
        postings: vec![
            LedgerPosting {
                account: LedgerAccount::lightning(),
                side: PostingSide::Debit,
                amount_msat: 1000,
            },
            LedgerPosting {
                account: LedgerAccount::provider("p0"),
                side: PostingSide::Credit,
                amount_msat: 1000,
            },
        ],
    }
}

/// The stored bytes of a ledger entry, field by field. A change here means
/// existing databases no longer decode: add a new version instead.
#[test]
fn ledger_entry_v1_golden_bytes() {
    let expected = [
        "01",                                                               // version 1
        "3333333333333333333333333333333333333333333333333333333333333333", // entry id
        "4444444444444444444444444444444444444444444444444444444444444444", // blob id
        "0000000000000102",                                                 // settled at
        "00000002",                                                         // 2 postings
        "03",                                                               // kind Lightning
        "00000000",                                                         // id ""
        "00",                                                               // Debit
        "00000000000003e8",                                                 // 1000 msat
        "01",                                                               // kind Provider
        "00000002",
        "7030",             // id "p0"
        "01",               // Credit
        "00000000000003e8", // 1000 msat
    ]
    .concat();
    assert_eq!(hex::encode(encode_ledger_entry(&entry())), expected);
    assert_eq!(
        decode_ledger_entry(&hex::decode(expected).unwrap()).unwrap(),
        entry()
    );
}

#[test]
fn invoice_round_trips_and_every_truncation_is_corrupt() {
    for inv in [
        invoice(),
        InvoiceRecord {
            hold: false,
            hold_accepted_at_unix_ms: None,
            progress: InvoiceProgress::Issued,
            ..invoice()
        },
    ] {
        let bytes = encode_invoice(&inv);
        assert_eq!(decode_invoice(&bytes).unwrap(), inv);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode_invoice(&bytes[..cut]),
                    Err(IndexError::Corrupt { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_invoice(&long),
            Err(IndexError::Corrupt { .. })
        ));
    }
}

#[test]
fn unknown_tags_are_corrupt() {
    // The progress tag is the last byte of an invoice.
    let mut bytes = encode_invoice(&invoice());
    *bytes.last_mut().unwrap() = 9;
    let err = decode_invoice(&bytes).unwrap_err();
    assert!(err.to_string().contains("progress"), "{err}");

    // The first posting's kind tag follows version, two ids, time, count.
    let kind_at = 1 + 32 + 32 + 8 + 4;
    let mut bytes = encode_ledger_entry(&entry());
    bytes[kind_at] = 4;
    let err = decode_ledger_entry(&bytes).unwrap_err();
    assert!(err.to_string().contains("account kind"), "{err}");
    let mut bytes = encode_ledger_entry(&entry());
    bytes[1] = 0;
    bytes[0] = 2;
    assert!(matches!(
        decode_ledger_entry(&bytes),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn account_kind_tags_sort_like_kinds() {
    let kinds = [
        LedgerAccountKind::Owner,
        LedgerAccountKind::Provider,
        LedgerAccountKind::Broker,
        LedgerAccountKind::Lightning,
    ];
    for pair in kinds.windows(2) {
        assert!(pair[0] < pair[1]);
        assert!(account_kind_tag(pair[0]) < account_kind_tag(pair[1]));
    }
    for kind in kinds {
        assert_eq!(
            account_kind_from_tag(account_kind_tag(kind), "t").unwrap(),
            kind
        );
    }
}
