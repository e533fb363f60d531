//! `PostgresIndex`: the index on PostgreSQL, for several broker replicas
//! sharing one database (e.g. on Kubernetes).
//!
//! One pool of connections (deadpool over tokio-postgres, plain TCP: no
//! TLS to the database yet, so run it on a trusted network or through a
//! TLS sidecar) serves every call; each trait method is one transaction
//! (see `txn.rs` for the isolation argument). The schema is created and
//! migrated at [`PostgresIndex::connect`], under an advisory lock so
//! replicas starting together do not race. GC steps run on a dedicated
//! session holding the GC lease (`gc_lease.rs`).

mod blobs;
mod chunks;
mod errors;
mod gc_lease;
mod ledger;
mod migrate;
mod numeric;
mod payments;
mod payouts;
mod providers;
mod rate_slots;
mod rows;
mod shares;
mod tenants;
mod tls;
mod txn;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::tokio_postgres::Transaction;
use deadpool_postgres::{ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use shardgate_core::ContentId;

use self::errors::pg;
use self::gc_lease::GcLease;
use self::tls::PgTls;
use self::txn::{LockFor, TxFuture};
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

/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "shardgate";
/// Longest schema name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_SCHEMA_LEN: usize = 63;

/// How [`PostgresIndex::connect`] connects.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Schema holding the tables, created if missing: `[a-z_][a-z0-9_]*`,
    /// at most 63 bytes. Brokers sharing one index use the same schema.
    pub schema: String,
    /// Pool size: connections this broker opens at most (plus one for the
    /// GC lease). At least 1.
    pub max_connections: usize,
    /// Bound on connecting and on waiting for a free pooled connection;
    /// past it a call fails with `Storage`.
    pub connect_timeout: Duration,
    /// How long `gc_condemn`/`gc_finish` wait for the GC lease another
    /// replica holds before failing with `Conflict`.
    pub gc_lease_wait: Duration,
    /// The server's CA certificate(s), PEM: connect over TLS and check the
    /// chain and host name (`sslmode=verify-full`). `None`: plain TCP
    /// unless the URL's `sslmode` asks for TLS (then refused: nothing to
    /// check the server against).
    pub tls_ca_pem: Option<Vec<u8>>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: DEFAULT_SCHEMA.to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            gc_lease_wait: Duration::from_secs(10),
            tls_ca_pem: None,
        }
    }
}

impl PostgresOptions {
    fn check(&self) -> Result<(), IndexError> {
        let s = self.schema.as_bytes();
        let ok = !s.is_empty()
            && s.len() <= MAX_SCHEMA_LEN
            && (s[0].is_ascii_lowercase() || s[0] == b'_')
            && s.iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
        if !ok {
            return Err(IndexError::invalid(format!(
                "postgres schema must be 1..={MAX_SCHEMA_LEN} chars of [a-z0-9_] starting with a \
                 letter or _, got {:?}",
                self.schema
            )));
        }
        if self.max_connections == 0 {
            return Err(IndexError::invalid(
                "postgres max_connections must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The index on PostgreSQL. Cheap to clone (shares one pool).
#[derive(Clone)]
pub struct PostgresIndex {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: Arc<str>,
    lease: GcLease,
}

impl std::fmt::Debug for PostgresIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("PostgresIndex")
            .field("schema", &self.inner.schema)
            .finish()
    }
}

impl PostgresIndex {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`, or
    /// the key=value form), creates `options.schema` if needed and applies
    /// the missing migrations. `Invalid` for a malformed URL or option,
    /// `Storage` if the server cannot be reached, `Corrupt` if the schema
    /// is newer than this build.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, IndexError> {
        options.check()?;
        let (mut config, tls) = PgTls::configure(url, options.tls_ca_pem.as_deref())?;
        let schema = options.schema.as_str();
        config
            .connect_timeout(options.connect_timeout)
            .application_name("shardgate-broker")
            // Every session resolves the tables in our schema.
            .options(format!("-c search_path={schema}"));

        let (mut client, conn_task) = tls.connect(&config).await.map_err(pg("connect"))?;
        let migrated = migrate::migrate(&mut client, schema).await;
        drop(client);
        let _ = conn_task.await;
        migrated?;

        let manager = tls.manager(
            config.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| IndexError::storage(format!("postgres pool: {e}")))?;
        let lease_key = txn::lock_key(schema, LockFor::GcLease);
        Ok(PostgresIndex {
            inner: Arc::new(Inner {
                pool,
                schema: Arc::from(schema),
                lease: GcLease::new(config, tls, lease_key, options.gc_lease_wait),
            }),
        })
    }

    /// The schema this index lives in.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The schema version this build creates and reads.
    pub fn schema_version() -> i32 {
        migrate::latest()
    }

    async fn client(&self) -> Result<Object, IndexError> {
        self.inner.pool.get().await.map_err(errors::pool)
    }

    /// One write transaction on a pooled connection.
    async fn write<T, F>(&self, body: F) -> Result<T, IndexError>
    where
        F: for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T>,
    {
        let mut client = self.client().await?;
        txn::run(&mut client, body).await
    }

    fn schema_arc(&self) -> Arc<str> {
        Arc::clone(&self.inner.schema)
    }
}

#[async_trait]
impl Index for PostgresIndex {
    async fn create_tenant(&self, tenant: TenantRecord) -> Result<(), IndexError> {
        self.write(move |t| Box::pin(tenants::create(t, tenant)))
            .await
    }
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, IndexError> {
        tenants::get(&**self.client().await?, id).await
    }
    async fn tenant_by_key_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<TenantRecord>, IndexError> {
        tenants::by_key_hash(&**self.client().await?, hash).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, IndexError> {
        tenants::list(&**self.client().await?).await
    }
    async fn set_quota(&self, id: &TenantId, quota_bytes: u64) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |t| Box::pin(tenants::set_quota(t, id, quota_bytes)))
            .await
    }
    async fn set_api_key_hash(&self, id: &TenantId, hash: [u8; 32]) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |t| Box::pin(tenants::set_key_hash(t, id, hash)))
            .await
    }
    async fn delete_tenant(&self, id: &TenantId) -> Result<(), IndexError> {
        let id = id.clone();
        self.write(move |t| Box::pin(tenants::delete(t, id))).await
    }
    async fn check_quota(&self, id: &TenantId, declared_size: u64) -> Result<(), IndexError> {
        tenants::check_quota(&**self.client().await?, id, declared_size).await
    }

    async fn gc_epoch(&self) -> Result<u64, IndexError> {
        chunks::epoch(&**self.client().await?).await
    }
    async fn live_chunks(&self, ids: &[ContentId]) -> Result<Vec<Option<ChunkRecord>>, IndexError> {
        chunks::live(&**self.client().await?, ids).await
    }
    async fn chunks_of(&self, ids: &[ContentId]) -> Result<Vec<ChunkRecord>, IndexError> {
        chunks::all_of(&**self.client().await?, ids).await
    }
    async fn book_rate_slot(
        &self,
        name: &str,
        spacing: std::time::Duration,
        max_wait: std::time::Duration,
    ) -> Result<crate::SlotBooking, IndexError> {
        let name = name.to_owned();
        self.write(move |t| {
            Box::pin(async move { rate_slots::book(t, &name, spacing, max_wait).await })
        })
        .await
    }
    async fn update_chunk_shards(
        &self,
        id: &ContentId,
        expected_version: u64,
        shards: Vec<ShardLocation>,
    ) -> Result<ShardUpdate, IndexError> {
        let (id, schema) = (*id, self.schema_arc());
        self.write(move |t| {
            Box::pin(async move {
                chunks::update_shards(t, &schema, id, expected_version, shards).await
            })
        })
        .await
    }

    async fn commit_blob(&self, new: NewBlob) -> Result<CommitOutcome, IndexError> {
        // Validation needs no transaction: fail fast without taking locks.
        crate::rules::check_new_blob(&new)?;
        let schema = self.schema_arc();
        self.write(move |t| Box::pin(async move { blobs::commit(t, &schema, new).await }))
            .await
    }
    async fn blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
    ) -> Result<Option<BlobRecord>, IndexError> {
        blobs::get(&**self.client().await?, owner, id).await
    }
    async fn public_blob(&self, id: &ContentId) -> Result<Option<BlobRecord>, IndexError> {
        blobs::public(&**self.client().await?, id).await
    }
    async fn list_blobs(
        &self,
        owner: &TenantId,
        name_prefix: &str,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<BlobRecord>, Option<String>), IndexError> {
        blobs::list(
            &**self.client().await?,
            owner,
            name_prefix,
            page_token,
            limit,
        )
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
        self.write(move |t| Box::pin(blobs::update(t, owner, id, price, visibility)))
            .await
    }
    async fn delete_blob(&self, owner: &TenantId, id: &ContentId) -> Result<bool, IndexError> {
        let (owner, id, schema) = (owner.clone(), *id, self.schema_arc());
        self.write(move |t| Box::pin(async move { blobs::delete(t, &schema, owner, id).await }))
            .await
    }

    async fn gc_condemn(&self, limit: usize) -> Result<Vec<ChunkRecord>, IndexError> {
        let schema = self.schema_arc();
        self.inner
            .lease
            .step(
                move |t| Box::pin(async move { chunks::condemn(t, &schema, limit).await }),
                // Nothing condemned: no pass in progress, let others collect.
                |condemned: &Vec<ChunkRecord>| condemned.is_empty(),
            )
            .await
    }
    async fn gc_finish(&self, ids: &[ContentId]) -> Result<(), IndexError> {
        let (ids, schema, now) = (ids.to_vec(), self.schema_arc(), crate::rules::now_unix_ms());
        self.inner
            .lease
            .step(
                move |t| Box::pin(async move { chunks::finish(t, &schema, &ids, now).await }),
                |pending: &bool| !pending,
            )
            .await
            .map(|_| ())
    }
    async fn gc_prune_tombstones(&self, finished_before_unix_ms: u64) -> Result<u64, IndexError> {
        let schema = self.schema_arc();
        self.write(move |t| {
            Box::pin(
                async move { chunks::prune_tombstones(t, &schema, finished_before_unix_ms).await },
            )
        })
        .await
    }

    async fn put_provider(&self, provider: ProviderRecord) -> Result<(), IndexError> {
        crate::rules::check_provider(&provider)?;
        self.write(move |t| Box::pin(providers::put(t, provider)))
            .await
    }
    async fn providers(&self) -> Result<Vec<ProviderRecord>, IndexError> {
        providers::list(&**self.client().await?).await
    }
    async fn remove_provider(&self, name: &str) -> Result<(), IndexError> {
        let name = name.to_owned();
        self.write(move |t| Box::pin(providers::remove(t, name)))
            .await
    }
    async fn shards_on_provider(
        &self,
        name: &str,
        after: Option<ContentId>,
        limit: usize,
    ) -> Result<Vec<ChunkRecord>, IndexError> {
        providers::shards_on(&**self.client().await?, name, after, limit).await
    }

    async fn insert_invoice(&self, invoice: InvoiceRecord) -> Result<(), IndexError> {
        payment_rules::check_new_invoice(&invoice)?;
        self.write(move |t| Box::pin(payments::insert(t, invoice)))
            .await
    }
    async fn invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceRecord>, IndexError> {
        payments::get(&**self.client().await?, hash).await
    }
    async fn reserve_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |t| Box::pin(payments::reserve_use(t, hash)))
            .await
    }
    async fn release_use(&self, hash: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |t| Box::pin(payments::release_use(t, hash)))
            .await
    }
    async fn mark_hold_accepted(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
    ) -> Result<InvoiceRecord, IndexError> {
        let hash = *hash;
        self.write(move |t| Box::pin(payments::mark_hold_accepted(t, hash, at_unix_ms)))
            .await
    }
    async fn finish_invoice(
        &self,
        hash: &PaymentHash,
        to: InvoiceProgress,
    ) -> Result<InvoiceRecord, IndexError> {
        payment_rules::check_finish_target(hash, to)?;
        let hash = *hash;
        self.write(move |t| Box::pin(payments::finish(t, hash, to)))
            .await
    }
    async fn pending_hold_invoices(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<InvoiceRecord>, IndexError> {
        payments::pending_holds(&**self.client().await?, after, limit).await
    }
    async fn record_payment(&self, entry: LedgerEntry) -> Result<bool, IndexError> {
        payment_rules::check_ledger_entry(&entry)?;
        self.write(move |t| Box::pin(ledger::record(t, entry)))
            .await
    }
    async fn start_payout(
        &self,
        payout: PayoutRecord,
        entry: LedgerEntry,
    ) -> Result<PayoutStart, IndexError> {
        payment_rules::check_new_payout(&payout)?;
        payment_rules::check_ledger_entry(&entry)?;
        self.write(move |t| Box::pin(payouts::start(t, payout, entry)))
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
        self.write(move |t| Box::pin(payouts::finish(t, hash, attempt, to, at_unix_ms, entry)))
            .await
    }
    async fn payout(&self, hash: &PaymentHash) -> Result<Option<PayoutRecord>, IndexError> {
        payouts::get(&**self.client().await?, hash).await
    }
    async fn payouts_in_flight(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<PayoutRecord>, IndexError> {
        payouts::in_flight(&**self.client().await?, after, limit).await
    }
    async fn put_payout_address(&self, record: PayoutAddressRecord) -> Result<(), IndexError> {
        payment_rules::check_payout_address(&record)?;
        self.write(move |t| Box::pin(payouts::put_address(t, record)))
            .await
    }
    async fn remove_payout_address(&self, account: &LedgerAccount) -> Result<bool, IndexError> {
        let account = account.clone();
        self.write(move |t| Box::pin(payouts::remove_address(t, account)))
            .await
    }
    async fn payout_address(
        &self,
        account: &LedgerAccount,
    ) -> Result<Option<PayoutAddressRecord>, IndexError> {
        payouts::address(&**self.client().await?, account).await
    }
    async fn payout_addresses(&self) -> Result<Vec<PayoutAddressRecord>, IndexError> {
        payouts::addresses(&**self.client().await?).await
    }
    async fn insert_credit(&self, credit: CreditRecord) -> Result<(), IndexError> {
        payment_rules::check_new_credit(&credit)?;
        self.write(move |t| Box::pin(payouts::insert_credit(t, credit)))
            .await
    }
    async fn credit(&self, hash: &PaymentHash) -> Result<Option<CreditRecord>, IndexError> {
        payouts::credit(&**self.client().await?, hash).await
    }
    async fn fund_credit(
        &self,
        hash: &PaymentHash,
        at_unix_ms: u64,
        entry: LedgerEntry,
    ) -> Result<CreditRecord, IndexError> {
        payment_rules::check_ledger_entry(&entry)?;
        let hash = *hash;
        self.write(move |t| Box::pin(payouts::fund_credit(t, hash, at_unix_ms, entry)))
            .await
    }
    async fn ledger_balances(&self) -> Result<Vec<AccountBalance>, IndexError> {
        ledger::balances(&**self.client().await?).await
    }
    async fn ledger_balance(&self, account: &LedgerAccount) -> Result<AccountBalance, IndexError> {
        ledger::balance_of(&**self.client().await?, account).await
    }
    async fn list_ledger(
        &self,
        filter: &LedgerFilter,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError> {
        ledger::list(&**self.client().await?, filter, page_token, limit).await
    }

    async fn create_share(&self, share: ShareRecord) -> Result<(), IndexError> {
        share_rules::check_new_share(&share)?;
        self.write(move |t| Box::pin(shares::create(t, share)))
            .await
    }
    async fn share(&self, id: &ShareId) -> Result<Option<ShareRecord>, IndexError> {
        shares::get(&**self.client().await?, id).await
    }
    async fn list_shares(
        &self,
        owner: &TenantId,
        blob: Option<&ContentId>,
        after: Option<&ShareId>,
        limit: usize,
    ) -> Result<Vec<ShareRecord>, IndexError> {
        shares::list(&**self.client().await?, owner, blob, after, limit).await
    }
    async fn revoke_share(
        &self,
        owner: &TenantId,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<Option<ShareRecord>, IndexError> {
        let (owner, id) = (owner.clone(), *id);
        self.write(move |t| Box::pin(shares::revoke(t, owner, id, now_unix_ms)))
            .await
    }
    async fn take_share_download(
        &self,
        id: &ShareId,
        now_unix_ms: u64,
    ) -> Result<ShareRecord, IndexError> {
        let id = *id;
        self.write(move |t| Box::pin(shares::take_download(t, id, now_unix_ms)))
            .await
    }
    async fn return_share_download(&self, id: &ShareId) -> Result<(), IndexError> {
        let id = *id;
        self.write(move |t| Box::pin(shares::return_download(t, id)))
            .await
    }
}
