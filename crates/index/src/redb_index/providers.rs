//! Provider records and the per-provider shard listing (for drain/repair).

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use shardgate_core::ContentId;

use super::tables::{CHUNKS, PROVIDER_SHARDS, PROVIDERS};
use crate::codec::{decode_chunk, decode_provider, encode_provider};
use crate::error::IndexError;
use crate::records::{ChunkRecord, ProviderRecord};
use crate::rules;

pub(super) fn put(txn: &WriteTransaction, provider: &ProviderRecord) -> Result<(), IndexError> {
    txn.open_table(PROVIDERS)?
        .insert(provider.name.as_str(), encode_provider(provider).as_slice())?;
    Ok(())
}

pub(super) fn list(txn: &ReadTransaction) -> Result<Vec<ProviderRecord>, IndexError> {
    let providers = txn.open_table(PROVIDERS)?;
    let mut out = Vec::new();
    for entry in providers.iter()? {
        let (_, value) = entry?;
        out.push(decode_provider(value.value())?);
    }
    Ok(out)
}

pub(super) fn remove(txn: &WriteTransaction, name: &str) -> Result<(), IndexError> {
    match txn.open_table(PROVIDERS)?.remove(name)? {
        Some(_) => Ok(()),
        None => Err(IndexError::not_found(format!("provider {name}"))),
    }
}

pub(super) fn shards_on(
    txn: &ReadTransaction,
    name: &str,
    after: Option<ContentId>,
    limit: usize,
) -> Result<Vec<ChunkRecord>, IndexError> {
    let limit = rules::clamp_limit(limit);
    let start = match after {
        Some(id) => Bound::Excluded((name, *id.as_bytes())),
        None => Bound::Included((name, [0u8; 32])),
    };
    let end = Bound::Included((name, [0xffu8; 32]));
    let by_provider = txn.open_table(PROVIDER_SHARDS)?;
    let chunks = txn.open_table(CHUNKS)?;
    let mut out = Vec::new();
    for entry in by_provider
        .range::<(&str, [u8; 32])>((start, end))?
        .take(limit)
    {
        let (key, _) = entry?;
        let (_, id) = key.value();
        let record = chunks.get(id)?.ok_or_else(|| {
            IndexError::corrupt(format!(
                "provider index names missing chunk {}",
                ContentId::from_bytes(id)
            ))
        })?;
        out.push(decode_chunk(record.value())?);
    }
    Ok(out)
}
