//! Rows ↔ records: the column lists the queries select and how each row
//! becomes a record. Every decoding failure is `Corrupt`.

use std::collections::BTreeMap;

use deadpool_postgres::tokio_postgres::Row;
use shardgate_core::{ContentId, KeyMode};

use super::errors::{col, col_id, col_int, col_u64};
use crate::error::IndexError;
use crate::records::{
    BlobRecord, ChunkRecord, Price, ProviderRecord, ProviderState, ShardLocation, TenantId,
    TenantRecord, Visibility,
};

pub(super) const TENANT_COLUMNS: &str =
    "id, name, api_key_hash, quota_bytes, used_bytes, created_at_unix_ms";

pub(super) fn tenant(row: &Row) -> Result<TenantRecord, IndexError> {
    Ok(TenantRecord {
        id: tenant_id(col(row, "id")?)?,
        name: col(row, "name")?,
        api_key_hash: col_id(row, "api_key_hash")?,
        quota_bytes: col_u64(row, "quota_bytes")?,
        used_bytes: col_u64(row, "used_bytes")?,
        created_at_unix_ms: col_u64(row, "created_at_unix_ms")?,
    })
}

pub(super) fn tenant_id(id: String) -> Result<TenantId, IndexError> {
    TenantId::new(id).map_err(|e| IndexError::corrupt(format!("stored tenant id: {e}")))
}

pub(super) const BLOB_COLUMNS: &str = "owner, blob_id, name, content_type, size, content_hash, \
     key_mode, visibility, flat_msat, per_mib_msat, metadata_keys, metadata_values, manifest, \
     created_at_unix_ms";

pub(super) fn blob(row: &Row) -> Result<BlobRecord, IndexError> {
    let keys: Vec<String> = col(row, "metadata_keys")?;
    let values: Vec<String> = col(row, "metadata_values")?;
    if keys.len() != values.len() {
        return Err(IndexError::corrupt(
            "blob metadata keys and values differ in length",
        ));
    }
    Ok(BlobRecord {
        blob_id: ContentId::from_bytes(col_id(row, "blob_id")?),
        owner: tenant_id(col(row, "owner")?)?,
        name: col(row, "name")?,
        content_type: col(row, "content_type")?,
        size: col_u64(row, "size")?,
        content_hash: ContentId::from_bytes(col_id(row, "content_hash")?),
        key_mode: key_mode_from(col(row, "key_mode")?)?,
        visibility: visibility_from(col(row, "visibility")?)?,
        price: Price {
            flat_msat: col_u64(row, "flat_msat")?,
            per_mib_msat: col_u64(row, "per_mib_msat")?,
        },
        metadata: keys.into_iter().zip(values).collect::<BTreeMap<_, _>>(),
        manifest: col(row, "manifest")?,
        created_at_unix_ms: col_u64(row, "created_at_unix_ms")?,
    })
}

pub(super) fn key_mode_name(mode: KeyMode) -> &'static str {
    match mode {
        KeyMode::Managed => "managed",
        KeyMode::EndToEnd => "end_to_end",
    }
}

fn key_mode_from(name: &str) -> Result<KeyMode, IndexError> {
    match name {
        "managed" => Ok(KeyMode::Managed),
        "end_to_end" => Ok(KeyMode::EndToEnd),
        other => Err(IndexError::corrupt(format!("unknown key mode {other:?}"))),
    }
}

pub(super) fn visibility_name(v: Visibility) -> &'static str {
    match v {
        Visibility::Private => "private",
        Visibility::Public => "public",
    }
}

fn visibility_from(name: &str) -> Result<Visibility, IndexError> {
    match name {
        "private" => Ok(Visibility::Private),
        "public" => Ok(Visibility::Public),
        other => Err(IndexError::corrupt(format!("unknown visibility {other:?}"))),
    }
}

pub(super) const CHUNK_COLUMNS: &str = "chunk_id, k, m, sealed_len, shard_indexes, shard_providers, wrapped_key, refcount, shards_version, condemned_epoch";

/// A chunk row and its condemnation epoch (`None` = not condemned).
pub(super) fn chunk(row: &Row) -> Result<(ChunkRecord, Option<u64>), IndexError> {
    let indexes: Vec<i16> = col(row, "shard_indexes")?;
    let providers: Vec<String> = col(row, "shard_providers")?;
    if indexes.len() != providers.len() {
        return Err(IndexError::corrupt(
            "chunk shard indexes and providers differ in length",
        ));
    }
    let shards = indexes
        .into_iter()
        .zip(providers)
        .map(|(index, provider)| {
            let index = u8::try_from(index)
                .map_err(|_| IndexError::corrupt(format!("shard index {index} out of range")))?;
            Ok(ShardLocation { index, provider })
        })
        .collect::<Result<Vec<_>, IndexError>>()?;
    let condemned = col::<Option<super::numeric::U64>>(row, "condemned_epoch")?.map(|e| e.0);
    let record = ChunkRecord {
        chunk_id: ContentId::from_bytes(col_id(row, "chunk_id")?),
        k: col_int(row, "k")?,
        m: col_int(row, "m")?,
        sealed_len: col_int(row, "sealed_len")?,
        shards,
        wrapped_key: col(row, "wrapped_key")?,
        refcount: col_u64(row, "refcount")?,
        shards_version: col_int(row, "shards_version")?,
    };
    Ok((record, condemned))
}

/// The shard list as the two parallel array columns.
pub(super) fn shard_arrays(shards: &[ShardLocation]) -> (Vec<i16>, Vec<&str>) {
    shards
        .iter()
        .map(|s| (i16::from(s.index), s.provider.as_str()))
        .unzip()
}

pub(super) const PROVIDER_COLUMNS: &str = "name, config_sealed, weight, state";

pub(super) fn provider(row: &Row) -> Result<ProviderRecord, IndexError> {
    let state = match col::<&str>(row, "state")? {
        "active" => ProviderState::Active,
        "draining" => ProviderState::Draining,
        other => {
            return Err(IndexError::corrupt(format!(
                "unknown provider state {other:?}"
            )));
        }
    };
    Ok(ProviderRecord {
        name: col(row, "name")?,
        config_sealed: col(row, "config_sealed")?,
        weight: col(row, "weight")?,
        state,
    })
}

pub(super) fn provider_state_name(state: ProviderState) -> &'static str {
    match state {
        ProviderState::Active => "active",
        ProviderState::Draining => "draining",
    }
}
