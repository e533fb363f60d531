//! Golden and robustness tests of the payment record encoding.

use shardgate_core::ContentId;

use super::*;
use crate::payments::EntryKind;
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
        kind: EntryKind::Download,
        blob_id: Some(ContentId::from_bytes([0x44; 32])),
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
    bytes[kind_at] = 9;
    let err = decode_ledger_entry(&bytes).unwrap_err();
    assert!(err.to_string().contains("account kind"), "{err}");
    let mut bytes = encode_ledger_entry(&entry());
    bytes[1] = 0;
    bytes[0] = 3;
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
        LedgerAccountKind::Payouts,
        LedgerAccountKind::Credit,
        LedgerAccountKind::CreditHeld,
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

/// Entries other than downloads are version 2 (kind, optional blob) and
/// read back as written; a download entry stays byte-identical to v1.
#[test]
fn version_2_entries_round_trip_and_downloads_stay_version_1() {
    assert_eq!(encode_ledger_entry(&entry())[0], 1);
    let mut payout = entry();
    payout.kind = EntryKind::PayoutSucceeded;
    payout.blob_id = None;
    let bytes = encode_ledger_entry(&payout);
    assert_eq!(bytes[0], 2);
    assert_eq!(decode_ledger_entry(&bytes).unwrap(), payout);
    let mut credit = entry();
    credit.kind = EntryKind::CreditDownload;
    assert_eq!(
        decode_ledger_entry(&encode_ledger_entry(&credit)).unwrap(),
        credit
    );
    let mut bad = encode_ledger_entry(&payout);
    bad[33] = 99;
    assert!(matches!(
        decode_ledger_entry(&bad),
        Err(IndexError::Corrupt { .. })
    ));
}

#[test]
fn payouts_credits_and_orders_round_trip() {
    use crate::credits::CreditRecord;
    use crate::payouts::{PayoutAddressRecord, PayoutOrigin, PayoutRecord, PayoutState};
    let states = [
        PayoutState::InFlight,
        PayoutState::Succeeded {
            fee_msat: 7,
            preimage: [3; 32],
        },
        PayoutState::Failed {
            reason: "FAILURE_REASON_NO_ROUTE".into(),
        },
    ];
    for state in states {
        let p = PayoutRecord {
            payment_hash: [1; 32],
            account: LedgerAccount::provider("p0"),
            amount_msat: 5,
            fee_reserve_msat: 6,
            payment_request: "lnbcrt1x".into(),
            attempt: 2,
            origin: PayoutOrigin::LightningAddress,
            started_at_unix_ms: 8,
            finished_at_unix_ms: Some(9),
            state,
        };
        assert_eq!(decode_payout(&encode_payout(&p)).unwrap(), p);
    }
    let c = CreditRecord {
        payment_hash: [2; 32],
        token_id: [4; 32],
        amount_msat: 10,
        payment_request: "lnbcrt1c".into(),
        created_at_unix_ms: 1,
        expires_at_unix_ms: 2,
        credential_expires_at_unix_ms: 3,
        funded_at_unix_ms: Some(4),
    };
    assert_eq!(decode_credit(&encode_credit(&c)).unwrap(), c);
    let a = PayoutAddressRecord {
        account: LedgerAccount::broker(),
        address: "op@example.org".into(),
        threshold_msat: 1,
        failures: 2,
        next_attempt_at_unix_ms: 3,
        last_error: Some("no".into()),
        updated_at_unix_ms: 4,
    };
    assert_eq!(
        decode_payout_address(&encode_payout_address(&a)).unwrap(),
        a
    );
}
