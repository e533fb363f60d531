//! BOLT 11 encoding tests, including the specification's first test vector
//! (a real mainnet invoice signed by the spec's key), which pins our bech32,
//! field layout, signing digest and key recovery to the standard.

use super::*;

/// BOLT 11 test vector "Please make a donation of any amount using
/// payment_hash 0001020304... and min_final_cltv_expiry 9 to me @03e7156ae...".
const SPEC_DONATION: &str = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";
const SPEC_PAYEE: &str = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad";

fn sample(amount_msat: Option<u64>) -> PaymentRequest {
    PaymentRequest {
        network: REGTEST.to_string(),
        amount_msat,
        timestamp: 1_700_000_000,
        payment_hash: [7; 32],
        payment_secret: Some([9; 32]),
        description: "download blob 1f2e".into(),
        description_hash: None,
        payee: [0; 33],
        expiry_secs: 86_400,
        min_final_cltv_expiry: 80,
        feature_bits: INVOICE_FEATURE_BITS.to_vec(),
    }
}

#[test]
fn decodes_the_spec_vector_and_recovers_its_payee() {
    let req = PaymentRequest::decode(SPEC_DONATION).expect("spec vector decodes");
    assert_eq!(req.network, "bc");
    assert_eq!(req.amount_msat, None);
    assert_eq!(req.timestamp, 1_496_314_658);
    assert_eq!(
        hex::encode(req.payment_hash),
        "0001020304050607080900010203040506070809000102030405060708090102"
    );
    assert_eq!(req.payment_secret, Some([0x11; 32]));
    assert_eq!(req.description, "Please consider supporting this project");
    assert_eq!(
        hex::encode(req.payee),
        SPEC_PAYEE,
        "recovered from the signature"
    );
    assert_eq!(req.feature_bits, vec![8, 14]);
    assert_eq!(req.expiry_secs, 3600, "default when x is absent");
}

#[test]
fn roundtrips_every_amount_unit_with_a_valid_signature() {
    let key = NodeKey::generate();
    for (msat, prefix) in [
        (Some(250_000_000u64), "lnbcrt2500u1"),
        (Some(100_000_000_000), "lnbcrt11"),
        (Some(200_000_000), "lnbcrt2m1"),
        (Some(1_500), "lnbcrt15n1"),
        (Some(1_234), "lnbcrt12340p1"),
        (None, "lnbcrt1"),
    ] {
        let req = sample(msat);
        let encoded = req.encode(&key);
        assert!(encoded.starts_with(prefix), "{encoded} vs {prefix}");
        let decoded = PaymentRequest::decode(&encoded).expect("decodes");
        assert_eq!(decoded.payee, key.pubkey());
        assert_eq!(
            decoded,
            PaymentRequest {
                payee: key.pubkey(),
                ..req
            }
        );
    }
}

#[test]
fn description_hash_replaces_description() {
    let key = NodeKey::generate();
    let mut req = sample(Some(1_000));
    req.description = String::new();
    req.description_hash = Some([5; 32]);
    let decoded = PaymentRequest::decode(&req.encode(&key)).expect("decodes");
    assert_eq!(decoded.description_hash, Some([5; 32]));
    assert_eq!(decoded.description, "");
}

#[test]
fn a_field_changed_after_signing_is_detected() {
    let key = NodeKey::generate();
    let encoded = sample(Some(1_000)).encode(&key);
    // Change the amount and recompute a valid bech32 checksum: only the
    // signature can catch it.
    let (hrp, data) = bech32::decode(&encoded).expect("bech32");
    let forged = bech32::encode(&hrp.replace("10n", "20n"), &data);
    assert_ne!(forged, encoded);
    assert_eq!(
        PaymentRequest::decode(&forged),
        Err(Bolt11Error::BadSignature)
    );
}

#[test]
fn non_lightning_strings_are_refused() {
    assert!(PaymentRequest::decode("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").is_err());
    assert!(PaymentRequest::decode("not an invoice").is_err());
}

#[test]
fn feature_words_match_bolt11_layout() {
    // Bits 8, 14, 17: words (big-endian) 0b00100, 0b10000, 0b01000, 0.
    assert_eq!(features_to_words(&[8, 14, 17]), vec![4, 16, 8, 0]);
    assert_eq!(words_to_features(&[4, 16, 8, 0]), vec![8, 14, 17]);
}
