use sha2::Digest;

use super::*;
use crate::l402::header::{authorization, parse_authorization};

const NOW: u64 = 1_800_000_000;
const BLOB: [u8; 32] = [0x44; 32];

fn keys() -> L402Keys {
    L402Keys::from_root_key([0x11; 32])
}

fn preimage() -> Preimage {
    Preimage([0x22; 32])
}

fn claims() -> TokenClaims {
    TokenClaims {
        payment_hash: preimage().payment_hash(),
        blob: ContentId::from_bytes(BLOB),
        range: PaidRange {
            offset: 0,
            length: 1_048_576,
        },
        expires_at_unix: NOW + 3600,
        uses: 3,
        share: None,
    }
}

fn request() -> AccessRequest {
    AccessRequest {
        blob: ContentId::from_bytes(BLOB),
        range: PaidRange {
            offset: 1000,
            length: 2000,
        },
        now_unix: NOW,
        share: None,
    }
}

fn verify_value(value: &str, req: &AccessRequest) -> Result<VerifiedCredential, PaymentError> {
    keys().verify(&parse_authorization(value)?, req)
}

fn with_preimage(token: &str) -> String {
    authorization(token, Some(&preimage()))
}

/// Decodes, lets `edit` change the macaroon, re-encodes.
fn edited(token: &str, edit: impl FnOnce(&mut Macaroon)) -> String {
    let mut m = Macaroon::decode(&STANDARD.decode(token).expect("b64")).expect("decodes");
    edit(&mut m);
    STANDARD.encode(m.encode())
}

#[test]
fn a_minted_token_verifies_and_reports_its_caveats() {
    let token = keys().mint(&claims()).expect("mints");
    let v = verify_value(&with_preimage(&token), &request()).expect("valid");
    assert_eq!(v.payment_hash, claims().payment_hash);
    assert_eq!(v.max_uses, 3);
    assert_eq!(v.paid_range, claims().range);
    assert_eq!(v.proof, PaymentProof::Preimage);
    // Empty preimage: valid only as a hold credential (broker checks ACCEPTED).
    let hold = verify_value(&authorization(&token, None), &request()).expect("valid");
    assert_eq!(hold.proof, PaymentProof::AwaitingHoldSettlement);
    // Two mints for one invoice differ (random token id).
    assert_ne!(token, keys().mint(&claims()).expect("mints"));
}

#[test]
fn keys_from_the_master_key_are_stable_and_separate() {
    let master = MasterKey::from_bytes([9; 32]);
    let token = L402Keys::from_master(&master)
        .mint(&claims())
        .expect("mints");
    let again = L402Keys::from_master(&MasterKey::from_bytes([9; 32]));
    again
        .verify(
            &parse_authorization(&with_preimage(&token)).expect("parses"),
            &request(),
        )
        .expect("same master, same root key");
    let other = L402Keys::from_master(&MasterKey::from_bytes([10; 32]));
    assert!(matches!(
        other.verify(
            &parse_authorization(&with_preimage(&token)).expect("parses"),
            &request()
        ),
        Err(PaymentError::InvalidSignature)
    ));
}

#[test]
fn forged_token_is_invalid_signature() {
    let forged = L402Keys::from_root_key([0x12; 32])
        .mint(&claims())
        .expect("mints");
    assert!(matches!(
        verify_value(&with_preimage(&forged), &request()),
        Err(PaymentError::InvalidSignature)
    ));
}

#[test]
fn tampered_caveat_or_identifier_is_invalid_signature() {
    // Indistinguishable from a forgery by design: the chain cannot tell
    // which input changed, only that one did.
    let token = keys().mint(&claims()).expect("mints");
    let more_uses = edited(&token, |m| m.caveats[3] = b"uses=99".to_vec());
    assert!(matches!(
        verify_value(&with_preimage(&more_uses), &request()),
        Err(PaymentError::InvalidSignature)
    ));
    let dropped = edited(&token, |m| {
        m.caveats.pop();
    });
    assert!(matches!(
        verify_value(&with_preimage(&dropped), &request()),
        Err(PaymentError::InvalidSignature)
    ));
    let other_hash = edited(&token, |m| m.identifier[2] ^= 1);
    assert!(matches!(
        verify_value(&with_preimage(&other_hash), &request()),
        Err(PaymentError::InvalidSignature)
    ));
}

#[test]
fn appended_caveats_may_narrow_but_never_widen() {
    let token = keys().mint(&claims()).expect("mints");
    let narrowed = edited(&token, |m| {
        m.add_caveat(b"uses=1".to_vec());
        m.add_caveat(b"range=1000+2000".to_vec());
    });
    let v = verify_value(&with_preimage(&narrowed), &request()).expect("narrowing is fine");
    assert_eq!(v.max_uses, 1);
    assert_eq!(v.paid_range, request().range);

    for (caveat, key) in [
        (&b"uses=100"[..], "uses"),
        (b"range=0+2097152", "range"),
        (b"expires_at=9999999999", "expires_at"),
    ] {
        let widened = edited(&token, |m| m.add_caveat(caveat.to_vec()));
        match verify_value(&with_preimage(&widened), &request()) {
            Err(PaymentError::WideningCaveat { key: k }) => assert_eq!(k, key),
            other => panic!("{key}: expected WideningCaveat, got {other:?}"),
        }
    }
    let unknown = edited(&token, |m| m.add_caveat(b"admin=true".to_vec()));
    assert!(matches!(
        verify_value(&with_preimage(&unknown), &request()),
        Err(PaymentError::UnknownCaveat { .. })
    ));
    let garbled = edited(&token, |m| m.add_caveat(b"uses=-1".to_vec()));
    assert!(matches!(
        verify_value(&with_preimage(&garbled), &request()),
        Err(PaymentError::MalformedCaveat { .. })
    ));
}

#[test]
fn expired_credential() {
    let token = keys().mint(&claims()).expect("mints");
    let late = AccessRequest {
        now_unix: NOW + 3600,
        ..request()
    };
    assert!(matches!(
        verify_value(&with_preimage(&token), &late),
        Err(PaymentError::CredentialExpired { expired_at_unix }) if expired_at_unix == NOW + 3600
    ));
}

#[test]
fn a_share_bound_credential_works_only_through_its_share() {
    let share = [7u8; 16];
    let token = keys()
        .mint(&TokenClaims {
            share: Some(share),
            ..claims()
        })
        .expect("mints");
    let through = |share| AccessRequest { share, ..request() };
    assert!(verify_value(&with_preimage(&token), &through(Some(share))).is_ok());
    for elsewhere in [None, Some([8u8; 16])] {
        assert!(matches!(
            verify_value(&with_preimage(&token), &through(elsewhere)),
            Err(PaymentError::WrongShare)
        ));
    }
    // A holder cannot move it to another share, only narrow a plain one.
    let moved = edited(&token, |m| {
        m.add_caveat(format!("share={}", hex::encode([8u8; 16])).into_bytes())
    });
    assert!(matches!(
        verify_value(&with_preimage(&moved), &through(Some([8u8; 16]))),
        Err(PaymentError::WideningCaveat { key: "share" })
    ));
    let plain = keys().mint(&claims()).expect("mints");
    let narrowed = edited(&plain, |m| {
        m.add_caveat(format!("share={}", hex::encode(share)).into_bytes())
    });
    assert!(verify_value(&with_preimage(&narrowed), &through(Some(share))).is_ok());
    assert!(matches!(
        verify_value(&with_preimage(&narrowed), &through(None)),
        Err(PaymentError::WrongShare)
    ));
    let upper = edited(&plain, |m| {
        m.add_caveat(b"share=0707070707070707070707070707070A".to_vec())
    });
    assert!(matches!(
        verify_value(&with_preimage(&upper), &through(Some(share))),
        Err(PaymentError::MalformedCaveat { .. })
    ));
}

#[test]
fn wrong_blob() {
    let token = keys().mint(&claims()).expect("mints");
    let other = AccessRequest {
        blob: ContentId::from_bytes([0x45; 32]),
        ..request()
    };
    assert!(matches!(
        verify_value(&with_preimage(&token), &other),
        Err(PaymentError::WrongBlob)
    ));
}

#[test]
fn range_outside_the_paid_range() {
    let token = keys().mint(&claims()).expect("mints");
    for (offset, length) in [(1_048_000, 1_000), (1_048_576, 1), (u64::MAX, 1)] {
        let outside = AccessRequest {
            range: PaidRange { offset, length },
            ..request()
        };
        assert!(matches!(
            verify_value(&with_preimage(&token), &outside),
            Err(PaymentError::RangeNotCovered { .. })
        ));
    }
    let exact = AccessRequest {
        range: claims().range,
        ..request()
    };
    assert!(
        verify_value(&with_preimage(&token), &exact).is_ok(),
        "the whole paid range"
    );
}

#[test]
fn preimage_of_another_invoice() {
    let token = keys().mint(&claims()).expect("mints");
    let value = authorization(&token, Some(&Preimage([0x23; 32])));
    assert!(matches!(
        verify_value(&value, &request()),
        Err(PaymentError::PreimageMismatch)
    ));
}

#[test]
fn every_rejection_is_unauthenticated() {
    let token = keys().mint(&claims()).expect("mints");
    let err = verify_value(&authorization(&token, Some(&Preimage([0; 32]))), &request())
        .expect_err("mismatch");
    assert_eq!(err.kind(), crate::PaymentErrorKind::Unauthenticated);
}

/// Golden vector: root key 0x11…, preimage 0x22… (so the payment hash is
/// its SHA-256), token id 0x33…, blob 0x44…, range 0+1048576, expiry
/// 1800003600, 3 uses. The layout is asserted field by field and the
/// signature is recomputed here with plain HMAC calls, independently of
/// `macaroon.rs`.
#[test]
fn golden_token() {
    let token = keys()
        .mint_with_id(&claims(), TokenId([0x33; 32]))
        .expect("mints");
    let bytes = STANDARD.decode(&token).expect("b64");

    let hash: [u8; 32] = sha2::Sha256::digest([0x22; 32]).into();
    let mut id = vec![0x00, 0x00];
    id.extend_from_slice(&hash);
    id.extend_from_slice(&[0x33; 32]);
    let caveats: [&[u8]; 4] = [
        b"blob_id=4444444444444444444444444444444444444444444444444444444444444444",
        b"range=0+1048576",
        b"expires_at=1800003600",
        b"uses=3",
    ];
    let mut expected = vec![0x02, 0x01, 0x09];
    expected.extend_from_slice(b"shardgate");
    expected.extend_from_slice(&[0x02, 66]);
    expected.extend_from_slice(&id);
    expected.push(0x00);
    for c in caveats {
        expected.extend_from_slice(&[0x02, c.len() as u8]);
        expected.extend_from_slice(c);
        expected.push(0x00);
    }
    expected.push(0x00);
    expected.extend_from_slice(&[0x06, 0x20]);

    let hmac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(key)
            .expect("any key length");
        hmac::Mac::update(&mut mac, msg);
        hmac::Mac::finalize(mac).into_bytes().into()
    };
    let mut generator = [0u8; 32];
    generator[..23].copy_from_slice(b"macaroons-key-generator");
    let mut sig = hmac(&hmac(&generator, &[0x11; 32]), &id);
    for c in caveats {
        sig = hmac(&sig, c);
    }
    expected.extend_from_slice(&sig);
    assert_eq!(hex::encode(&bytes), hex::encode(&expected));
    assert_eq!(bytes.len(), 242);
    // The base64 text itself, so a change of encoding is noticed too.
    assert_eq!(token, GOLDEN_TOKEN);
}

const GOLDEN_TOKEN: &str = concat!(
    "AgEJc2hhcmRnYXRlAkIAAJ9y6gz0lTbjxmx4f3BRht+aQ3gIN1OulTbWWzrX/N3EMzMzMzMzMzMzMzMz",
    "MzMzMzMzMzMzMzMzMzMzMzMzMzMAAkhibG9iX2lkPTQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0",
    "NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQAAg9yYW5nZT0wKzEwNDg1NzYAAhVleHBp",
    "cmVzX2F0PTE4MDAwMDM2MDAAAgZ1c2VzPTMAAAYgLsKrUscVSyKkVXOOfJn7USslQmd6mOUxUvFXGnGf",
    "WlU=",
);

#[test]
fn hold_preimages_are_derived_per_token_and_key() {
    let id = TokenId([5; 32]);
    let p = keys().hold_preimage(&id);
    assert_eq!(p, keys().hold_preimage(&id), "recomputable after a restart");
    assert_ne!(p, keys().hold_preimage(&TokenId([6; 32])));
    assert_ne!(p, L402Keys::from_root_key([0x12; 32]).hold_preimage(&id));
    assert_ne!(p.0, [0x11; 32], "not the root key itself");
}

#[path = "token_props.rs"]
mod properties;
