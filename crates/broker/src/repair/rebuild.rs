//! Re-creating shard objects from `k` verified ones (`recreate_shards` in
//! core: rebuild the sealed chunk, check it against the chunk id, code it
//! again). Repair never needs the chunk key: it works on ciphertext only.

use bytes::Bytes;
use shardgate_core::{ErasureParams, recreate_shards};
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;

/// Shard objects `wanted` (by index) of `record`, made again from `intact`
/// (index, verified object) pairs. CPU-bound: run it on the blocking pool.
pub(super) fn rebuild_shards(
    record: &ChunkRecord,
    intact: &[(u8, Bytes)],
    wanted: &[u8],
) -> Result<Vec<(u8, Bytes)>, BrokerError> {
    let params = ErasureParams::new(usize::from(record.k), usize::from(record.m))?;
    let sealed_len = record.sealed_len as usize;
    let objects = recreate_shards(intact, &record.chunk_id, sealed_len, params, wanted)?;
    Ok(objects
        .into_iter()
        .map(|(index, object)| (index, Bytes::from(object)))
        .collect())
}
