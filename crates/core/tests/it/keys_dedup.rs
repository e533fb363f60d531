//! Convergent dedup, tenant isolation, key wrapping and secret hygiene.

use shardgate_core::{
    ConvergenceScope, CoreError, CoreErrorKind, ErasureParams, FileKey, MasterKey, SealKey,
    WrappedChunkKey, seal_chunk,
};

fn master() -> MasterKey {
    MasterKey::from_bytes([9; 32])
}

#[test]
fn equal_chunks_under_one_secret_dedup() {
    let secret = master()
        .convergence_secret(ConvergenceScope::Tenant("acme"))
        .unwrap();
    let chunk = vec![0xabu8; 300_000];
    let a = seal_chunk(&chunk, SealKey::Managed(&secret), ErasureParams::default()).unwrap();
    let b = seal_chunk(&chunk, SealKey::Managed(&secret), ErasureParams::default()).unwrap();
    assert_eq!(a.chunk_id, b.chunk_id);
    assert_eq!(
        a.shards, b.shards,
        "same chunk must give byte-identical shards"
    );

    let mut other = chunk.clone();
    other[123] ^= 1;
    let c = seal_chunk(&other, SealKey::Managed(&secret), ErasureParams::default()).unwrap();
    assert_ne!(a.chunk_id, c.chunk_id);
}

#[test]
fn tenants_do_not_share_chunk_ids_unless_global() {
    let chunk = b"same bytes, two tenants".to_vec();
    let seal_with = |scope| {
        let secret = master().convergence_secret(scope).unwrap();
        seal_chunk(&chunk, SealKey::Managed(&secret), ErasureParams::default())
            .unwrap()
            .chunk_id
    };
    let a = seal_with(ConvergenceScope::Tenant("acme"));
    let b = seal_with(ConvergenceScope::Tenant("globex"));
    assert_ne!(a, b, "one tenant could probe another's content");
    assert_eq!(
        seal_with(ConvergenceScope::Global),
        seal_with(ConvergenceScope::Global)
    );
    assert_ne!(seal_with(ConvergenceScope::Global), a);
    // Another master key: another deployment, no shared ids.
    let other = MasterKey::from_bytes([8; 32])
        .convergence_secret(ConvergenceScope::Tenant("acme"))
        .unwrap();
    let c = seal_chunk(&chunk, SealKey::Managed(&other), ErasureParams::default())
        .unwrap()
        .chunk_id;
    assert_ne!(a, c);
}

#[test]
fn empty_tenant_id_is_refused() {
    // The empty suffix is the global secret; a tenant must not alias it.
    let err = master()
        .convergence_secret(ConvergenceScope::Tenant(""))
        .unwrap_err();
    assert_eq!(err.kind(), CoreErrorKind::InvalidArgument);
}

#[test]
fn e2e_chunks_never_dedup_across_files() {
    let chunk = b"identical chunk".to_vec();
    let seal_in_new_file = || {
        let key = FileKey::generate();
        seal_chunk(
            &chunk,
            SealKey::EndToEnd {
                file_key: &key,
                index: 0,
                last: true,
            },
            ErasureParams::default(),
        )
        .unwrap()
        .chunk_id
    };
    assert_ne!(seal_in_new_file(), seal_in_new_file());
}

#[test]
fn wrapped_keys_are_bound_to_kek_and_chunk_id() {
    let secret = master()
        .convergence_secret(ConvergenceScope::Global)
        .unwrap();
    let sealed = seal_chunk(b"data", SealKey::Managed(&secret), ErasureParams::default()).unwrap();
    let kek = master().key_encryption_key();
    let wrapped = kek.wrap_chunk_key(&sealed.chunk_id, &sealed.key);
    let back = kek.unwrap_chunk_key(&sealed.chunk_id, &wrapped).unwrap();
    assert_eq!(back.expose_bytes(), sealed.key.expose_bytes());

    let other_id = shardgate_core::ContentId::of(b"another chunk");
    assert!(matches!(
        kek.unwrap_chunk_key(&other_id, &wrapped),
        Err(CoreError::DecryptFailed)
    ));
    let other_kek = MasterKey::from_bytes([1; 32]).key_encryption_key();
    assert!(matches!(
        other_kek.unwrap_chunk_key(&sealed.chunk_id, &wrapped),
        Err(CoreError::DecryptFailed)
    ));
    for i in 1..wrapped.as_bytes().len() {
        let mut bytes = *wrapped.as_bytes();
        bytes[i] ^= 0x01;
        let tampered = WrappedChunkKey::from_slice(&bytes).unwrap();
        assert!(
            kek.unwrap_chunk_key(&sealed.chunk_id, &tampered).is_err(),
            "byte {i}"
        );
    }
    let mut bytes = *wrapped.as_bytes();
    bytes[0] = 2;
    assert!(matches!(
        WrappedChunkKey::from_slice(&bytes),
        Err(CoreError::UnsupportedVersion { version: 2, .. })
    ));
    assert!(matches!(
        WrappedChunkKey::from_slice(&bytes[..10]),
        Err(CoreError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        WrappedChunkKey::from_slice(&wrapped.as_bytes()[..10]),
        Err(CoreError::Truncated { .. })
    ));
}

#[test]
fn debug_never_prints_key_material() {
    let master = MasterKey::from_bytes([0x5a; 32]);
    let secret = master.convergence_secret(ConvergenceScope::Global).unwrap();
    let sealed = seal_chunk(b"data", SealKey::Managed(&secret), ErasureParams::default()).unwrap();
    let file_key = FileKey::from_bytes([0x5a; 32]);
    let dumps = [
        format!("{master:?}"),
        format!("{secret:?}"),
        format!("{:?}", master.key_encryption_key()),
        format!("{file_key:?}"),
        format!("{sealed:?}"),
    ];
    let sealed_dump = format!("{sealed:?}");
    assert!(
        sealed_dump.len() < 300,
        "shards must not be dumped: {sealed_dump}"
    );
    for dump in dumps {
        assert!(dump.contains("REDACTED"), "{dump}");
        assert!(!dump.contains("5a5a"), "{dump}");
        assert!(
            !dump.contains(&hex::encode(sealed.key.expose_bytes())[..16]),
            "{dump}"
        );
    }
    // Errors carry no key bytes either.
    let err = MasterKey::from_slice(&[0x5a; 31]).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("5a"));
}

#[test]
fn client_sealed_e2e_chunks_code_like_seal_chunk() {
    use shardgate_core::aead::{e2e_aad, seal};
    use shardgate_core::{E2eReader, encode_sealed_chunk};
    // The SDK seals; the broker only names and codes the ciphertext.
    let file_key = FileKey::generate();
    let params = ErasureParams::new(3, 2).unwrap();
    let pieces: [&[u8]; 2] = [b"first chunk of the file", b"last"];
    let mut reader = E2eReader::new(&file_key, 2);
    for (i, piece) in pieces.iter().enumerate() {
        let last = i == 1;
        let sealed = seal(
            &file_key.chunk_key(i as u64, last),
            &e2e_aad(i as u64, last),
            piece,
        )
        .unwrap();
        let encoded = encode_sealed_chunk(&sealed, params).unwrap();
        let direct = seal_chunk(
            piece,
            SealKey::EndToEnd {
                file_key: &file_key,
                index: i as u64,
                last,
            },
            params,
        )
        .unwrap();
        assert_eq!(encoded.shards, direct.shards);
        assert_eq!(encoded.manifest_entry(), direct.manifest_entry());
        let slots: Vec<Option<&[u8]>> = encoded.shards.iter().map(|s| Some(s.as_slice())).collect();
        let opened = reader
            .open_next(&slots, &encoded.manifest_entry(), params)
            .unwrap();
        assert_eq!(opened.plaintext, *piece);
    }
    reader.finish().unwrap();
    // Too short to hold a tag and one byte: refused, not coded.
    let err = encode_sealed_chunk(&[0u8; 16], params).unwrap_err();
    assert_eq!(err.kind(), CoreErrorKind::InvalidArgument);
}
