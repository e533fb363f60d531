//! Credentials that must not open a download, through the real `shardgate`
//! binary: another invoice's preimage, a token minted under another key, a
//! caveat changed after minting, a widening caveat appended by the holder,
//! a token for another blob, a range beyond the paid one. Each is refused
//! with UNAUTHENTICATED, a message naming its reason, a fresh challenge for
//! the requested range and no data; none of them uses up the real
//! credential, which still serves afterwards.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use shardgate_core::ContentId;
use shardgate_payments::l402::macaroon::Macaroon;
use shardgate_payments::{L402Keys, PaidRange, TokenClaims};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{Challenge, Fetched, PaidBroker, get_request};
use tonic::Code;

const FLAT: u64 = 2_500;

/// Refused with UNAUTHENTICATED, no data, a message containing `reason`
/// (lowercase) and a fresh challenge other than `paid`.
fn assert_refused(fetched: &Fetched, reason: &str, paid: &Challenge, what: &str) -> Challenge {
    assert_eq!(fetched.data_frames, 0, "{what}: data served");
    let status = fetched.refused();
    assert_eq!(
        status.code(),
        Some(Code::Unauthenticated),
        "{what}: {status:?}"
    );
    assert!(
        status.message().to_lowercase().contains(reason),
        "{what}: message {:?} does not name {reason:?}",
        status.message()
    );
    let fresh = Challenge::from_error(status).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_ne!(
        fresh.payment_hash, paid.payment_hash,
        "{what}: challenge is fresh"
    );
    fresh
}

fn tampered(token: &str, edit: impl FnOnce(&mut Macaroon)) -> String {
    let mut macaroon = Macaroon::decode(&STANDARD.decode(token).expect("base64 token"))
        .expect("our tokens decode");
    edit(&mut macaroon);
    STANDARD.encode(macaroon.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_credential_is_refused_with_its_reason_and_uses_nothing() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let a_data = Pattern::new(1, 5_000).all();
    let a = paid.upload("a", &a_data, (FLAT, 0), true).await;
    let b = paid
        .upload("b", &Pattern::new(2, 5_000).all(), (FLAT, 0), true)
        .await;

    // Two paid credentials for all of A; one for the first 1000 bytes.
    let (one, one_auth) = paid.buy(get_request(&a, None), None).await;
    let (_, two_auth) = paid.buy(get_request(&a, None), None).await;
    let (short, short_auth) = paid.buy(get_request(&a, Some((0, Some(1000)))), None).await;
    let preimage_of = |auth: &str| {
        auth.rsplit_once(':')
            .expect("auth has a preimage")
            .1
            .to_owned()
    };

    // 1. Token one with the preimage of invoice two.
    let mixed = format!("L402 {}:{}", one.token, preimage_of(&two_auth));
    let got = paid.get_with(get_request(&a, None), &mixed, None).await;
    assert_refused(&got, "preimage", &one, "another invoice's preimage");

    // 2. A token minted under another root key, for a paid hash and its preimage.
    let forger = L402Keys::from_root_key([7; 32]);
    let blob_a = ContentId::from_slice(&hex::decode(&a).expect("hex id")).expect("32 bytes");
    let forged = forger
        .mint(&TokenClaims {
            payment_hash: one.payment_hash,
            blob: blob_a,
            range: PaidRange {
                offset: 0,
                length: 5_000,
            },
            expires_at_unix: 4_000_000_000,
            uses: 100,
            share: None,
        })
        .expect("mint");
    let forged_auth = format!("L402 {forged}:{}", preimage_of(&one_auth));
    let got = paid
        .get_with(get_request(&a, None), &forged_auth, None)
        .await;
    assert_refused(&got, "signature", &one, "forged token");

    // 3. A caveat edited after minting (uses=1 → uses=50), signature kept.
    let edited = tampered(&one.token, |m| {
        for caveat in &mut m.caveats {
            if caveat.as_slice() == b"uses=1" {
                *caveat = b"uses=50".to_vec();
            }
        }
    });
    assert_ne!(edited, one.token, "the uses caveat was found and edited");
    let got = paid
        .get_with(
            get_request(&a, None),
            &format!("L402 {edited}:{}", preimage_of(&one_auth)),
            None,
        )
        .await;
    assert_refused(&got, "signature", &one, "tampered caveat");

    // 4. A widening caveat appended by the holder (validly chained).
    let widened = tampered(&short.token, |m| m.add_caveat(b"range=0+5000".to_vec()));
    let got = paid
        .get_with(
            get_request(&a, None),
            &format!("L402 {widened}:{}", preimage_of(&short_auth)),
            None,
        )
        .await;
    assert_refused(&got, "widen", &short, "widening caveat");

    // 5. A's token on blob B.
    let got = paid.get_with(get_request(&b, None), &one_auth, None).await;
    let fresh = assert_refused(&got, "blob", &one, "token for another blob");
    let fresh_invoice = paid
        .lightning
        .invoice(&fresh.payment_hash)
        .await
        .expect("fresh invoice");
    assert_eq!(
        fresh_invoice.value_msat, FLAT,
        "challenge for B's own price"
    );

    // 6. A range beyond the paid one (0+1000 paid, 0+2000 and 500+1000 asked).
    for (offset, length) in [(0, 2000), (500, 1000), (1000, 1)] {
        let got = paid
            .get_with(
                get_request(&a, Some((offset, Some(length)))),
                &short_auth,
                None,
            )
            .await;
        assert_refused(&got, "range", &short, &format!("range {offset}+{length}"));
    }

    // Nothing above used a credential up: each still serves once.
    let got = paid.get_with(get_request(&a, None), &one_auth, None).await;
    assert!(got.bytes() == a_data.as_slice());
    let got = paid.get_with(get_request(&a, None), &two_auth, None).await;
    assert!(got.bytes() == a_data.as_slice());
    let got = paid
        .get_with(get_request(&a, Some((0, Some(1000)))), &short_auth, None)
        .await;
    assert!(got.bytes() == &a_data[..1000]);
    // A holder may narrow its own credential (attenuation), but it is still
    // one credential: spent now.
    let narrowed = tampered(&short.token, |m| m.add_caveat(b"range=0+10".to_vec()));
    let got = paid
        .get_with(
            get_request(&a, Some((0, Some(10)))),
            &format!("L402 {narrowed}:{}", preimage_of(&short_auth)),
            None,
        )
        .await;
    assert_refused(
        &got,
        "used up",
        &short,
        "narrowed copy of a spent credential",
    );
}
