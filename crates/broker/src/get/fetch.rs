//! The shard reads of one chunk, as the Get path sees them. Request order,
//! hedging and provider health are `shardgate_backends::ShardFetcher`'s;
//! this file starts one from a chunk record and turns a failed read into
//! what the downloader is told.

use shardgate_backends::{BackendError, BodyCheck, PlacedShard, ProviderRegistry, ShardFetcher};
use shardgate_core::ContentId;
use shardgate_index::ChunkRecord;

use crate::error::BrokerError;

/// A fetcher over every shard `record` lists, reading through `registry`,
/// each shard checked as `check` says.
pub(super) fn shard_fetcher(
    registry: &ProviderRegistry,
    record: &ChunkRecord,
    check: BodyCheck,
) -> ShardFetcher {
    registry.fetcher(record.chunk_id, record.k, &placed_shards(record), check)
}

/// Where `record` says its shards are.
pub(super) fn placed_shards(record: &ChunkRecord) -> Vec<PlacedShard> {
    record
        .shards
        .iter()
        .map(|l| PlacedShard {
            index: l.index,
            provider: l.provider.clone(),
        })
        .collect()
}

/// Turns a failed open into DATA_LOSS (shards missing or corrupt) or
/// UNAVAILABLE (providers unreachable: may pass).
pub(super) fn explain(
    fetcher: &ShardFetcher,
    index: u64,
    k: usize,
    err: BrokerError,
) -> BrokerError {
    explain_errors(fetcher.chunk(), fetcher.errors(), index, k, err)
}

fn explain_errors(
    chunk: &ContentId,
    errors: &[BackendError],
    index: u64,
    k: usize,
    err: BrokerError,
) -> BrokerError {
    if !matches!(err, BrokerError::DataLoss(_) | BrokerError::Core(_)) {
        return err;
    }
    let reasons: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let detail = if reasons.is_empty() {
        err.to_string()
    } else {
        reasons.join("; ")
    };
    let msg = format!(
        "chunk {index} ({}): fewer than k={k} intact shards could be read: {detail}",
        chunk.short()
    );
    if errors.iter().any(BackendError::is_temporary) {
        BrokerError::Unavailable(format!("{msg}; retry with backoff"))
    } else {
        BrokerError::DataLoss(format!(
            "{msg}; retry later, and tell the blob owner if it persists"
        ))
    }
}

#[cfg(test)]
mod tests {
    use shardgate_backends::BackendErrorKind;

    use super::*;

    fn failed(kind: BackendErrorKind, provider: &str) -> BackendError {
        BackendError::new(kind, provider, "get", "boom")
    }

    #[test]
    fn too_few_shards_is_unavailable_when_providers_failed() {
        let errors = [
            failed(BackendErrorKind::Unavailable, "a"),
            failed(BackendErrorKind::Unavailable, "b"),
        ];
        let err = explain_errors(
            &ContentId::of(b"c"),
            &errors,
            0,
            2,
            BrokerError::DataLoss("1 of 2".into()),
        );
        assert!(matches!(err, BrokerError::Unavailable(_)), "{err:?}");
    }

    #[test]
    fn too_few_shards_is_data_loss_when_shards_are_missing() {
        let errors = [failed(BackendErrorKind::NotFound, "a")];
        let err = explain_errors(
            &ContentId::of(b"c"),
            &errors,
            0,
            2,
            BrokerError::DataLoss("1 of 2".into()),
        );
        assert!(matches!(err, BrokerError::DataLoss(_)), "{err:?}");
    }
}
