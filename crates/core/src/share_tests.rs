use super::*;

fn blob(byte: u8) -> ContentId {
    ContentId::from_bytes([byte; 32])
}

fn fixed_secret() -> ShareSecret {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    ShareSecret::from_bytes(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn derivations_match_the_documented_hkdf() {
    // Computed independently (Python hmac/hashlib HKDF, RFC 5869, no salt)
    // for secret = 00 01 .. 1f, with the labels of docs/sharing.md.
    let secret = fixed_secret();
    assert_eq!(
        hex(secret.read_token().as_bytes()),
        "44c86a300653e8197046ca298bdc61058bf590bb4628119e1331d8fcb161b217"
    );
    assert_eq!(
        hex(&secret.wrapping_key().0),
        "c3831b41773a0becd88b4b1ab0754a42827e258434735018e0334eeb23e5f021"
    );
}

#[test]
fn file_key_round_trips_and_is_bound_to_the_blob() {
    let secret = ShareSecret::generate();
    let key = FileKey::generate();
    let wrapping = secret.wrapping_key();
    let wrapped = wrapping.wrap_file_key(&key, &blob(1));
    assert_eq!(wrapped.len(), WRAPPED_FILE_KEY_LEN);
    let opened = wrapping.unwrap_file_key(&wrapped, &blob(1)).unwrap();
    assert_eq!(opened.expose_bytes(), key.expose_bytes());

    // Another blob, another secret, a flipped bit, a short box: refused.
    assert!(matches!(
        wrapping.unwrap_file_key(&wrapped, &blob(2)),
        Err(CoreError::DecryptFailed)
    ));
    let other = ShareSecret::generate().wrapping_key();
    assert!(other.unwrap_file_key(&wrapped, &blob(1)).is_err());
    for i in 0..wrapped.len() {
        let mut flipped = wrapped.clone();
        flipped[i] ^= 0x01;
        assert!(
            wrapping.unwrap_file_key(&flipped, &blob(1)).is_err(),
            "byte {i}"
        );
    }
    assert!(wrapping.unwrap_file_key(&wrapped[..59], &blob(1)).is_err());
}

#[test]
fn a_sealed_name_cannot_pass_for_a_key_or_the_reverse() {
    let wrapping = ShareSecret::generate().wrapping_key();
    let key = FileKey::generate();
    let wrapped = wrapping.wrap_file_key(&key, &blob(3));
    // Same length as a wrapped key: only the label tells them apart.
    let name = "n".repeat(32);
    let sealed = wrapping.seal_name(&name, &blob(3)).unwrap();
    assert_eq!(sealed.len(), wrapped.len());
    assert!(wrapping.unwrap_file_key(&sealed, &blob(3)).is_err());
    assert!(wrapping.open_name(&wrapped, &blob(3)).is_err());
    assert_eq!(wrapping.open_name(&sealed, &blob(3)).unwrap(), name);
}

#[test]
fn names_round_trip_and_are_bounded() {
    let wrapping = ShareSecret::generate().wrapping_key();
    for name in ["", "report.pdf", "Grüße 🎉.txt"] {
        let sealed = wrapping.seal_name(name, &blob(4)).unwrap();
        assert_eq!(wrapping.open_name(&sealed, &blob(4)).unwrap(), name);
    }
    let long = "x".repeat(MAX_SEALED_NAME_BYTES + 1);
    assert!(matches!(
        wrapping.seal_name(&long, &blob(4)),
        Err(CoreError::InvalidArgument { .. })
    ));
    // Two seals of one name differ (fresh nonces).
    let a = wrapping.seal_name("same", &blob(4)).unwrap();
    let b = wrapping.seal_name("same", &blob(4)).unwrap();
    assert_ne!(a, b);
}

#[test]
fn text_forms_round_trip_and_bad_text_is_refused() {
    let secret = ShareSecret::generate();
    let text = secret.to_text();
    assert_eq!(text.len(), 43);
    let back = ShareSecret::parse(&text).unwrap();
    assert_eq!(back.read_token(), secret.read_token());
    let token = secret.read_token();
    assert_eq!(ReadToken::parse(&token.to_text()).unwrap(), token);
    for bad in ["", "abc", &"A".repeat(44), "!!!!", &format!("{text}=")] {
        assert!(ShareSecret::parse(bad).is_err(), "{bad:?}");
        assert!(ReadToken::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn only_the_right_token_matches_its_hash() {
    let secret = ShareSecret::generate();
    let stored = secret.read_token().hash();
    assert!(secret.read_token().matches(&stored));
    assert!(!ShareSecret::generate().read_token().matches(&stored));
    let mut near = *secret.read_token().as_bytes();
    near[31] ^= 1;
    assert!(!ReadToken::from_bytes(near).matches(&stored));
}
