//! Finding a blob the caller may see: its own (any visibility), else a
//! public one. Another tenant's private blob is NOT_FOUND, never
//! PERMISSION_DENIED, so ids cannot be probed.

use shardgate_core::ContentId;
use shardgate_index::{BlobRecord, ChunkRecord, IndexError, TenantRecord};

use crate::error::BrokerError;
use crate::state::Broker;

pub(crate) async fn find_blob(
    broker: &Broker,
    caller: Option<&TenantRecord>,
    id: &ContentId,
) -> Result<BlobRecord, BrokerError> {
    if let Some(tenant) = caller
        && let Some(blob) = broker.index.blob(&tenant.id, id).await?
    {
        return Ok(blob);
    }
    if let Some(blob) = broker.index.public_blob(id).await? {
        return Ok(blob);
    }
    Err(not_found(id, caller.is_some()))
}

/// The NOT_FOUND of a blob id, with a hint when no key was sent.
pub(crate) fn not_found(id: &ContentId, had_key: bool) -> BrokerError {
    let hint = if had_key {
        ""
    } else {
        " (a private blob needs its owner's x-api-key)"
    };
    BrokerError::NotFound(format!(
        "no blob {id}: never stored, deleted, or not visible to the caller{hint}"
    ))
}

/// The chunk records of a committed blob. The blob exists, so a missing
/// record is the index's fault (INTERNAL), not a NOT_FOUND for the caller.
pub(crate) async fn chunk_records(
    broker: &Broker,
    ids: &[ContentId],
) -> Result<Vec<ChunkRecord>, BrokerError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    broker.index.chunks_of(ids).await.map_err(|e| match e {
        IndexError::NotFound { what } => BrokerError::Internal(format!(
            "index lacks a chunk record of a committed blob: {what}"
        )),
        other => other.into(),
    })
}
