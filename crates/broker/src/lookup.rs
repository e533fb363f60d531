//! Finding a blob the caller may see: its own (any visibility), else a
//! public one. Another tenant's private blob is NOT_FOUND, never
//! PERMISSION_DENIED, so ids cannot be probed.

use shardgate_core::ContentId;
use shardgate_index::{BlobRecord, TenantRecord};

use crate::error::BrokerError;
use crate::state::Broker;

pub async fn find_blob(
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
pub fn not_found(id: &ContentId, had_key: bool) -> BrokerError {
    let hint = if had_key {
        ""
    } else {
        " (a private blob needs its owner's x-api-key)"
    };
    BrokerError::NotFound(format!(
        "no blob {id}: never stored, deleted, or not visible to the caller{hint}"
    ))
}
