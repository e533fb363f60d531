//! Provider records and the per-provider shard listing (drain/repair).

use deadpool_postgres::tokio_postgres::{Client, Transaction};
use shardgate_core::ContentId;

use super::errors::pg;
use super::rows::{self, CHUNK_COLUMNS, PROVIDER_COLUMNS};
use crate::error::IndexError;
use crate::records::{ChunkRecord, ProviderRecord};
use crate::rules;

pub(super) async fn put(txn: &Transaction<'_>, p: ProviderRecord) -> Result<(), IndexError> {
    txn.execute(
        "INSERT INTO providers (name, config_sealed, weight, state) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET config_sealed = excluded.config_sealed, \
             weight = excluded.weight, state = excluded.state",
        &[
            &p.name,
            &p.config_sealed,
            &p.weight,
            &rows::provider_state_name(p.state),
        ],
    )
    .await
    .map_err(pg("put provider"))?;
    Ok(())
}

pub(super) async fn list(client: &Client) -> Result<Vec<ProviderRecord>, IndexError> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY name");
    let all = client
        .query(&sql, &[])
        .await
        .map_err(pg("list providers"))?;
    all.iter().map(rows::provider).collect()
}

pub(super) async fn remove(txn: &Transaction<'_>, name: String) -> Result<(), IndexError> {
    let n = txn
        .execute("DELETE FROM providers WHERE name = $1", &[&name])
        .await
        .map_err(pg("remove provider"))?;
    if n == 0 {
        return Err(IndexError::not_found(format!("provider {name}")));
    }
    Ok(())
}

pub(super) async fn shards_on(
    client: &Client,
    name: &str,
    after: Option<ContentId>,
    limit: usize,
) -> Result<Vec<ChunkRecord>, IndexError> {
    let limit = rules::clamp_limit(limit) as i64;
    let after: Vec<u8> = after.map(|id| id.as_bytes().to_vec()).unwrap_or_default();
    let columns = CHUNK_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM provider_shards s JOIN chunks c ON c.chunk_id = s.chunk_id \
         WHERE s.provider = $1 AND s.chunk_id > $2 ORDER BY s.chunk_id LIMIT $3"
    );
    let found = client
        .query(&sql, &[&name, &after, &limit])
        .await
        .map_err(pg("list shards on provider"))?;
    found
        .iter()
        .map(|r| rows::chunk(r).map(|(c, _)| c))
        .collect()
}
