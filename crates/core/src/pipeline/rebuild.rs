//! Rebuilding a sealed chunk (ciphertext ‖ tag) from its shards and
//! checking it against its chunk id: the step every read shares (MANAGED
//! then decrypts, END_TO_END serves it as it is) and repair too (it codes
//! the chunk again). Needs no key: it works on ciphertext only.

use crate::buffer::ShardBuf;
use crate::erasure::ErasureParams;
use crate::error::CoreError;
use crate::id::ContentId;
use crate::pipeline::seal::encode_sealed_chunk;
use crate::shard::{SHARD_HEADER_LEN, ShardHeader, decode_shard_object};

/// A sealed chunk rebuilt from shard objects and checked against its id.
/// `Debug` shows lengths only.
pub struct RebuiltChunk {
    /// Ciphertext ‖ tag; BLAKE3 of it is the chunk id.
    pub sealed: Vec<u8>,
    /// Slots whose object was examined and rejected (bad header, hash
    /// mismatch, or a header that disagrees with the chunk). Shards after
    /// the first `k` good ones are not examined, so this is not a full scrub.
    pub rejected: Vec<usize>,
}

impl std::fmt::Debug for RebuiltChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebuiltChunk")
            .field("sealed_len", &self.sealed.len())
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// Rebuilds chunk `chunk_id` (`sealed_len` bytes sealed) from its `k + m`
/// shard slots (index order, `None` = missing). Each present object is
/// verified on its own (header, body hash) and against the chunk (id, slot
/// index, `k`/`m`, sealed length); failures count as missing. Verification
/// stops at `k` good shards (index order puts data shards first: when they
/// all verify, parity is neither hashed nor decoded).
pub fn rebuild_sealed_chunk(
    shards: &[Option<&[u8]>],
    chunk_id: &ContentId,
    sealed_len: usize,
    params: ErasureParams,
) -> Result<RebuiltChunk, CoreError> {
    if shards.len() != params.total() {
        return Err(CoreError::invalid(
            "shard list",
            format!("need {} slots (k+m), got {}", params.total(), shards.len()),
        ));
    }
    let mut bodies: Vec<Option<&[u8]>> = vec![None; shards.len()];
    let mut rejected = Vec::new();
    let mut good = 0;
    for (index, object) in shards.iter().enumerate() {
        if good == params.k() {
            break;
        }
        let Some(object) = object else { continue };
        match decode_shard_object(object) {
            Ok((header, body)) if fits(&header, chunk_id, index, params, sealed_len) => {
                bodies[index] = Some(body);
                good += 1;
            }
            _ => rejected.push(index),
        }
    }
    let sealed = rebuild_sealed_from_bodies(&bodies, chunk_id, sealed_len, params)?;
    Ok(RebuiltChunk { sealed, rejected })
}

/// Like [`rebuild_sealed_chunk`] for shards already split and verified
/// (`k + m` optional *bodies*): rebuilds, then checks BLAKE3(rebuilt)
/// against `chunk_id`. Skipping per-shard checks is safe for integrity —
/// the chunk id still catches any bad byte — it only loses *which* shard
/// was bad.
pub fn rebuild_sealed_from_bodies(
    bodies: &[Option<&[u8]>],
    chunk_id: &ContentId,
    sealed_len: usize,
    params: ErasureParams,
) -> Result<Vec<u8>, CoreError> {
    rebuild_sealed_from_bodies_in(bodies, chunk_id, sealed_len, params)
}

/// [`rebuild_sealed_from_bodies`] into a buffer of the caller's type.
pub fn rebuild_sealed_from_bodies_in<B: ShardBuf>(
    bodies: &[Option<&[u8]>],
    chunk_id: &ContentId,
    sealed_len: usize,
    params: ErasureParams,
) -> Result<B, CoreError> {
    let sealed: B = params.rebuild_in(bodies, sealed_len)?;
    check_chunk_id(sealed, chunk_id)
}

/// `sealed`, if BLAKE3 of it is `chunk_id`.
fn check_chunk_id<B: ShardBuf>(sealed: B, chunk_id: &ContentId) -> Result<B, CoreError> {
    let actual = ContentId::of(sealed.as_ref());
    if actual != *chunk_id {
        return Err(CoreError::ChunkIdMismatch {
            expected: chunk_id.to_hex(),
            actual: actual.to_hex(),
        });
    }
    Ok(sealed)
}

/// The sealed chunk held by `data`: its `k` data-shard bodies read one
/// after the other into one buffer (`k × shard_len` bytes), as a reader
/// that can place them does (`fs` providers). No rebuild, so no copy: the
/// buffer is cut to `sealed_len` (the last shard's padding) and checked
/// against `chunk_id`, exactly as a rebuilt chunk is.
pub fn sealed_from_data_bodies_in<B: ShardBuf>(
    mut data: B,
    chunk_id: &ContentId,
    sealed_len: usize,
    params: ErasureParams,
) -> Result<B, CoreError> {
    let want = params.k() * params.shard_len(sealed_len);
    if data.as_ref().len() != want {
        return Err(CoreError::invalid(
            "data shard bodies",
            format!(
                "{} bytes, expected k × shard length = {want}",
                data.as_ref().len()
            ),
        ));
    }
    data.truncate(sealed_len);
    check_chunk_id(data, chunk_id)
}

/// Repair: shard objects `wanted` (by index) of chunk `chunk_id`, made
/// again from `intact` (index, object) pairs whose objects were verified
/// when read (so each body is everything after the header). The first `k`
/// are used (data shards first: cheapest decode); the rebuilt chunk must
/// match its id — every body hash matched its header, so a mismatch means
/// a header lied about its chunk, and nothing is spread.
pub fn recreate_shards<O: AsRef<[u8]>>(
    intact: &[(u8, O)],
    chunk_id: &ContentId,
    sealed_len: usize,
    params: ErasureParams,
    wanted: &[u8],
) -> Result<Vec<(u8, Vec<u8>)>, CoreError> {
    let mut bodies: Vec<Option<&[u8]>> = vec![None; params.total()];
    for (index, object) in intact.iter().take(params.k()) {
        let slot = bodies.get_mut(usize::from(*index)).ok_or_else(|| {
            CoreError::invalid("intact shards", format!("index {index} outside k+m"))
        })?;
        *slot = object.as_ref().get(SHARD_HEADER_LEN..);
    }
    let sealed = rebuild_sealed_from_bodies(&bodies, chunk_id, sealed_len, params)?;
    let encoded = encode_sealed_chunk(&sealed, params)?;
    let mut shards: Vec<Option<Vec<u8>>> = encoded.shards.into_iter().map(Some).collect();
    wanted
        .iter()
        .map(|&index| {
            shards
                .get_mut(usize::from(index))
                .and_then(Option::take)
                .map(|object| (index, object))
                .ok_or_else(|| {
                    CoreError::invalid(
                        "wanted shards",
                        format!("shard {index} wanted twice or outside k+m"),
                    )
                })
        })
        .collect()
}

/// A verified shard belongs in `index` of this chunk, coded this way.
fn fits(
    header: &ShardHeader,
    chunk_id: &ContentId,
    index: usize,
    params: ErasureParams,
    sealed_len: usize,
) -> bool {
    header.chunk_id == *chunk_id
        && usize::from(header.index) == index
        && usize::from(header.k) == params.k()
        && usize::from(header.m) == params.m()
        && header.chunk_len as usize == sealed_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead::TAG_LEN;
    use crate::chunker::MIN_CHUNK_SIZE;

    fn sealed_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// Sealed lengths: the shortest chunk (one byte and the tag), odd and
    /// even lengths around the shard rounding, and a full small chunk with
    /// its neighbours.
    fn interesting_lens() -> [usize; 7] {
        [
            1 + TAG_LEN,
            2 + TAG_LEN,
            33,
            MIN_CHUNK_SIZE - 1 + TAG_LEN,
            MIN_CHUNK_SIZE + TAG_LEN,
            MIN_CHUNK_SIZE + 1 + TAG_LEN,
            1000,
        ]
    }

    #[test]
    fn any_k_shards_rebuild_the_sealed_chunk() {
        let params = ErasureParams::new(2, 2).unwrap();
        for len in interesting_lens() {
            let sealed = sealed_of(len);
            let encoded = encode_sealed_chunk(&sealed, params).unwrap();
            let objects: Vec<&[u8]> = encoded.shards.iter().map(Vec::as_slice).collect();
            for lost in [[0, 1], [2, 3], [0, 3], [1, 2]] {
                let slots: Vec<Option<&[u8]>> = (0..4)
                    .map(|i| (!lost.contains(&i)).then_some(objects[i]))
                    .collect();
                let rebuilt =
                    rebuild_sealed_chunk(&slots, &encoded.chunk_id, len, params).expect("rebuild");
                assert_eq!(rebuilt.sealed, sealed, "len {len} lost {lost:?}");
                assert!(rebuilt.rejected.is_empty());
            }
        }
    }

    /// The data-shard bodies side by side, as an `fs` reader places them.
    fn data_bodies(
        encoded: &crate::pipeline::seal::EncodedChunk,
        params: ErasureParams,
    ) -> Vec<u8> {
        encoded.shards[..params.k()]
            .iter()
            .flat_map(|object| object[SHARD_HEADER_LEN..].iter().copied())
            .collect()
    }

    #[test]
    fn data_bodies_side_by_side_are_the_sealed_chunk_without_a_rebuild() {
        for params in [
            ErasureParams::new(2, 1).unwrap(),
            ErasureParams::new(3, 2).unwrap(),
        ] {
            for len in interesting_lens() {
                let sealed = sealed_of(len);
                let encoded = encode_sealed_chunk(&sealed, params).unwrap();
                let data = data_bodies(&encoded, params);
                let got: Vec<u8> =
                    sealed_from_data_bodies_in(data, &encoded.chunk_id, len, params).unwrap();
                assert_eq!(got, sealed, "len {len} k {}", params.k());
            }
        }
    }

    #[test]
    fn data_bodies_that_differ_or_do_not_fill_k_shards_are_refused() {
        let params = ErasureParams::new(2, 1).unwrap();
        let sealed = sealed_of(1000);
        let encoded = encode_sealed_chunk(&sealed, params).unwrap();
        let mut flipped = data_bodies(&encoded, params);
        flipped[700] ^= 1;
        let err = sealed_from_data_bodies_in(flipped, &encoded.chunk_id, 1000, params).unwrap_err();
        assert!(matches!(err, CoreError::ChunkIdMismatch { .. }), "{err}");
        // One shard's bodies short: a layout error, not a hash of the wrong bytes.
        let mut short = data_bodies(&encoded, params);
        short.truncate(500);
        let err = sealed_from_data_bodies_in(short, &encoded.chunk_id, 1000, params).unwrap_err();
        assert!(err.to_string().contains("k × shard length"), "{err}");
    }

    #[test]
    fn shards_of_another_chunk_or_length_are_rejected_not_used() {
        let params = ErasureParams::new(2, 1).unwrap();
        let sealed = sealed_of(100);
        let ours = encode_sealed_chunk(&sealed, params).unwrap();
        let other = encode_sealed_chunk(&sealed_of(101), params).unwrap();
        let slots = [
            Some(other.shards[0].as_slice()),
            Some(ours.shards[1].as_slice()),
            Some(ours.shards[2].as_slice()),
        ];
        let rebuilt = rebuild_sealed_chunk(&slots, &ours.chunk_id, 100, params).unwrap();
        assert_eq!(rebuilt.sealed, sealed);
        assert_eq!(rebuilt.rejected, vec![0]);
        // Asked for the wrong length, every shard disagrees.
        let err = rebuild_sealed_chunk(
            &slots[1..].iter().copied().chain([None]).collect::<Vec<_>>(),
            &ours.chunk_id,
            99,
            params,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            CoreError::NotEnoughShards { have: 0, need: 2 }
        ));
    }

    #[test]
    fn a_body_of_another_chunk_is_caught_by_the_chunk_id() {
        let params = ErasureParams::new(2, 1).unwrap();
        let ours = encode_sealed_chunk(&sealed_of(100), params).unwrap();
        let mut forged = sealed_of(100);
        forged[0] ^= 1;
        let theirs = encode_sealed_chunk(&forged, params).unwrap();
        let bodies = [
            theirs.shards[0].get(SHARD_HEADER_LEN..),
            ours.shards[1].get(SHARD_HEADER_LEN..),
            None,
        ];
        let err = rebuild_sealed_from_bodies(&bodies, &ours.chunk_id, 100, params).unwrap_err();
        assert!(matches!(err, CoreError::ChunkIdMismatch { .. }));
        let intact = [(0u8, theirs.shards[0].clone()), (1, ours.shards[1].clone())];
        let err = recreate_shards(&intact, &ours.chunk_id, 100, params, &[2]).unwrap_err();
        assert!(matches!(err, CoreError::ChunkIdMismatch { .. }));
    }

    #[test]
    fn repair_recreates_exactly_the_lost_objects() {
        let params = ErasureParams::new(3, 2).unwrap();
        for len in interesting_lens() {
            let encoded = encode_sealed_chunk(&sealed_of(len), params).unwrap();
            // Parity and one data shard survive; two data shards are lost.
            let intact: Vec<(u8, &[u8])> = [1u8, 3, 4]
                .iter()
                .map(|&i| (i, encoded.shards[usize::from(i)].as_slice()))
                .collect();
            let made = recreate_shards(&intact, &encoded.chunk_id, len, params, &[2, 0]).unwrap();
            assert_eq!(made.len(), 2);
            for (index, object) in made {
                assert_eq!(
                    object,
                    encoded.shards[usize::from(index)],
                    "len {len} shard {index}"
                );
            }
        }
        let encoded = encode_sealed_chunk(&sealed_of(64), params).unwrap();
        let intact: Vec<(u8, &[u8])> = (0u8..3)
            .map(|i| (i, encoded.shards[usize::from(i)].as_slice()))
            .collect();
        for wanted in [&[3u8, 3][..], &[5][..]] {
            let err = recreate_shards(&intact, &encoded.chunk_id, 64, params, wanted).unwrap_err();
            assert!(
                matches!(err, CoreError::InvalidArgument { .. }),
                "{wanted:?}"
            );
        }
        let outside = [(7u8, encoded.shards[0].as_slice())];
        let err = recreate_shards(&outside, &encoded.chunk_id, 64, params, &[0]).unwrap_err();
        assert!(matches!(err, CoreError::InvalidArgument { .. }));
    }
}
