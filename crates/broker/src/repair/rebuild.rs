//! Re-creating shard objects from `k` verified ones: rebuild the sealed
//! chunk, check it against the chunk id, erasure-code it again. Repair
//! never needs the chunk key: it works on ciphertext only.

use bytes::Bytes;
use shardgate_core::{ContentId, ErasureParams, SHARD_HEADER_LEN, encode_sealed_chunk};
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;

/// Shard objects `wanted` (by index) of `record`, rebuilt from `intact`
/// (index, verified object) pairs. CPU-bound: run it on the blocking pool.
pub fn rebuild_shards(
    record: &ChunkRecord,
    intact: &[(u8, Bytes)],
    wanted: &[u8],
) -> Result<Vec<(u8, Bytes)>, BrokerError> {
    let params = ErasureParams::new(usize::from(record.k), usize::from(record.m))?;
    let mut bodies: Vec<Option<&[u8]>> = vec![None; params.total()];
    // Objects were verified on read, so the body is everything after the
    // header. The first k are enough (data shards first: cheapest decode).
    for (index, object) in intact.iter().take(params.k()) {
        let slot = bodies
            .get_mut(usize::from(*index))
            .ok_or_else(|| BrokerError::Internal(format!("shard index {index} outside k+m")))?;
        *slot = object.get(SHARD_HEADER_LEN..);
    }
    let sealed = params.rebuild(&bodies, record.sealed_len as usize)?;
    let actual = ContentId::of(&sealed);
    if actual != record.chunk_id {
        // Every body hash matched its header, so a header lied about its
        // chunk: refuse to spread it.
        return Err(BrokerError::DataLoss(format!(
            "chunk {} rebuilt to {}; its shards are inconsistent",
            record.chunk_id.short(),
            actual.short()
        )));
    }
    let encoded = encode_sealed_chunk(&sealed, params)?;
    let mut shards: Vec<Option<Vec<u8>>> = encoded.shards.into_iter().map(Some).collect();
    wanted
        .iter()
        .map(|&index| {
            shards
                .get_mut(usize::from(index))
                .and_then(Option::take)
                .map(|object| (index, Bytes::from(object)))
                .ok_or_else(|| {
                    BrokerError::Internal(format!("shard {index} wanted twice or outside k+m"))
                })
        })
        .collect()
}
