//! Writing the shards of one chunk: all in parallel to their placement; a
//! shard whose provider fails goes to the next provider in the chunk's
//! rendezvous ranking that holds none of its shards, so one failing
//! provider does not fail the upload while a spare exists.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use futures::future::join_all;
use shardgate_backends::placement::rank;
use shardgate_backends::{BackendError, BackendErrorKind, ProviderRegistry};
use shardgate_core::ContentId;
use shardgate_index::ShardLocation;

use crate::error::BrokerError;

/// Writes `objects[i]` to `providers[i]` (falling back to spares) and
/// returns where each shard ended up, in index order.
pub async fn write_shards(
    registry: &ProviderRegistry,
    chunk_id: &ContentId,
    providers: &[String],
    objects: &[Bytes],
) -> Result<Vec<ShardLocation>, BrokerError> {
    let writes = providers
        .iter()
        .zip(objects)
        .map(|(provider, object)| put_one(registry, provider, object.clone()));
    let mut locations = Vec::with_capacity(objects.len());
    let mut failed = Vec::new();
    let mut last_error = None;
    for (i, result) in join_all(writes).await.into_iter().enumerate() {
        match result {
            Ok(()) => locations.push(location(i, &providers[i])),
            Err(e) => {
                tracing::warn!(chunk = %chunk_id.short(), error = %e, "shard write failed; trying a spare provider");
                failed.push(i);
                last_error = Some(e);
            }
        }
    }
    if !failed.is_empty() {
        let used: BTreeSet<&String> = providers.iter().collect();
        let writable = registry.writable();
        let mut spares: VecDeque<String> = rank(chunk_id, &writable)
            .into_iter()
            .map(|c| c.provider.clone())
            .filter(|p| !used.contains(p))
            .collect();
        for i in failed {
            loop {
                let Some(spare) = spares.pop_front() else {
                    return Err(write_failed(last_error));
                };
                match put_one(registry, &spare, objects[i].clone()).await {
                    Ok(()) => {
                        locations.push(location(i, &spare));
                        break;
                    }
                    Err(e) => last_error = Some(e),
                }
            }
        }
        locations.sort_by_key(|l| l.index);
    }
    Ok(locations)
}

async fn put_one(
    registry: &ProviderRegistry,
    provider: &str,
    object: Bytes,
) -> Result<(), BackendError> {
    let store = registry.store(provider)?;
    // `fs` providers do their blocking file I/O on the blocking pool
    // themselves (shardgate-backends `local_disk.rs`).
    let result = store.put_shard(object).await;
    registry.observe(provider, &result);
    result.map(|_| ())
}

fn location(index: usize, provider: &str) -> ShardLocation {
    ShardLocation {
        // index < k + m <= 48
        index: index as u8,
        provider: provider.to_owned(),
    }
}

/// No spare left: the upload fails as UNAVAILABLE (retry later), except for
/// a conflicting shard, which retrying cannot fix.
fn write_failed(error: Option<BackendError>) -> BrokerError {
    match error {
        Some(e) if *e.kind() == BackendErrorKind::Conflict => e.into(),
        Some(e) => BrokerError::Unavailable(format!(
            "shard writes failed and no spare provider was left: {e}; nothing was committed, retry the upload"
        )),
        None => BrokerError::Internal("shard write failed without an error".to_owned()),
    }
}
