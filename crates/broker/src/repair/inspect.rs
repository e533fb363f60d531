//! Scrub of one chunk: every shard the index lists is read and verified
//! (header, body hash, and that the header matches the chunk record).

use bytes::Bytes;
use futures::future::join_all;
use shardgate_backends::{BackendError, BackendErrorKind, ProviderRegistry};
use shardgate_index::ChunkRecord;

use crate::repair::view::{ProviderView, Standing};

/// What one listed shard turned out to be.
#[derive(Debug, Clone)]
pub(super) enum ShardState {
    /// Read and verified: the whole object (header ‖ body).
    Intact(Bytes),
    /// The provider answered that the object does not exist.
    Missing,
    /// The object is not a valid shard for this chunk record.
    Corrupt,
    /// Its provider left, or has been DOWN past the grace period.
    Lost,
    /// Could not be read now (provider DOWN within the grace period, or a
    /// temporary error): left alone this pass.
    Unknown,
}

impl ShardState {
    pub(super) fn is_intact(&self) -> bool {
        matches!(self, Self::Intact(_))
    }

    /// Missing, corrupt or lost: must be re-created.
    pub(super) fn is_bad(&self) -> bool {
        matches!(self, Self::Missing | Self::Corrupt | Self::Lost)
    }
}

/// One listed shard and its state.
#[derive(Debug, Clone)]
pub(super) struct InspectedShard {
    pub index: u8,
    pub provider: String,
    pub state: ShardState,
}

/// Reads every shard of `record` that can be read now, in parallel.
pub(super) async fn inspect(
    registry: &ProviderRegistry,
    view: &ProviderView,
    record: &ChunkRecord,
) -> Vec<InspectedShard> {
    let reads = record.shards.iter().map(|loc| async move {
        let state = match view.standing(&loc.provider) {
            Standing::Gone => ShardState::Lost,
            Standing::Down => ShardState::Unknown,
            Standing::Healthy | Standing::Draining => {
                read_one(registry, record, &loc.provider, loc.index).await
            }
        };
        InspectedShard {
            index: loc.index,
            provider: loc.provider.clone(),
            state,
        }
    });
    join_all(reads).await
}

async fn read_one(
    registry: &ProviderRegistry,
    record: &ChunkRecord,
    provider: &str,
    index: u8,
) -> ShardState {
    match registry.get_shard(provider, &record.chunk_id, index).await {
        Ok(shard) => {
            let h = &shard.header;
            // A valid shard of the same chunk coded with other parameters
            // cannot be combined with this record's other shards.
            if h.k == record.k && h.m == record.m && h.chunk_len == record.sealed_len {
                ShardState::Intact(shard.object().clone())
            } else {
                ShardState::Corrupt
            }
        }
        Err(e) => classify(&e),
    }
}

fn classify(e: &BackendError) -> ShardState {
    match e.kind() {
        BackendErrorKind::NotFound => ShardState::Missing,
        BackendErrorKind::Corrupt => ShardState::Corrupt,
        BackendErrorKind::UnknownProvider => ShardState::Lost,
        _ => ShardState::Unknown,
    }
}
