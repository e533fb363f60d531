//! The `Index` trait: everything the broker remembers, behind one
//! dyn-compatible async interface so redb or PostgreSQL is picked from config
//! at run time (`Arc<dyn Index>`).

use async_trait::async_trait;
use shardgate_core::ContentId;

use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::payments::{
    AccountBalance, InvoiceProgress, InvoiceRecord, LedgerAccount, LedgerEntry, LedgerFilter,
    PaymentHash,
};
use crate::payouts::{PayoutAddressRecord, PayoutRecord, PayoutStart, PayoutState};
use crate::records::{
    BlobRecord, ChunkRecord, CommitOutcome, NewBlob, Price, ProviderRecord, ShardLocation,
    ShardUpdate, TenantId, TenantRecord, Visibility,
};
use crate::shares::{ShareId, ShareRecord};

/// The broker's index. Every method that changes more than one record does
/// it in ONE transaction: on any error nothing was written.
#[async_trait]
pub trait Index: Send + Sync + 'static {
    // ---- tenants ----

    /// `AlreadyExists` if the id or the API key hash is taken; `Invalid` if
    /// `used_bytes` is not 0.
    async fn create_tenant(&self, tenant: TenantRecord) -> Result<(), IndexError>;
    /// The tenant with this id, or `None`.
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, IndexError>;
    /// Authentication: the tenant whose API key hashes to `hash`.
    async fn tenant_by_key_hash(&self, hash: &[u8; 32])
    -> Result<Option<TenantRecord>, IndexError>;
    /// All tenants, ordered by id.
    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, IndexError>;
    /// `NotFound`. Lowering a quota below `used_bytes` is allowed: uploads
    /// are refused until usage drops.
    async fn set_quota(&self, id: &TenantId, quota_bytes: u64) -> Result<(), IndexError>;
    /// Key rotation: the old hash stops working in the same transaction.
    /// `NotFound`; `AlreadyExists` if another tenant has this hash.
    async fn set_api_key_hash(&self, id: &TenantId, hash: [u8; 32]) -> Result<(), IndexError>;
    /// `NotFound`; `Invalid` while the tenant still owns blobs. Its shares
    /// go in the same transaction (there are none left: a blob's shares go
    /// with the blob).
    async fn delete_tenant(&self, id: &TenantId) -> Result<(), IndexError>;
    /// Refuses an upload up front (`QuotaExceeded`) when `declared_size` more
    /// bytes would not fit, before any shard is written. `commit_blob`
    /// checks again, atomically.
    async fn check_quota(&self, id: &TenantId, declared_size: u64) -> Result<(), IndexError>;

    // ---- chunks ----

    /// The GC epoch; an upload reads it before `live_chunks` and passes it
    /// to `commit_blob` as `observed_gc_epoch`.
    async fn gc_epoch(&self) -> Result<u64, IndexError>;
    /// Dedup look-up, one answer per id in order: only LIVE chunks
    /// (refcount >= 1) are `Some`; zero-ref and condemned chunks are `None`
    /// and must be written again.
    async fn live_chunks(&self, ids: &[ContentId]) -> Result<Vec<Option<ChunkRecord>>, IndexError>;
    /// Chunk records for a download, in order. `NotFound` if any is missing.
    async fn chunks_of(&self, ids: &[ContentId]) -> Result<Vec<ChunkRecord>, IndexError>;
    /// Repair: replaces a chunk's shard locations if the record is still at
    /// `expected_version` ([`ChunkRecord::shards_version`], as the plan read
    /// it), and moves it one version on even when the list is unchanged (a
    /// shard restored in place). A compare-and-set in one transaction:
    /// several replicas may repair the same chunk at once and only one plan
    /// lands; the others get [`ShardUpdate::Changed`] with the record as it
    /// is now. `NotFound`; `Conflict` if GC condemned the chunk meanwhile.
    async fn update_chunk_shards(
        &self,
        id: &ContentId,
        expected_version: u64,
        shards: Vec<ShardLocation>,
    ) -> Result<ShardUpdate, IndexError>;

    // ---- blobs ----

    /// One transaction: validation against the manifest (`Invalid`), tenant
    /// (`NotFound`), quota (`QuotaExceeded`), GC safety (`Conflict`, see the
    /// README), blob insert, refcount +1 per distinct chunk, new chunk
    /// records, `used_bytes += size`. On error nothing is written.
    async fn commit_blob(&self, new: NewBlob) -> Result<CommitOutcome, IndexError>;
    /// The owner's view: any visibility, only the owner's blobs.
    async fn blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
    ) -> Result<Option<BlobRecord>, IndexError>;
    /// Anyone's view: only public blobs. If several tenants published the
    /// same blob id, the one with the smallest tenant id answers.
    async fn public_blob(&self, id: &ContentId) -> Result<Option<BlobRecord>, IndexError>;
    /// The owner's blobs whose name starts with `name_prefix`, ordered by
    /// (name, blob id), at most `limit` (clamped to `MAX_PAGE_LIMIT`). The
    /// returned token resumes right after the last record, and stays valid
    /// across inserts and deletes; `None` means the listing is complete.
    async fn list_blobs(
        &self,
        owner: &TenantId,
        name_prefix: &str,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<BlobRecord>, Option<String>), IndexError>;
    /// `NotFound`. `None` leaves a field unchanged.
    async fn update_blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
        price: Option<Price>,
        visibility: Option<Visibility>,
    ) -> Result<BlobRecord, IndexError>;
    /// `false` if the owner has no such blob. Refcounts -1, quota returned,
    /// and the blob's shares deleted, in the same transaction.
    async fn delete_blob(&self, owner: &TenantId, id: &ContentId) -> Result<bool, IndexError>;

    // ---- garbage collection (one GC pass at a time, see README) ----

    /// Bumps the epoch and condemns up to `limit` zero-ref chunks. Returns
    /// the chunks condemned earlier and not yet finished (a pass that
    /// crashed) first, then the new ones. The caller deletes their shards,
    /// then calls `gc_finish`.
    async fn gc_condemn(&self, limit: usize) -> Result<Vec<ChunkRecord>, IndexError>;
    /// After every shard of `ids` is deleted: bumps the epoch, removes the
    /// chunk records and leaves tombstones at the new epoch. Ids that are
    /// not condemned are skipped (idempotent).
    async fn gc_finish(&self, ids: &[ContentId]) -> Result<(), IndexError>;
    /// Forgets tombstones finished before `finished_before_unix_ms`; later
    /// commits whose `observed_gc_epoch` is older than the newest forgotten
    /// tombstone fail with `Conflict`. Returns how many were removed.
    async fn gc_prune_tombstones(&self, finished_before_unix_ms: u64) -> Result<u64, IndexError>;

    // ---- providers ----

    /// Insert or replace by name.
    async fn put_provider(&self, provider: ProviderRecord) -> Result<(), IndexError>;
    /// All providers, ordered by name.
    async fn providers(&self) -> Result<Vec<ProviderRecord>, IndexError>;
    /// `NotFound`. Chunk records keep naming it until repair moves them.
    async fn remove_provider(&self, name: &str) -> Result<(), IndexError>;
    /// Chunks with at least one shard on `name`, ordered by chunk id,
    /// strictly after `after`, at most `limit` (clamped).
    async fn shards_on_provider(
        &self,
        name: &str,
        after: Option<ContentId>,
        limit: usize,
    ) -> Result<Vec<ChunkRecord>, IndexError>;

    // ---- payments ----

    /// `AlreadyExists` for a known hash; `Invalid` if uses == 0, used != 0,
    /// hold && uses != 1, progress != Issued or hold_accepted_at is Some.
    async fn insert_invoice(&self, invoice: InvoiceRecord) -> Result<(), IndexError>;
    /// The invoice with this payment hash, or `None`.
    async fn invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceRecord>, IndexError>;
    /// Consumes one use: `NotFound`; `UsesExhausted { used, uses }` when
    /// used == uses. Returns the record AFTER the increment.
    async fn reserve_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError>;
    /// Gives one use back (a broker-side failure). `NotFound`; used never
    /// below 0.
    async fn release_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError>;
    /// Sets hold_accepted_at_unix_ms if still None; returns the record.
    /// `NotFound`.
    async fn mark_hold_accepted(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
    ) -> Result<InvoiceRecord, IndexError>;
    /// Issued → Settled or Canceled (idempotent for the same target;
    /// `Conflict` for Settled↔Canceled). `Invalid` for target Issued.
    /// `NotFound`.
    async fn finish_invoice(
        &self,
        hash: &PaymentHash,
        to: InvoiceProgress,
    ) -> Result<InvoiceRecord, IndexError>;
    /// Hold invoices with progress Issued, ordered by hash, strictly after
    /// `after`, at most `limit` (clamped to MAX_PAGE_LIMIT). For the watcher.
    async fn pending_hold_invoices(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<InvoiceRecord>, IndexError>;
    /// Inserts a ledger entry and updates the balances, once per entry id.
    /// Ok(true) = written; Ok(false) = that entry id already exists (nothing
    /// written — idempotent). `Invalid` if postings are empty, an amount is
    /// 0, or debits != credits (sum in u128). `InsufficientBalance` (nothing
    /// written) if an account would go below zero: concurrent entries
    /// against one balance serialize, so none overspends it.
    async fn record_payment(&self, entry: LedgerEntry) -> Result<bool, IndexError>;
    /// Every account with a posting, ordered by (kind, id).
    async fn ledger_balances(&self) -> Result<Vec<AccountBalance>, IndexError>;
    /// Zeros if the account has no posting.
    async fn ledger_balance(&self, account: &LedgerAccount) -> Result<AccountBalance, IndexError>;
    /// Entries matching `filter`, ordered by (settled_at, entry_id),
    /// resuming strictly after `page_token`, at most `limit` (clamped).
    /// Token opaque, stable across inserts; `Invalid` for a malformed token.
    async fn list_ledger(
        &self,
        filter: &LedgerFilter,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError>;

    // ---- payouts ----

    /// One transaction. No payout for this payment hash yet (then
    /// `payout.attempt` must be 1), or only a failed one (then it must be
    /// the next attempt, else `Conflict`): stores `payout` (InFlight) and
    /// records `entry`, the money taken from the account —
    /// `InsufficientBalance` if the account cannot cover it, and nothing is
    /// written. A payout in flight or paid for this hash: `Existing`,
    /// nothing written. Another account or amount for the same hash:
    /// `AlreadyExists`. `Invalid` per `payment_rules::check_new_payout`.
    async fn start_payout(
        &self,
        payout: PayoutRecord,
        entry: LedgerEntry,
    ) -> Result<PayoutStart, IndexError>;
    /// InFlight → `to` for attempt `attempt`, with `entry` (where the money
    /// goes) recorded in the same transaction. A record already final, or
    /// on another attempt, comes back unchanged and nothing is written (the
    /// sender and a reconciler may both finish it). `NotFound`; `Invalid`
    /// for an impossible outcome (fee above the reserve, InFlight).
    async fn finish_payout(
        &self,
        hash: &PaymentHash,
        attempt: u32,
        to: PayoutState,
        at_unix_ms: u64,
        entry: LedgerEntry,
    ) -> Result<PayoutRecord, IndexError>;
    /// The payout of this payment hash, or `None`.
    async fn payout(&self, hash: &PaymentHash) -> Result<Option<PayoutRecord>, IndexError>;
    /// Payouts still InFlight, ordered by hash, strictly after `after`, at
    /// most `limit` (clamped). For reconciliation after a restart.
    async fn payouts_in_flight(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<PayoutRecord>, IndexError>;

    /// Inserts or replaces the standing order of `record.account`.
    /// `Invalid` per `payment_rules::check_payout_address`.
    async fn put_payout_address(&self, record: PayoutAddressRecord) -> Result<(), IndexError>;
    /// Removes it; `false` if the account had none.
    async fn remove_payout_address(&self, account: &LedgerAccount) -> Result<bool, IndexError>;
    /// The standing order of `account`, or `None`.
    async fn payout_address(
        &self,
        account: &LedgerAccount,
    ) -> Result<Option<PayoutAddressRecord>, IndexError>;
    /// Every standing order, ordered by account.
    async fn payout_addresses(&self) -> Result<Vec<PayoutAddressRecord>, IndexError>;

    // ---- prepaid credit ----

    /// `AlreadyExists` for a known hash; `Invalid` per
    /// `payment_rules::check_new_credit`.
    async fn insert_credit(&self, credit: CreditRecord) -> Result<(), IndexError>;
    /// The credit of this payment hash, or `None`.
    async fn credit(&self, hash: &PaymentHash) -> Result<Option<CreditRecord>, IndexError>;
    /// Once: sets `funded_at_unix_ms` and records `entry` (Lightning →
    /// credit) in one transaction. Already funded: the record, nothing
    /// written. `NotFound`.
    async fn fund_credit(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
        entry: LedgerEntry,
    ) -> Result<CreditRecord, IndexError>;

    // ---- shares ----

    /// Stores a new share. The blob must exist and belong to `share.owner`
    /// (else `NotFound`); an existing share id → `AlreadyExists`; sizes out
    /// of bounds (`MAX_SHARE_WRAPPED_KEY_LEN`, `MAX_SHARE_SEALED_NAME_LEN`),
    /// `downloads != 0` or `revoked_at` set → `Invalid`. Nothing is
    /// written on error.
    async fn create_share(&self, share: ShareRecord) -> Result<(), IndexError>;
    /// The share with this id, or `None` (any owner, any state).
    async fn share(&self, id: &ShareId) -> Result<Option<ShareRecord>, IndexError>;
    /// The owner's shares (of one blob if given), ordered by share id,
    /// strictly after `after`, at most `limit` (clamped to
    /// `MAX_PAGE_LIMIT`). Any state.
    async fn list_shares(
        &self,
        owner: &TenantId,
        blob: Option<&ContentId>,
        after: Option<&ShareId>,
        limit: usize,
    ) -> Result<Vec<ShareRecord>, IndexError>;
    /// Sets `revoked_at_unix_ms` (keeps the first time if already
    /// revoked) and returns the record; `None` if the owner has no share
    /// with this id.
    async fn revoke_share(
        &self,
        owner: &TenantId,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<Option<ShareRecord>, IndexError>;
    /// Atomically: `NotFound` if there is no such share;
    /// `ShareUnavailable { state }` if it is not live at `now_unix_ms`
    /// (nothing written); else `downloads += 1` and returns the updated
    /// record. Concurrent callers never exceed `max_downloads`.
    async fn take_share_download(
        &self,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<ShareRecord, IndexError>;
    /// Gives one download back (`downloads` never below 0), for a download
    /// refused after it was taken. `NotFound` if the share is gone (its
    /// blob was deleted meanwhile).
    async fn return_share_download(&self, id: &ShareId) -> Result<(), IndexError>;

    // ---- shared rates ----

    /// Books the next slot of the rate `name`, slots `spacing` apart, if
    /// it is at most `max_wait` away (see [`crate::rate_slots`]): one queue
    /// for every broker on this index — on PostgreSQL every replica, on its
    /// clock; with redb the one process, in memory. The caller waits the
    /// returned time before it acts.
    async fn book_rate_slot(
        &self,
        name: &str,
        spacing: std::time::Duration,
        max_wait: std::time::Duration,
    ) -> Result<crate::SlotBooking, IndexError>;
}
