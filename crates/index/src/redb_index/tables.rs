//! The redb tables, the transaction helpers, and redb error mapping.
//!
//! | table | key | value | purpose |
//! |---|---|---|---|
//! | `meta` | name | u64 | `schema_version` |
//! | `tenants` | tenant id | tenant record | accounts |
//! | `tenant_keys` | API key hash | tenant id | authentication |
//! | `blobs` | (owner, blob id) | blob record | the owner's blobs |
//! | `blobs_by_name` | (owner, name, blob id) | () | paginated listing |
//! | `public_blobs` | (blob id, owner) | () | public look-up |
//! | `chunks` | chunk id | chunk record | refcount, shard locations |
//! | `zero_ref` | chunk id | () | GC candidates (refcount 0, not condemned) |
//! | `condemned` | chunk id | epoch | GC in progress |
//! | `tombstones` | chunk id | (finish epoch, finished at ms) | GC safety |
//! | `tombstones_by_epoch` | (finish epoch, chunk id) | finished at ms | pruning in order |
//! | `gc_meta` | name | u64 | `epoch`, `pruned_through` |
//! | `providers` | name | provider record | registry |
//! | `provider_shards` | (provider, chunk id) | () | `shards_on_provider` |
//! | `invoices` | payment hash | invoice record | issued invoices, use counters |
//! | `pending_holds` | payment hash | () | hold invoices still Issued (watcher) |
//! | `ledger` | entry id | ledger entry | settled payments |
//! | `ledger_by_time` | (settled at ms, entry id) | () | listing order |
//! | `ledger_by_account` | (kind, account id, settled at ms, entry id) | () | listing by account |
//! | `ledger_balances` | (kind, account id) | (credited, debited) msat | running totals |
//! | `shares` | share id | share record | share links |
//! | `shares_by_owner` | (owner, share id) | () | `list_shares` of an owner |
//! | `shares_by_blob` | (owner, blob id, share id) | () | `list_shares` of a blob, blob deletion |

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};

use crate::error::IndexError;

pub(super) type Id = [u8; 32];
pub(super) type ShareKey = [u8; crate::shares::SHARE_ID_LEN];

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
pub(super) const TENANT_KEYS: TableDefinition<Id, &str> = TableDefinition::new("tenant_keys");
pub(super) const BLOBS: TableDefinition<(&str, Id), &[u8]> = TableDefinition::new("blobs");
pub(super) const BLOBS_BY_NAME: TableDefinition<(&str, &str, Id), ()> =
    TableDefinition::new("blobs_by_name");
pub(super) const PUBLIC_BLOBS: TableDefinition<(Id, &str), ()> =
    TableDefinition::new("public_blobs");
pub(super) const CHUNKS: TableDefinition<Id, &[u8]> = TableDefinition::new("chunks");
pub(super) const ZERO_REF: TableDefinition<Id, ()> = TableDefinition::new("zero_ref");
pub(super) const CONDEMNED: TableDefinition<Id, u64> = TableDefinition::new("condemned");
pub(super) const TOMBSTONES: TableDefinition<Id, (u64, u64)> = TableDefinition::new("tombstones");
pub(super) const TOMBSTONES_BY_EPOCH: TableDefinition<(u64, Id), u64> =
    TableDefinition::new("tombstones_by_epoch");
pub(super) const GC_META: TableDefinition<&str, u64> = TableDefinition::new("gc_meta");
pub(super) const PROVIDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("providers");
pub(super) const PROVIDER_SHARDS: TableDefinition<(&str, Id), ()> =
    TableDefinition::new("provider_shards");
pub(super) const INVOICES: TableDefinition<Id, &[u8]> = TableDefinition::new("invoices");
pub(super) const PENDING_HOLDS: TableDefinition<Id, ()> = TableDefinition::new("pending_holds");
pub(super) const LEDGER: TableDefinition<Id, &[u8]> = TableDefinition::new("ledger");
pub(super) const LEDGER_BY_TIME: TableDefinition<(u64, Id), ()> =
    TableDefinition::new("ledger_by_time");
pub(super) const LEDGER_BY_ACCOUNT: TableDefinition<(u8, &str, u64, Id), ()> =
    TableDefinition::new("ledger_by_account");
pub(super) const LEDGER_BALANCES: TableDefinition<(u8, &str), (u64, u64)> =
    TableDefinition::new("ledger_balances");
pub(super) const SHARES: TableDefinition<ShareKey, &[u8]> = TableDefinition::new("shares");
/// Payouts by payment hash; `PAYOUTS_IN_FLIGHT` lists the ones not final
/// (changed in the same transaction as the record).
pub(super) const PAYOUTS: TableDefinition<Id, &[u8]> = TableDefinition::new("payouts");
pub(super) const PAYOUTS_IN_FLIGHT: TableDefinition<Id, ()> =
    TableDefinition::new("payouts_in_flight");
/// Standing payout orders by account (kind tag, id).
pub(super) const PAYOUT_ADDRESSES: TableDefinition<(u8, &str), &[u8]> =
    TableDefinition::new("payout_addresses");
/// Credit invoices by payment hash.
pub(super) const CREDITS: TableDefinition<Id, &[u8]> = TableDefinition::new("credits");
pub(super) const SHARES_BY_OWNER: TableDefinition<(&str, ShareKey), ()> =
    TableDefinition::new("shares_by_owner");
pub(super) const SHARES_BY_BLOB: TableDefinition<(&str, Id, ShareKey), ()> =
    TableDefinition::new("shares_by_blob");

/// `gc_meta` keys.
pub(super) const GC_EPOCH: &str = "epoch";
pub(super) const GC_PRUNED_THROUGH: &str = "pruned_through";

/// Layout of the tables above; bump on an incompatible change. Adding a
/// table is compatible: `init` creates it in an existing file.
pub(super) const SCHEMA_VERSION: u64 = 1;
const SCHEMA_KEY: &str = "schema_version";

/// Creates every table (so read transactions can open them) and checks the
/// schema version, in one write transaction.
pub(super) fn init(db: &Database) -> Result<(), IndexError> {
    write(db, |txn| {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(SCHEMA_KEY)?.map(|g| g.value());
        match found {
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(IndexError::corrupt(format!(
                    "index schema version {other}, this build reads {SCHEMA_VERSION}"
                )));
            }
        }
        txn.open_table(TENANTS)?;
        txn.open_table(TENANT_KEYS)?;
        txn.open_table(BLOBS)?;
        txn.open_table(BLOBS_BY_NAME)?;
        txn.open_table(PUBLIC_BLOBS)?;
        txn.open_table(CHUNKS)?;
        txn.open_table(ZERO_REF)?;
        txn.open_table(CONDEMNED)?;
        txn.open_table(TOMBSTONES)?;
        txn.open_table(TOMBSTONES_BY_EPOCH)?;
        txn.open_table(GC_META)?;
        txn.open_table(PROVIDERS)?;
        txn.open_table(PROVIDER_SHARDS)?;
        txn.open_table(INVOICES)?;
        txn.open_table(PENDING_HOLDS)?;
        txn.open_table(LEDGER)?;
        txn.open_table(LEDGER_BY_TIME)?;
        txn.open_table(LEDGER_BY_ACCOUNT)?;
        txn.open_table(LEDGER_BALANCES)?;
        txn.open_table(SHARES)?;
        txn.open_table(PAYOUTS)?;
        txn.open_table(PAYOUTS_IN_FLIGHT)?;
        txn.open_table(CREDITS)?;
        txn.open_table(PAYOUT_ADDRESSES)?;
        txn.open_table(SHARES_BY_OWNER)?;
        txn.open_table(SHARES_BY_BLOB)?;
        Ok(())
    })
}

/// Runs `f` in one write transaction and commits only if it returns `Ok`;
/// on `Err` the transaction is dropped, which aborts it: nothing written.
/// Commits use `Durability::Immediate`: when `commit` returns, the data is
/// fsynced and survives a process kill or power loss.
pub(super) fn write<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, IndexError>,
) -> Result<T, IndexError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let out = f(&txn)?;
    txn.commit()?;
    Ok(out)
}

/// Runs `f` on a consistent snapshot.
pub(super) fn read<T>(
    db: &Database,
    f: impl FnOnce(&ReadTransaction) -> Result<T, IndexError>,
) -> Result<T, IndexError> {
    let txn = db.begin_read()?;
    f(&txn)
}

fn from_redb(e: redb::Error) -> IndexError {
    match e {
        redb::Error::Corrupted(msg) => IndexError::corrupt(format!("redb: {msg}")),
        redb::Error::UpgradeRequired(v) => {
            IndexError::corrupt(format!("redb file format {v} needs an upgrade"))
        }
        // Everything else (I/O, lock held by another process, closed
        // database) is an availability problem, not bad data.
        other => IndexError::storage(format!("redb: {other}")),
    }
}

macro_rules! map_redb_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for IndexError {
            fn from(e: $ty) -> Self {
                from_redb(e.into())
            }
        }
    )*};
}

map_redb_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
