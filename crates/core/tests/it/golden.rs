//! Golden vectors: fixed inputs → fixed bytes. Any change to the key
//! schedule, the AEAD framing, the shard layout or the manifest encoding
//! breaks one of these. Every value here, the Reed–Solomon parity included,
//! was recomputed independently by `tests/reference/golden.py` (Python
//! `cryptography` + `blake3` + a from-scratch GF(2^8) Vandermonde code).

use shardgate_core::aead::{MANAGED_AAD, e2e_aad, open, seal};
use shardgate_core::{
    ConvergenceScope, ErasureParams, FileKey, KeyMode, Manifest, ManifestChunk, MasterKey, SealKey,
    WrappedChunkKey, decode_shard_object, seal_chunk,
};

/// Hex with `# comments` and whitespace stripped, so expected bytes can be
/// laid out field by field.
fn unhex(annotated: &str) -> Vec<u8> {
    let digits: String = annotated
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(digits).expect("test hex")
}

const PLAINTEXT: &[u8] = b"hello shardgate";

fn master() -> MasterKey {
    MasterKey::from_bytes([0x42; 32])
}

#[test]
fn key_schedule_golden() {
    let master = master();
    let tenant = master
        .convergence_secret(ConvergenceScope::Tenant("tenant-a"))
        .unwrap();
    assert_eq!(
        hex::encode(tenant.expose_bytes()),
        "3ff41242ff0024fd5e2bcf47da2517a4916d232e34dfd94d34914c176d878357"
    );
    let global = master.convergence_secret(ConvergenceScope::Global).unwrap();
    assert_eq!(
        hex::encode(global.expose_bytes()),
        "ae7867ad3adecd1ba821fa65a54f28b514ede24849005bf4806cc43626f061a6"
    );
    assert_eq!(
        hex::encode(master.key_encryption_key().expose_bytes()),
        "db98c407ec42295027cea76c710be1e6d2726171cce213f9f94e93f8ae592dd7"
    );
    let chunk_key = tenant.chunk_key(blake3::hash(PLAINTEXT).as_bytes());
    assert_eq!(
        chunk_key.expose_bytes().to_vec(),
        unhex(
            "
            89d5e6aff77b39a1dfd31b324a74a21dbf83aeb41569c7520ffbac5c4310f026 # AES-256 key
            489b8867a3f767deb88c1c0c                                         # 96-bit nonce
            "
        )
    );
    let e2e = FileKey::from_bytes(std::array::from_fn(|i| i as u8)).chunk_key(0, true);
    assert_eq!(
        e2e.expose_bytes().to_vec(),
        unhex(
            "
            7f94759286187369041189a15b0bdca887df4c6b170b0bfffcbaa5ec18c12051 # key, index 0, last
            9780397734eea3de114f2911                                         # nonce
            "
        )
    );
}

#[test]
fn ciphertext_golden() {
    let tenant = master()
        .convergence_secret(ConvergenceScope::Tenant("tenant-a"))
        .unwrap();
    let key = tenant.chunk_key(blake3::hash(PLAINTEXT).as_bytes());
    let sealed = seal(&key, MANAGED_AAD, PLAINTEXT).unwrap();
    assert_eq!(
        sealed,
        unhex(
            "
            e5453386a19180ed2def35ad2ca352          # ciphertext (15 bytes, = plaintext length)
            1fb05c7d4c2c3f0c68bf9c0e6762c983        # GCM tag (16 bytes)
            "
        )
    );
    assert_eq!(open(&key, MANAGED_AAD, &sealed).unwrap(), PLAINTEXT);

    let file_key = FileKey::from_bytes(std::array::from_fn(|i| i as u8));
    let sealed = seal(&file_key.chunk_key(0, true), &e2e_aad(0, true), PLAINTEXT).unwrap();
    assert_eq!(
        sealed,
        unhex(
            "
            d5674dfae84e1ebebceb4330395fa6          # ciphertext
            2231cb746e2d61aa7a64defd523932c5        # tag over AAD 'shardgate/v1/e2e' ‖ 0u64 ‖ 01
            "
        )
    );
}

#[test]
fn sealed_chunk_shards_golden() {
    let tenant = master()
        .convergence_secret(ConvergenceScope::Tenant("tenant-a"))
        .unwrap();
    let sealed = seal_chunk(
        PLAINTEXT,
        SealKey::Managed(&tenant),
        ErasureParams::default(),
    )
    .unwrap();
    assert_eq!(
        sealed.chunk_id.to_hex(),
        "155bf334301ac14c383010ceb70923a7df66a81b5e254d80a148e1afe00adc65"
    );
    assert_eq!((sealed.plaintext_len, sealed.sealed_len), (15, 31));
    let header = |index: &str, body_hash: &str, body: &str| {
        unhex(&format!(
            "
            53475348 01 02 01 {index}                                         # 'SGSH' v1 k=2 m=1 index
            155bf334301ac14c383010ceb70923a7df66a81b5e254d80a148e1afe00adc65 # chunk id
            0000001f 00000010                                                # chunk length 31, shard length 16
            {body_hash}                                                      # BLAKE3(body)
            {body}                                                           # body
            "
        ))
    };
    assert_eq!(
        sealed.shards[0],
        header(
            "00",
            "ee4ec1cc4be44f88b78c379625513cdca111da0671338f1e45d53a1e44293bfc",
            "e5453386a19180ed2def35ad2ca3521f", // sealed[0..16]
        )
    );
    assert_eq!(
        sealed.shards[1],
        header(
            "01",
            "d973330d6ae772ae6dc7fc6fd8d9c66f8a497c7f422064c6de3c7961f33eb478",
            "b05c7d4c2c3f0c68bf9c0e6762c983 00", // sealed[16..31] ‖ one zero pad byte
        )
    );
    // Parity over GF(2^8) (polynomial 0x11d), systematic Vandermonde code:
    // for k=2, m=1 the parity row is [3, 2], i.e. 3·d0 ⊕ 2·d1 per byte.
    assert_eq!(
        sealed.shards[2],
        header(
            "02",
            "1a985e2d5db3ff9ca464b7de0a741cea90cce3895f77fd4a8c1b8ffbe38fbe0f",
            "4f77af0fa6d085fa14094324b077ed21",
        )
    );
    assert_eq!(decode_shard_object(&sealed.shards[2]).unwrap().0.index, 2);

    let kek = master().key_encryption_key();
    let wrapped = kek.wrap_chunk_key(&sealed.chunk_id, &sealed.key);
    assert_eq!(
        wrapped.as_bytes().to_vec(),
        unhex(
            "
            01                                                               # wrapped-key version
            1d9ac41147cd1f05027b34ea                                         # synthetic nonce
            aef99d32640046c0fe48c854987eb1963175e9bac2fb7f13893dacd996d451c6 # encrypted key (32)
            568f2eb41bf7e2512c1ceb40                                         # encrypted nonce (12)
            13cabf25911b009a6466c569cbfb8d42                                 # tag
            "
        )
    );
    let back = kek
        .unwrap_chunk_key(
            &sealed.chunk_id,
            &WrappedChunkKey::from_slice(wrapped.as_bytes()).unwrap(),
        )
        .unwrap();
    assert_eq!(back.expose_bytes(), sealed.key.expose_bytes());
}

#[test]
fn manifest_golden() {
    let chunk = ManifestChunk {
        id: "155bf334301ac14c383010ceb70923a7df66a81b5e254d80a148e1afe00adc65"
            .parse()
            .unwrap(),
        len: 15,
    };
    let manifest = Manifest::new(
        KeyMode::Managed,
        256 * 1024,
        15,
        ErasureParams::default(),
        vec![chunk],
    )
    .unwrap();
    let expected = unhex(
        "
        53474d46                                                         # magic 'SGMF'
        01                                                               # format version 1
        00                                                               # key mode: managed
        02 01                                                            # k = 2, m = 1
        00040000                                                         # chunk size 256 KiB
        000000000000000f                                                 # total length 15
        00000001                                                         # 1 chunk
        155bf334301ac14c383010ceb70923a7df66a81b5e254d80a148e1afe00adc65 # chunk 0 id
        0000000f                                                         # chunk 0 length 15
        ",
    );
    assert_eq!(manifest.encode(), expected);
    assert_eq!(Manifest::decode(&expected).unwrap(), manifest);
    assert_eq!(
        manifest.blob_id().to_hex(),
        "b294ea4804f71ca4eafdceeff3c44cc4de9168b7186d6021740e22c3fcd718e8"
    );

    // A 0-byte blob: no chunks, still a manifest with a stable id.
    let empty = Manifest::new(
        KeyMode::Managed,
        4 * 1024 * 1024,
        0,
        ErasureParams::default(),
        vec![],
    )
    .unwrap();
    let expected = unhex(
        "
        53474d46 01 00 02 01   # magic, v1, managed, k=2, m=1
        00400000               # chunk size 4 MiB
        0000000000000000       # total length 0
        00000000               # 0 chunks
        ",
    );
    assert_eq!(empty.encode(), expected);
    assert_eq!(Manifest::decode(&expected).unwrap(), empty);
    assert_eq!(
        empty.blob_id().to_hex(),
        "54f17f899161309825195e1d3c5cb6f6805efa6667c453d51f6fd3fb3e952624"
    );
}
