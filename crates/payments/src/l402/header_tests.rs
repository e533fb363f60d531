use super::*;
use crate::l402::macaroon::Macaroon;

fn token() -> String {
    let m = Macaroon::mint(&[1; 32], b"shardgate", vec![0; 66]);
    STANDARD.encode(m.encode())
}

const PREIMAGE: &str = "0101010101010101010101010101010101010101010101010101010101010101";

#[test]
fn well_formed_values_parse() {
    let t = token();
    let c = parse_authorization(&format!("L402 {t}:{PREIMAGE}")).expect("parses");
    assert_eq!(c.preimage, Some(Preimage([1; 32])));
    let legacy = parse_authorization(&format!("LSAT {t}:{PREIMAGE}")).expect("legacy scheme");
    assert_eq!(legacy.macaroon, c.macaroon);
    let hold = parse_authorization(&format!("L402 {t}:")).expect("empty preimage");
    assert_eq!(hold.preimage, None);
    assert_eq!(
        authorization(&t, Some(&Preimage([1; 32]))),
        format!("L402 {t}:{PREIMAGE}")
    );
}

#[test]
fn malformed_values_get_typed_errors() {
    let t = token();
    let auth = |s: &str| parse_authorization(s).map(|_| ()).unwrap_err();
    for bad in [
        String::new(),
        format!("Bearer {t}:{PREIMAGE}"),
        format!("l402 {t}:{PREIMAGE}"),
        format!("L402  {t}:{PREIMAGE}"),
        format!("L402 {t}:{PREIMAGE} "),
        format!("L402 {t}{PREIMAGE}"),
        format!("L402 {t}:{PREIMAGE}:{PREIMAGE}"),
        format!("L402 {t},{t}:{PREIMAGE}"),
        format!("L402 :{PREIMAGE}"),
    ] {
        assert!(
            matches!(auth(&bad), PaymentError::MalformedAuthorization { .. }),
            "{bad:?} → {:?}",
            auth(&bad)
        );
    }
    for bad_token in ["!!!!", "AAA", "AAAA"] {
        assert!(matches!(
            auth(&format!("L402 {bad_token}:{PREIMAGE}")),
            PaymentError::MalformedToken { .. }
        ));
    }
    for bad_preimage in [
        &PREIMAGE[..62],
        &PREIMAGE.to_uppercase().replace('1', "A"),
        "zz",
    ] {
        assert!(matches!(
            auth(&format!("L402 {t}:{bad_preimage}")),
            PaymentError::MalformedPreimage { .. }
        ));
    }
    let giant = format!("L402 {}:{PREIMAGE}", "A".repeat(1 << 20));
    assert!(matches!(
        auth(&giant),
        PaymentError::AuthorizationTooLong { max: 4096, .. }
    ));
    for e in [auth(""), auth(&giant)] {
        assert_eq!(e.kind(), crate::PaymentErrorKind::Unauthenticated);
    }
}

#[test]
fn challenge_has_the_l402_shape() {
    let v = www_authenticate("YWJj+/==", "lnbcrt10n1pxyz").expect("plain");
    assert_eq!(v, r#"L402 macaroon="YWJj+/==", invoice="lnbcrt10n1pxyz""#);
    assert!(www_authenticate("a\"b", "lnbc1").is_err());
    assert!(www_authenticate("YWJj", "lnbc 1").is_err());
}

#[test]
fn a_challenge_reads_back_as_it_was_written() {
    let token = token();
    let written = www_authenticate(&token, "lnbcrt10n1pxyz").expect("plain");
    let read = parse_www_authenticate(&written).expect("our own challenge parses");
    assert_eq!(read.token, token);
    assert_eq!(read.invoice, "lnbcrt10n1pxyz");
    // The token's identifier holds 66 bytes whose payment hash part is zero.
    assert_eq!(read.unverified_payment_hash().expect("hash").0, [0; 32]);

    // Any order, the legacy scheme, tighter commas and unknown parameters.
    let read = parse_www_authenticate(r#"LSAT invoice="lnbc1",version="0", macaroon="QQ==""#)
        .expect("tolerant");
    assert_eq!(
        (read.token.as_str(), read.invoice.as_str()),
        ("QQ==", "lnbc1")
    );
}

#[test]
fn a_broken_challenge_is_refused() {
    for bad in [
        r#"Basic realm="x""#,
        r#"L402 macaroon="QQ==""#,
        r#"L402 invoice="lnbc1""#,
        r#"L402 macaroon=QQ==, invoice="lnbc1""#,
        r#"L402 macaroon="QQ==", invoice="lnbc1", invoice="lnbc2""#,
        "L402macaroon=\"QQ==\", invoice=\"lnbc1\"",
    ] {
        assert!(parse_www_authenticate(bad).is_err(), "{bad}");
    }
    let long = format!(
        r#"L402 macaroon="{}", invoice="lnbc1""#,
        "Q".repeat(MAX_CHALLENGE_LEN)
    );
    assert!(parse_www_authenticate(&long).is_err());
}
