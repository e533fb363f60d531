use super::*;

const KEY: [u8; 32] = [7; 32];

fn sample() -> Macaroon {
    let mut m = Macaroon::mint(&KEY, b"shardgate", b"identifier".to_vec());
    m.add_caveat(b"uses=1".to_vec());
    m.add_caveat(b"expires_at=10".to_vec());
    m
}

#[test]
fn encode_decode_round_trips_and_verifies() {
    let m = sample();
    let decoded = Macaroon::decode(&m.encode()).expect("decodes");
    assert_eq!(decoded, m);
    decoded.verify(&KEY).expect("signature verifies");
    assert!(matches!(
        decoded.verify(&[8; 32]),
        Err(PaymentError::InvalidSignature)
    ));
}

#[test]
fn removing_or_reordering_caveats_breaks_the_signature() {
    let mut removed = sample();
    removed.caveats.pop();
    assert!(removed.verify(&KEY).is_err());
    let mut swapped = sample();
    swapped.caveats.swap(0, 1);
    assert!(swapped.verify(&KEY).is_err());
}

#[test]
fn every_truncation_and_trailing_byte_is_refused() {
    let bytes = sample().encode();
    for len in 0..bytes.len() {
        assert!(
            Macaroon::decode(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Macaroon::decode(&longer),
        Err(PaymentError::MalformedToken {
            reason: "trailing bytes after signature"
        })
    ));
}

#[test]
fn third_party_caveats_and_oversized_fields_are_refused() {
    // A caveat with a verification id (field 4) is third-party.
    let mut bytes = vec![FORMAT_V2];
    put_field(&mut bytes, FIELD_IDENTIFIER, b"id");
    bytes.push(0);
    put_field(&mut bytes, FIELD_IDENTIFIER, b"cav");
    put_field(&mut bytes, FIELD_VID, b"vid");
    bytes.push(0);
    bytes.push(0);
    put_field(&mut bytes, FIELD_SIGNATURE, &[0; 32]);
    assert!(Macaroon::decode(&bytes).is_err());

    let big = Macaroon::mint(&KEY, b"", vec![0; MAX_FIELD_LEN + 1]);
    assert!(Macaroon::decode(&big.encode()).is_err());

    let mut many = Macaroon::mint(&KEY, b"", b"id".to_vec());
    for _ in 0..=MAX_CAVEATS {
        many.add_caveat(b"uses=1".to_vec());
    }
    assert!(matches!(
        Macaroon::decode(&many.encode()),
        Err(PaymentError::MalformedToken {
            reason: "too many caveats"
        })
    ));
}

#[test]
fn varints_are_minimal() {
    let mut out = Vec::new();
    put_varint(&mut out, 200);
    assert_eq!(out, [0xc8, 0x01]);
    let mut r = Reader {
        bytes: &[0x80, 0x00],
        pos: 0,
    };
    assert!(r.varint().is_err(), "0x80 0x00 is a non-minimal zero");
}
