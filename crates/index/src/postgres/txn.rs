//! Transactions and the advisory lock keys.
//!
//! Every trait method is one transaction at PostgreSQL's default READ
//! COMMITTED isolation, made safe by explicit locks taken in ONE global
//! order (so two transactions never wait on each other in a cycle):
//!
//! 1. the GC state lock (advisory, this schema): SHARED by `commit_blob`
//!    and `update_chunk_shards`, EXCLUSIVE by `gc_condemn`, `gc_finish` and
//!    `gc_prune_tombstones` — commits and GC steps are serialized, as the
//!    GC rule requires;
//! 2. the tenant row (`FOR NO KEY UPDATE`): quota and `used_bytes`, and the
//!    tenant's blobs (commit, delete, tenant deletion);
//! 3. chunk locks (advisory, one per chunk id, taken in ascending key
//!    order): refcount and shard list changes of commits, deletes and
//!    repair. They cover ids that have no row yet, so two commits that
//!    both insert the same new chunk are serialized too.
//!
//! Shares take only row locks that wait on nothing else: `create_share`
//! holds its blob row `FOR KEY SHARE` (a concurrent `delete_blob` waits,
//! then cascades to the new share), and counter and revocation changes
//! lock the one share row `FOR UPDATE`. A cascade from `delete_blob` may
//! wait for such a share transaction, which never waits for anything
//! `delete_blob` holds, so no cycle forms.
//!
//! Under these locks each statement of READ COMMITTED sees every
//! transaction committed before it, and nothing it depends on can change
//! until it commits, so the redb argument (one writer at a time) carries
//! over: see the crate README, "PostgreSQL".

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::tokio_postgres::{Client, Transaction};
use shardgate_core::ContentId;

use super::errors::pg;
use crate::error::IndexError;

/// The future a transaction body returns (boxed: it borrows the transaction).
pub(super) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, IndexError>> + Send + 't>>;

/// Runs `body` in one transaction on `client`; commits only if it returns
/// `Ok`. On `Err` (or if the future is dropped) the transaction is rolled
/// back: nothing written.
pub(super) async fn run<T, F>(client: &mut Client, body: F) -> Result<T, IndexError>
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    let txn = client.transaction().await.map_err(pg("begin"))?;
    let out = body(&txn).await?;
    txn.commit().await.map_err(pg("commit"))?;
    Ok(out)
}

/// What an advisory lock protects. The key mixes in the schema, so indexes
/// in different schemas of one database never share a lock.
#[derive(Clone, Copy, Debug)]
pub(super) enum LockFor<'a> {
    /// Applying migrations (transaction lock).
    Migrations,
    /// The GC state: epoch, condemnations, tombstones (transaction lock).
    GcState,
    /// The GC lease: one GC pass at a time over all replicas (session lock).
    GcLease,
    /// One chunk's record and refcount (transaction lock).
    Chunk(&'a ContentId),
}

/// The 64-bit advisory lock key of `what` in `schema`.
pub(super) fn lock_key(schema: &str, what: LockFor<'_>) -> i64 {
    let mut input = format!("shardgate-index/{schema}/").into_bytes();
    match what {
        LockFor::Migrations => input.extend_from_slice(b"migrations"),
        LockFor::GcState => input.extend_from_slice(b"gc-state"),
        LockFor::GcLease => input.extend_from_slice(b"gc-lease"),
        LockFor::Chunk(id) => {
            input.extend_from_slice(b"chunk/");
            input.extend_from_slice(id.as_bytes());
        }
    }
    let hash = ContentId::of(&input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_be_bytes(first)
}

/// Takes the GC state lock, shared (commits, repair) or exclusive (GC).
/// Always the first lock of its transaction (see the module docs).
pub(super) async fn lock_gc_state(
    txn: &Transaction<'_>,
    schema: &str,
    exclusive: bool,
) -> Result<(), IndexError> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock($1)"
    } else {
        "SELECT pg_advisory_xact_lock_shared($1)"
    };
    txn.execute(sql, &[&lock_key(schema, LockFor::GcState)])
        .await
        .map_err(pg("lock GC state"))?;
    Ok(())
}

/// Takes the chunk locks of `ids` in ascending key order (duplicates
/// collapse), in one round trip.
pub(super) async fn lock_chunks<'a>(
    txn: &Transaction<'_>,
    schema: &str,
    ids: impl IntoIterator<Item = &'a ContentId>,
) -> Result<(), IndexError> {
    let mut keys: Vec<i64> = ids
        .into_iter()
        .map(|id| lock_key(schema, LockFor::Chunk(id)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    // unnest yields the array in order and nothing re-sorts it, so the
    // locks are taken in the order given.
    txn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k",
        &[&keys],
    )
    .await
    .map_err(pg("lock chunks"))?;
    Ok(())
}
