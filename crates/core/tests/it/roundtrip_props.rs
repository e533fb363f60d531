//! Property tests of the whole data path at the smallest chunk size:
//! chunk → seal → encode → drop any m shards → rebuild → open == original.

use proptest::prelude::*;
use proptest::sample::subsequence;
use shardgate_core::{
    ConvergenceScope, CoreError, E2eReader, ErasureParams, FileKey, FrameChunker, KeyMode,
    MIN_CHUNK_SIZE, Manifest, MasterKey, OpenKey, SealKey, open_chunk, seal_chunk,
};

const C: usize = MIN_CHUNK_SIZE;

/// Interesting blob sizes at chunk size C, each tied to the path it hits:
/// 0 = no chunks; 1 = one tiny chunk (shard padding dominates); C-1/C/C+1 =
/// short last chunk, exact fit, one-byte second chunk; 3C+17 = several.
fn blob_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(C - 1),
        Just(C),
        Just(C + 1),
        Just(3 * C + 17),
        0..3 * C,
    ]
}

fn params() -> impl Strategy<Value = ErasureParams> {
    (1usize..=32, 1usize..=16).prop_map(|(k, m)| ErasureParams::new(k, m).unwrap())
}

/// Deterministic non-repeating content so chunks differ from each other.
fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Which `m` shard slots to drop, chosen from `0..k+m`.
fn drop_set(params: ErasureParams, pick: &[usize]) -> Vec<usize> {
    let mut slots: Vec<usize> = (0..params.total()).collect();
    // Rotate by the picks to get a varied but valid set of m distinct slots.
    for (i, p) in pick.iter().enumerate().take(slots.len()) {
        let j = i + p % (slots.len() - i);
        slots.swap(i, j);
    }
    slots.truncate(params.m());
    slots
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn managed_round_trip_with_m_shards_lost(
        len in blob_len(),
        params in params(),
        seed: u8,
        pick in proptest::collection::vec(any::<usize>(), 16),
        frame in 1usize..100_000,
    ) {
        let data = blob(len, seed);
        let secret = MasterKey::from_bytes([7; 32])
            .convergence_secret(ConvergenceScope::Tenant("t")).unwrap();
        let kek = MasterKey::from_bytes([7; 32]).key_encryption_key();

        // Upload side: frames of arbitrary size through the push chunker.
        let mut chunker = FrameChunker::new(C).unwrap();
        let mut chunks = Vec::new();
        for piece in data.chunks(frame) {
            chunks.extend(chunker.push(piece));
        }
        chunks.extend(chunker.finish());
        let mut entries = Vec::new();
        let mut stored = Vec::new();
        for chunk in &chunks {
            let sealed = seal_chunk(chunk, SealKey::Managed(&secret), params).unwrap();
            prop_assert_eq!(sealed.shards.len(), params.total());
            entries.push(sealed.manifest_entry());
            stored.push((kek.wrap_chunk_key(&sealed.chunk_id, &sealed.key), sealed.shards));
        }
        let manifest = Manifest::new(KeyMode::Managed, C, len as u64, params, entries).unwrap();
        let manifest = Manifest::decode(&manifest.encode()).unwrap();

        // Download side: lose m shards of every chunk.
        let lost = drop_set(params, &pick);
        let mut out = Vec::new();
        for (entry, (wrapped, shards)) in manifest.chunks().iter().zip(&stored) {
            let slots: Vec<Option<&[u8]>> = shards.iter().enumerate()
                .map(|(i, s)| (!lost.contains(&i)).then_some(s.as_slice()))
                .collect();
            let key = kek.unwrap_chunk_key(&entry.id, wrapped).unwrap();
            let opened = open_chunk(&slots, entry, manifest.params(), OpenKey::Managed(&key)).unwrap();
            prop_assert!(opened.rejected.is_empty());
            out.extend_from_slice(&opened.plaintext);
        }
        prop_assert_eq!(out, data);
    }

    #[test]
    fn e2e_round_trip_and_order_is_enforced(
        len in blob_len(),
        params in params(),
        seed: u8,
        pick in proptest::collection::vec(any::<usize>(), 16),
    ) {
        let data = blob(len, seed);
        let file_key = FileKey::generate();
        let pieces: Vec<&[u8]> = data.chunks(C).collect();
        let n = pieces.len() as u64;
        let sealed: Vec<_> = pieces.iter().enumerate().map(|(i, p)| {
            let key = SealKey::EndToEnd { file_key: &file_key, index: i as u64, last: i as u64 + 1 == n };
            seal_chunk(p, key, params).unwrap()
        }).collect();
        let lost = drop_set(params, &pick);
        let slots = |i: usize| -> Vec<Option<&[u8]>> {
            sealed[i].shards.iter().enumerate()
                .map(|(j, s)| (!lost.contains(&j)).then_some(s.as_slice()))
                .collect()
        };

        // In order: everything opens and the reader finishes cleanly.
        let mut reader = E2eReader::new(&file_key, n);
        let mut out = Vec::new();
        for (i, s) in sealed.iter().enumerate() {
            out.extend(reader.open_next(&slots(i), &s.manifest_entry(), params).unwrap().plaintext);
        }
        reader.finish().unwrap();
        prop_assert_eq!(&out, &data);

        if n >= 2 {
            // Reordered: chunk 1 served where chunk 0 belongs.
            let mut reader = E2eReader::new(&file_key, n);
            let err = reader.open_next(&slots(1), &sealed[1].manifest_entry(), params).unwrap_err();
            prop_assert!(matches!(err, CoreError::DecryptFailed));
            // Dropped: chunk 0 missing, the stream claims n-1 chunks.
            let mut reader = E2eReader::new(&file_key, n - 1);
            let first = reader.open_next(&slots(1), &sealed[1].manifest_entry(), params);
            prop_assert!(matches!(first, Err(CoreError::DecryptFailed)));
            // Truncated: last chunk cut off and the count shortened, so
            // chunk n-2 is now opened as "last" and fails.
            let mut reader = E2eReader::new(&file_key, n - 1);
            let mut result = Ok(());
            for (i, s) in sealed.iter().enumerate().take((n - 1) as usize) {
                if let Err(e) = reader.open_next(&slots(i), &s.manifest_entry(), params) {
                    result = Err(e);
                    break;
                }
            }
            prop_assert!(matches!(result, Err(CoreError::DecryptFailed)));
        }
        if n >= 1 {
            // Truncated with the count kept: the reader notices at the end.
            let mut reader = E2eReader::new(&file_key, n);
            for (i, s) in sealed.iter().enumerate().take((n - 1) as usize) {
                reader.open_next(&slots(i), &s.manifest_entry(), params).unwrap();
            }
            let err = reader.finish().unwrap_err();
            prop_assert!(matches!(err, CoreError::StreamTruncated { .. }), "{:?}", err);
        }
    }

    #[test]
    fn any_bit_flip_in_one_shard_is_caught(
        len in 1usize..2 * C,
        params in params(),
        shard in any::<prop::sample::Index>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let data = blob(len, 3);
        let secret = MasterKey::from_bytes([1; 32]).convergence_secret(ConvergenceScope::Global).unwrap();
        let chunk = &data[..len.min(C)];
        let sealed = seal_chunk(chunk, SealKey::Managed(&secret), params).unwrap();
        let victim = shard.index(params.total());
        let mut shards = sealed.shards.clone();
        let bit = bit.index(shards[victim].len() * 8);
        shards[victim][bit / 8] ^= 1 << (bit % 8);
        let slots: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        let opened = open_chunk(&slots, &sealed.manifest_entry(), params, OpenKey::Managed(&sealed.key)).unwrap();
        // The flipped shard is rejected (when it was examined: shards after
        // the first k good ones are not) and the chunk still opens correctly.
        if victim < params.k() {
            prop_assert_eq!(opened.rejected, vec![victim]);
        } else {
            prop_assert!(opened.rejected.is_empty() || opened.rejected == vec![victim]);
        }
        prop_assert_eq!(opened.plaintext, chunk);

        // With m other shards gone the victim must be used: it is still
        // rejected, so too few remain.
        let mut slots = slots;
        let others: Vec<usize> = (0..params.total()).filter(|i| *i != victim).take(params.m()).collect();
        for i in others {
            slots[i] = None;
        }
        let err = open_chunk(&slots, &sealed.manifest_entry(), params, OpenKey::Managed(&sealed.key)).unwrap_err();
        prop_assert!(matches!(err, CoreError::NotEnoughShards { .. }), "{:?}", err);
    }

    #[test]
    fn rewritten_shard_with_valid_header_cannot_yield_wrong_plaintext(
        len in 1usize..C,
        params in params(),
        shard in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
    ) {
        // A malicious provider changes body bytes and fixes up the body hash:
        // the shard passes on its own, but the rebuilt chunk no longer hashes
        // to the chunk id (or, if that shard was not used, opens correctly).
        let data = blob(len, 9);
        let secret = MasterKey::from_bytes([1; 32]).convergence_secret(ConvergenceScope::Global).unwrap();
        let sealed = seal_chunk(&data, SealKey::Managed(&secret), params).unwrap();
        let victim = shard.index(params.total());
        let (header, body) = shardgate_core::decode_shard_object(&sealed.shards[victim]).unwrap();
        let mut body = body.to_vec();
        let at = byte.index(body.len());
        body[at] ^= 0x80;
        let forged = shardgate_core::encode_shard_object(header.chunk_id, header.index, header.k, header.m, header.chunk_len, &body);
        let mut shards = sealed.shards.clone();
        shards[victim] = forged;
        let slots: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        match open_chunk(&slots, &sealed.manifest_entry(), params, OpenKey::Managed(&sealed.key)) {
            Ok(opened) => prop_assert_eq!(&opened.plaintext, &data),
            Err(e) => prop_assert!(matches!(e, CoreError::ChunkIdMismatch { .. }), "{:?}", e),
        }
        // The bodies-only entry point gives the same guarantee.
        let bodies: Vec<Option<&[u8]>> = shards
            .iter()
            .map(|s| shardgate_core::decode_shard_object(s).ok().map(|(_, b)| b))
            .collect();
        match shardgate_core::open_chunk_from_bodies(&bodies, &sealed.manifest_entry(), params, OpenKey::Managed(&sealed.key)) {
            Ok(plaintext) => prop_assert_eq!(plaintext, data),
            Err(e) => prop_assert!(matches!(e, CoreError::ChunkIdMismatch { .. }), "{:?}", e),
        }
    }

    #[test]
    fn any_bit_flip_in_ciphertext_fails_to_open(len in 1usize..4096, bit in any::<prop::sample::Index>()) {
        use shardgate_core::aead::{MANAGED_AAD, open, seal};
        let secret = MasterKey::from_bytes([5; 32]).convergence_secret(ConvergenceScope::Global).unwrap();
        let data = blob(len, 1);
        let key = secret.chunk_key(blake3::hash(&data).as_bytes());
        let mut sealed = seal(&key, MANAGED_AAD, &data).unwrap();
        let bit = bit.index(sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(matches!(open(&key, MANAGED_AAD, &sealed), Err(CoreError::DecryptFailed)));
    }

    #[test]
    fn drop_exactly_the_subset(params in params(), subset in subsequence((0..48).collect::<Vec<usize>>(), 0..=20)) {
        // Any subset of at most m lost shards rebuilds; more than m does not.
        let data = blob(1000, 2);
        let secret = MasterKey::from_bytes([2; 32]).convergence_secret(ConvergenceScope::Global).unwrap();
        let sealed = seal_chunk(&data, SealKey::Managed(&secret), params).unwrap();
        let lost: Vec<usize> = subset.into_iter().filter(|i| *i < params.total()).collect();
        let slots: Vec<Option<&[u8]>> = sealed.shards.iter().enumerate()
            .map(|(i, s)| (!lost.contains(&i)).then_some(s.as_slice())).collect();
        let result = open_chunk(&slots, &sealed.manifest_entry(), params, OpenKey::Managed(&sealed.key));
        if lost.len() <= params.m() {
            prop_assert_eq!(result.unwrap().plaintext, data);
        } else {
            let is_not_enough = matches!(result, Err(CoreError::NotEnoughShards { .. }));
            prop_assert!(is_not_enough);
        }
    }
}
