//! Manifest decoding rules and both chunkers.

use std::io::{self, Read};

use proptest::prelude::*;
use shardgate_core::chunker::{MAX_CHUNK_SIZE, check_chunk_size};
use shardgate_core::manifest::{MANIFEST_HEADER_LEN, MAX_MANIFEST_CHUNKS};
use shardgate_core::{
    ContentId, CoreError, CoreErrorKind, ErasureParams, FrameChunker, KeyMode, MIN_CHUNK_SIZE,
    Manifest, ManifestChunk, ReadChunker,
};

const C: usize = MIN_CHUNK_SIZE;

fn manifest(total: u64) -> Manifest {
    let n = total.div_ceil(C as u64);
    let chunks = (0..n)
        .map(|i| ManifestChunk {
            id: ContentId::of(&i.to_be_bytes()),
            len: (total - i * C as u64).min(C as u64) as u32,
        })
        .collect();
    Manifest::new(
        KeyMode::EndToEnd,
        C,
        total,
        ErasureParams::new(4, 2).unwrap(),
        chunks,
    )
    .unwrap()
}

#[test]
fn manifest_round_trips_at_interesting_sizes() {
    for total in [0, 1, C as u64 - 1, C as u64, C as u64 + 1, 5 * C as u64 + 3] {
        let m = manifest(total);
        let bytes = m.encode();
        assert_eq!(bytes.len(), MANIFEST_HEADER_LEN + 36 * m.chunks().len());
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
    }
}

#[test]
fn manifest_typed_errors() {
    let good = manifest(C as u64 + 1).encode();
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        Manifest::decode(&long),
        Err(CoreError::TrailingBytes { extra: 1, .. })
    ));
    assert!(matches!(
        Manifest::decode(&good[..good.len() - 1]),
        Err(CoreError::Truncated { .. })
    ));
    assert!(matches!(
        Manifest::decode(&good[..3]),
        Err(CoreError::Truncated { .. })
    ));

    let mut v = good.clone();
    v[4] = 9;
    let err = Manifest::decode(&v).unwrap_err();
    assert!(matches!(
        err,
        CoreError::UnsupportedVersion { version: 9, .. }
    ));
    assert_eq!(err.kind(), CoreErrorKind::UnsupportedVersion);

    let mut v = good.clone();
    v[0] = b'X';
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::BadMagic { .. })
    ));

    let mut v = good.clone();
    v[5] = 7; // key mode
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::Malformed { .. })
    ));

    let mut v = good.clone();
    v[6] = 33; // k
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::ErasureParamsOutOfBounds { .. })
    ));

    // A count over the limit is refused before any allocation, whatever
    // the input length.
    let mut v = good[..MANIFEST_HEADER_LEN].to_vec();
    v[20..24].copy_from_slice(&(MAX_MANIFEST_CHUNKS + 1).to_be_bytes());
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::LimitExceeded { .. })
    ));
    v[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::LimitExceeded { .. })
    ));

    // Non-canonical: chunk size out of bounds, lengths that disagree with the total.
    let mut v = good.clone();
    v[8..12].copy_from_slice(&(C as u32 - 1).to_be_bytes());
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::Malformed { .. })
    ));
    let mut v = good.clone();
    v[8..12].copy_from_slice(&(MAX_CHUNK_SIZE as u32 + 1).to_be_bytes());
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::LimitExceeded { .. })
    ));
    let mut v = good.clone();
    v[19] += 1; // total length one more, same chunk list
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::Malformed { .. })
    ));
    let mut v = good.clone();
    let last_len = v.len() - 1;
    v[last_len] = 2; // last chunk length 2 instead of 1
    assert!(matches!(
        Manifest::decode(&v),
        Err(CoreError::Malformed { .. })
    ));
}

#[test]
fn chunk_size_bounds() {
    assert!(check_chunk_size(C).is_ok());
    assert!(check_chunk_size(MAX_CHUNK_SIZE).is_ok());
    for bad in [0, C - 1, MAX_CHUNK_SIZE + 1] {
        assert_eq!(
            check_chunk_size(bad).unwrap_err().kind(),
            CoreErrorKind::InvalidArgument
        );
        assert!(FrameChunker::new(bad).is_err());
        assert!(ReadChunker::new(io::empty(), bad).is_err());
    }
}

/// A reader that returns at most `step` bytes per call and an
/// `Interrupted` error every other call, like a flaky socket.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "again"));
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn zero_byte_blob_has_zero_chunks() {
    assert_eq!(ReadChunker::new(io::empty(), C).unwrap().count(), 0);
    let mut chunker = FrameChunker::new(C).unwrap();
    assert!(chunker.push(&[]).is_empty());
    assert_eq!(chunker.finish(), None);
}

#[test]
fn reader_errors_surface_once() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let mut chunks = ReadChunker::new(Broken, C).unwrap();
    let err = chunks.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), CoreErrorKind::Io);
    assert!(chunks.next().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn both_chunkers_agree(
        len in prop_oneof![Just(0usize), Just(1), Just(C - 1), Just(C), Just(C + 1), 0..4 * C],
        step in 1usize..70_000,
        frames in proptest::collection::vec(1usize..600_000, 1..8),
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let pulled: Vec<Vec<u8>> = ReadChunker::new(Trickle { data: &data, step, calls: 0 }, C)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut pusher = FrameChunker::new(C).unwrap();
        let mut pushed = Vec::new();
        let mut rest = &data[..];
        let mut f = frames.iter().cycle();
        while !rest.is_empty() {
            let n = (*f.next().unwrap()).min(rest.len());
            pushed.extend(pusher.push(&rest[..n]));
            rest = &rest[n..];
        }
        prop_assert_eq!(pusher.total_len(), len as u64);
        pushed.extend(pusher.finish());
        prop_assert_eq!(&pulled, &pushed);
        prop_assert_eq!(pulled.len() as u64, (len as u64).div_ceil(C as u64));
        for (i, chunk) in pulled.iter().enumerate() {
            let last = i + 1 == pulled.len();
            let ok = if last {
                !chunk.is_empty() && chunk.len() <= C
            } else {
                chunk.len() == C
            };
            prop_assert!(ok, "chunk {} has {} bytes", i, chunk.len());
        }
        prop_assert_eq!(pulled.concat(), data);
    }

    #[test]
    fn manifest_decode_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Manifest::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }

    #[test]
    fn manifest_decode_of_mutated_valid_bytes(at in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut bytes = manifest(2 * C as u64 + 5).encode();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        // Either rejected, or (e.g. a changed chunk id) a different manifest
        // that still encodes to exactly these bytes.
        if let Ok(m) = Manifest::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }
}
