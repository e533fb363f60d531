//! `RedbIndex`: the embedded default, one redb file per data directory.
//!
//! redb is synchronous: a transaction does blocking file I/O and fsyncs on
//! commit, and `begin_write` blocks until the previous writer is done. Run
//! on a tokio worker thread that would stall every other task scheduled on
//! it (the broker's gRPC streams), so each call runs on the blocking pool
//! via `spawn_blocking`. One `Database` handle serves every call: redb
//! serializes write transactions itself and lets reads run concurrently on
//! MVCC snapshots.

mod blobs;
mod chunks;
mod ledger;
mod payments;
mod payouts;
mod providers;
mod shares;
mod tables;
mod tenants;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadTransaction, WriteTransaction};
use shardgate_core::ContentId;

use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::index::Index;
use crate::payment_rules;
use crate::payments::{
    AccountBalance, InvoiceProgress, InvoiceRecord, LedgerAccount, LedgerEntry, LedgerFilter,
    PaymentHash,
};
use crate::payouts::{PayoutAddressRecord, PayoutRecord, PayoutStart, PayoutState};
use crate::records::{
    BlobRecord, ChunkRecord, CommitOutcome, NewBlob, Price, ProviderRecord, ShardLocation,
    ShardUpdate, TenantId, TenantRecord, Visibility,
};
use crate::share_rules;
use crate::shares::{ShareId, ShareRecord};

/// File name inside the data directory.
pub(crate) const INDEX_FILE_NAME: &str = "index.redb";

/// The embedded index. Cheap to clone (shares one database handle).
#[derive(Clone)]
pub struct RedbIndex {
    db: Arc<Database>,
    path: PathBuf,
    /// Rate slots (`book_rate_slot`): one process holds a redb file, so
    /// the queue lives in memory, on this process's monotonic clock
    /// (microseconds since `opened`).
    rate_slots: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    opened: std::time::Instant,
}

impl std::fmt::Debug for RedbIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbIndex {
    /// Opens (or creates) `<data_dir>/index.redb`. `Storage` if another
    /// process holds it open; `Corrupt` for an unreadable file or schema.
    pub async fn open(data_dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        let dir = data_dir.as_ref().to_path_buf();
        let path = dir.join(INDEX_FILE_NAME);
        let file = path.clone();
        // Opening may run redb's crash repair over the whole file: blocking.
        let db = tokio::task::spawn_blocking(move || -> Result<Database, IndexError> {
            std::fs::create_dir_all(&dir).map_err(|e| {
                IndexError::storage(format!("cannot create {}: {e}", dir.display()))
            })?;
            let db = Database::create(&file)?;
            tables::init(&db)?;
            Ok(db)
        })
        .await
        .map_err(join_error)??;
        Ok(RedbIndex {
            db: Arc::new(db),
            path,
            rate_slots: Arc::default(),
            opened: std::time::Instant::now(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One write transaction on the blocking pool (see module docs).
    async fn write<T, F>(&self, f: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, IndexError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || tables::write(&db, f))
            .await
            .map_err(join_error)?
    }

    /// One read snapshot on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, IndexError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || tables::read(&db, f))
            .await
            .map_err(join_error)?
    }
}

fn join_error(e: tokio::task::JoinError) -> IndexError {
    IndexError::storage(format!("index task did not complete: {e}"))
}

#[async_trait]
impl Index for RedbIndex {
    async fn create_tenant(&self, tenant: TenantRecord) -> Result<(), IndexError> {
        self.write(move |txn| tenants::create(txn, &tenant)).await
    }
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, IndexError> {
        let id = id.clone();
        self.read(move |txn| tenants::get(txn, &id)).await
    }
    async fn tenant_by_key_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<TenantRecord>, IndexError> {
        let hash = *hash;
        self.read(move |txn| tenants::by_key_hash(txn, &hash)).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, IndexError> {
        self.read(tenants::list).await
    }
    async fn set_quota(&self, id: &TenantId, quota_bytes: u64) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |txn| tenants::set_quota(txn, &id, quota_bytes))
            .await
    }
    async fn set_api_key_hash(&self, id: &TenantId, hash: [u8; 32]) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |txn| tenants::set_key_hash(txn, &id, hash))
            .await
    }
    async fn delete_tenant(&self, id: &TenantId) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |txn| tenants::delete(txn, &id)).await
    }
    async fn check_quota(&self, id: &TenantId, declared_size: u64) -> Result<(), IndexError> {
        let id = id.clone();
        self.read(move |txn| tenants::check_quota(txn, &id, declared_size))
            .await
    }

    async fn gc_epoch(&self) -> Result<u64, IndexError> {
        self.read(chunks::epoch).await
    }
    async fn live_chunks(&self, ids: &[ContentId]) -> Result<Vec<Option<ChunkRecord>>, IndexError> {
        let ids = ids.to_vec();
        self.read(move |txn| chunks::live(txn, &ids)).await
    }
    async fn chunks_of(&self, ids: &[ContentId]) -> Result<Vec<ChunkRecord>, IndexError> {
        let ids = ids.to_vec();
        self.read(move |txn| chunks::all_of(txn, &ids)).await
    }
    async fn book_rate_slot(
        &self,
        name: &str,
        spacing: std::time::Duration,
        max_wait: std::time::Duration,
    ) -> Result<crate::SlotBooking, IndexError> {
        let now_us = i64::try_from(self.opened.elapsed().as_micros()).unwrap_or(i64::MAX);
        let mut slots = self
            .rate_slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next_free = slots.get(name).copied().unwrap_or(0);
        let (booking, next) = crate::rate_slots::book(next_free, now_us, spacing, max_wait);
        if let Some(next) = next {
            slots.insert(name.to_owned(), next);
        }
        Ok(booking)
    }
    async fn update_chunk_shards(
        &self,
        id: &ContentId,
        expected_version: u64,
        shards: Vec<ShardLocation>,
    ) -> Result<ShardUpdate, IndexError> {
        let id = *id;
        self.write(move |txn| chunks::update_shards(txn, &id, expected_version, shards))
            .await
    }

    async fn commit_blob(&self, new: NewBlob) -> Result<CommitOutcome, IndexError> {
        // Validation needs no transaction: fail fast without taking the
        // single writer slot.
        crate::rules::check_new_blob(&new)?;
        self.write(move |txn| blobs::commit(txn, &new)).await
    }
    async fn blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
    ) -> Result<Option<BlobRecord>, IndexError> {
        let (owner, id) = (owner.clone(), *id);
        self.read(move |txn| blobs::get(txn, &owner, &id)).await
    }
    async fn public_blob(&self, id: &ContentId) -> Result<Option<BlobRecord>, IndexError> {
        let id = *id;
        self.read(move |txn| blobs::public(txn, &id)).await
    }
    async fn list_blobs(
        &self,
        owner: &TenantId,
        name_prefix: &str,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<BlobRecord>, Option<String>), IndexError> {
        let owner = owner.clone();
        let prefix = name_prefix.to_owned();
        let token = page_token.map(str::to_owned);
        self.read(move |txn| blobs::list(txn, &owner, &prefix, token.as_deref(), limit))
            .await
    }
    async fn update_blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
        price: Option<Price>,
        visibility: Option<Visibility>,
    ) -> Result<BlobRecord, IndexError> {
        let (owner, id) = (owner.clone(), *id);
        self.write(move |txn| blobs::update(txn, &owner, &id, price, visibility))
            .await
    }
    async fn delete_blob(&self, owner: &TenantId, id: &ContentId) -> Result<bool, IndexError> {
        let (owner, id) = (owner.clone(), *id);
        self.write(move |txn| blobs::delete(txn, &owner, &id)).await
    }

    async fn gc_condemn(&self, limit: usize) -> Result<Vec<ChunkRecord>, IndexError> {
        self.write(move |txn| chunks::condemn(txn, limit)).await
    }
    async fn gc_finish(&self, ids: &[ContentId]) -> Result<(), IndexError> {
        let ids = ids.to_vec();
        let now = crate::rules::now_unix_ms();
        self.write(move |txn| chunks::finish(txn, &ids, now)).await
    }
    async fn gc_prune_tombstones(&self, finished_before_unix_ms: u64) -> Result<u64, IndexError> {
        self.write(move |txn| chunks::prune_tombstones(txn, finished_before_unix_ms))
            .await
    }

    async fn put_provider(&self, provider: ProviderRecord) -> Result<(), IndexError> {
        crate::rules::check_provider(&provider)?;
        self.write(move |txn| providers::put(txn, &provider)).await
    }
    async fn providers(&self) -> Result<Vec<ProviderRecord>, IndexError> {
        self.read(providers::list).await
    }
    async fn remove_provider(&self, name: &str) -> Result<(), IndexError> {
        let name = name.to_owned();
        self.write(move |txn| providers::remove(txn, &name)).await
    }
    async fn shards_on_provider(
        &self,
        name: &str,
        after: Option<ContentId>,
        limit: usize,
    ) -> Result<Vec<ChunkRecord>, IndexError> {
        let name = name.to_owned();
        self.read(move |txn| providers::shards_on(txn, &name, after, limit))
            .await
    }

    async fn insert_invoice(&self, invoice: InvoiceRecord) -> Result<(), IndexError> {
        payment_rules::check_new_invoice(&invoice)?;
        self.write(move |txn| payments::insert(txn, &invoice)).await
    }
    async fn invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceRecord>, IndexError> {
        let hash = *hash;
        self.read(move |txn| payments::get(txn, &hash)).await
    }
    async fn reserve_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |txn| payments::reserve_use(txn, &hash))
            .await
    }
    async fn release_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |txn| payments::release_use(txn, &hash))
            .await
    }
    async fn mark_hold_accepted(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
    ) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |txn| payments::mark_hold_accepted(txn, &hash, at_unix_ms))
            .await
    }
    async fn finish_invoice(
        &self,
        hash: &PaymentHash,
        to: InvoiceProgress,
    ) -> Result<InvoiceRecord, IndexError> {
        payment_rules::check_finish_target(hash, to)?;
        let hash = *hash;
        self.write(move |txn| payments::finish(txn, &hash, to))
            .await
    }
    async fn pending_hold_invoices(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<InvoiceRecord>, IndexError> {
        self.read(move |txn| payments::pending_holds(txn, after, limit))
            .await
    }
    async fn record_payment(&self, entry: LedgerEntry) -> Result<bool, IndexError> {
        payment_rules::check_ledger_entry(&entry)?;
        self.write(move |txn| ledger::record(txn, &entry)).await
    }
    async fn start_payout(
        &self,
        payout: PayoutRecord,
        entry: LedgerEntry,
    ) -> Result<PayoutStart, IndexError> {
        payment_rules::check_new_payout(&payout)?;
        payment_rules::check_ledger_entry(&entry)?;
        self.write(move |txn| payouts::start(txn, &payout, &entry))
            .await
    }
    async fn finish_payout(
        &self,
        hash: &PaymentHash,
        attempt: u32,
        to: PayoutState,
        at_unix_ms: u64,
        entry: LedgerEntry,
    ) -> Result<PayoutRecord, IndexError> {
        payment_rules::check_ledger_entry(&entry)?;
        let hash = *hash;
        self.write(move |txn| payouts::finish(txn, &hash, attempt, &to, at_unix_ms, &entry))
            .await
    }
    async fn payout(&self, hash: &PaymentHash) -> Result<Option<PayoutRecord>, IndexError> {
        let hash = *hash;
        self.read(move |txn| payouts::get(txn, &hash)).await
    }
    async fn payouts_in_flight(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<PayoutRecord>, IndexError> {
        self.read(move |txn| payouts::in_flight(txn, after, limit))
            .await
    }
    async fn put_payout_address(&self, record: PayoutAddressRecord) -> Result<(), IndexError> {
        payment_rules::check_payout_address(&record)?;
        self.write(move |txn| payouts::put_address(txn, &record))
            .await
    }
    async fn remove_payout_address(&self, account: &LedgerAccount) -> Result<bool, IndexError> {
        let account = account.clone();
        self.write(move |txn| payouts::remove_address(txn, &account))
            .await
    }
    async fn payout_address(
        &self,
        account: &LedgerAccount,
    ) -> Result<Option<PayoutAddressRecord>, IndexError> {
        let account = account.clone();
        self.read(move |txn| payouts::address(txn, &account)).await
    }
    async fn payout_addresses(&self) -> Result<Vec<PayoutAddressRecord>, IndexError> {
        self.read(payouts::addresses).await
    }
    async fn insert_credit(&self, credit: CreditRecord) -> Result<(), IndexError> {
        payment_rules::check_new_credit(&credit)?;
        self.write(move |txn| payouts::insert_credit(txn, &credit))
            .await
    }
    async fn credit(&self, hash: &PaymentHash) -> Result<Option<CreditRecord>, IndexError> {
        let hash = *hash;
        self.read(move |txn| payouts::credit(txn, &hash)).await
    }
    async fn fund_credit(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
        entry: LedgerEntry,
    ) -> Result<CreditRecord, IndexError> {
        payment_rules::check_ledger_entry(&entry)?;
        let hash = *hash;
        self.write(move |txn| payouts::fund_credit(txn, &hash, at_unix_ms, &entry))
            .await
    }
    async fn ledger_balances(&self) -> Result<Vec<AccountBalance>, IndexError> {
        self.read(ledger::balances).await
    }
    async fn ledger_balance(&self, account: &LedgerAccount) -> Result<AccountBalance, IndexError> {
        let account = account.clone();
        self.read(move |txn| ledger::balance(txn, &account)).await
    }
    async fn list_ledger(
        &self,
        filter: &LedgerFilter,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError> {
        let filter = filter.clone();
        let token = page_token.map(str::to_owned);
        self.read(move |txn| ledger::list(txn, &filter, token.as_deref(), limit))
            .await
    }

    async fn create_share(&self, share: ShareRecord) -> Result<(), IndexError> {
        share_rules::check_new_share(&share)?;
        self.write(move |txn| shares::create(txn, &share)).await
    }
    async fn share(&self, id: &ShareId) -> Result<Option<ShareRecord>, IndexError> {
        let id = *id;
        self.read(move |txn| shares::get(txn, &id)).await
    }
    async fn list_shares(
        &self,
        owner: &TenantId,
        blob: Option<&ContentId>,
        after: Option<&ShareId>,
        limit: usize,
    ) -> Result<Vec<ShareRecord>, IndexError> {
        let (owner, blob, after) = (owner.clone(), blob.copied(), after.copied());
        self.read(move |txn| shares::list(txn, &owner, blob.as_ref(), after.as_ref(), limit))
            .await
    }
    async fn revoke_share(
        &self,
        owner: &TenantId,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<Option<ShareRecord>, IndexError> {
        let (owner, id) = (owner.clone(), *id);
        self.write(move |txn| shares::revoke(txn, &owner, &id, now_unix_ms))
            .await
    }
    async fn take_share_download(
        &self,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<ShareRecord, IndexError> {
        let id = *id;
        self.write(move |txn| shares::take_download(txn, &id, now_unix_ms))
            .await
    }
    async fn return_share_download(&self, id: &ShareId) -> Result<(), IndexError> {
        let id = *id;
        self.write(move |txn| shares::return_download(txn, &id))
            .await
    }
}

#[cfg(test)]
#[path = "corrupt_tests.rs"]
mod tests;
