//! Writing the shards of one chunk: [`ProviderRegistry::write_chunk`]
//! (parallel writes, spares in the chunk's rendezvous ranking, provider
//! health) does the I/O; this file turns where the shards landed into index
//! locations and a failure into what the uploader is told.

use bytes::Bytes;
use shardgate_backends::{BackendError, BackendErrorKind, ProviderRegistry};
use shardgate_core::ContentId;
use shardgate_index::ShardLocation;

use crate::error::BrokerError;

/// Writes `objects[i]` to `providers[i]` (falling back to spares) and
/// returns where each shard ended up, in index order.
pub(super) async fn write_shards(
    registry: &ProviderRegistry,
    chunk_id: &ContentId,
    providers: &[String],
    objects: &[Bytes],
) -> Result<Vec<ShardLocation>, BrokerError> {
    let landed = registry
        .write_chunk(chunk_id, providers, objects)
        .await
        .map_err(write_failed)?;
    Ok(landed
        .into_iter()
        .map(|p| ShardLocation {
            index: p.index,
            provider: p.provider,
        })
        .collect())
}

/// No spare left: the upload fails as UNAVAILABLE (retry later), except for
/// a conflicting shard, which retrying cannot fix.
fn write_failed(e: BackendError) -> BrokerError {
    if *e.kind() == BackendErrorKind::Conflict {
        return e.into();
    }
    BrokerError::Unavailable(format!(
        "shard writes failed and no spare provider was left: {e}; nothing was committed, retry the upload"
    ))
}
