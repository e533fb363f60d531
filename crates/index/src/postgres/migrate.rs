//! Schema migrations, embedded in the binary and applied at connect.
//!
//! Replicas that start together all run this: the first to take the
//! migrations advisory lock (a transaction lock, released at commit)
//! creates the schema and applies what is missing; the others wait, then
//! find everything applied. `schema_version` records each applied version.
//! A database newer than this build is refused (`Corrupt`), never written.

use deadpool_postgres::tokio_postgres::Client;

use super::errors::{col, pg};
use super::txn::{self, LockFor};
use crate::error::IndexError;

/// (version, SQL) in order; a new file gets the next version.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_index.sql")),
    (2, include_str!("../../migrations/0002_payments.sql")),
    (3, include_str!("../../migrations/0003_shares.sql")),
    (4, include_str!("../../migrations/0004_payouts_credit.sql")),
    (5, include_str!("../../migrations/0005_shard_versions.sql")),
    (6, include_str!("../../migrations/0006_rate_slots.sql")),
];

/// The version this build writes.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

/// Creates `schema` if needed and brings it to [`latest`]. `schema` is
/// already validated as a plain identifier (see `PostgresOptions`).
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<i32, IndexError> {
    let txn = client.transaction().await.map_err(pg("begin migration"))?;
    txn.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&txn::lock_key(schema, LockFor::Migrations)],
    )
    .await
    .map_err(pg("lock migrations"))?;
    txn.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         SET LOCAL search_path TO \"{schema}\";
         CREATE TABLE IF NOT EXISTS schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg("create schema"))?;
    let row = txn
        .query_one(
            "SELECT coalesce(max(version), 0) AS v FROM schema_version",
            &[],
        )
        .await
        .map_err(pg("read schema version"))?;
    let current: i32 = col(&row, "v")?;
    if current > latest() {
        return Err(IndexError::corrupt(format!(
            "PostgreSQL schema \"{schema}\" is at version {current}, this build knows up to {}; \
             run a newer broker",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        txn.batch_execute(sql)
            .await
            .map_err(pg(&format!("apply migration {version}")))?;
        txn.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(pg("record schema version"))?;
    }
    txn.commit().await.map_err(pg("commit migration"))?;
    Ok(latest())
}
