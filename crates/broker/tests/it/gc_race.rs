//! A commit that loses a race with garbage collection: the broker writes
//! the affected chunks again from the shards it kept and commits once more.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use common::{CHUNK, TestBroker, bytes, get, header, put};
use shardgate_core::ContentId;
use shardgate_index::{
    AccountBalance, BlobRecord, ChunkRecord, CommitOutcome, Index, IndexError, InvoiceProgress,
    InvoiceRecord, LedgerAccount, LedgerEntry, LedgerFilter, NewBlob, PaymentHash, Price,
    ProviderRecord, RedbIndex, ShardLocation, ShardUpdate, ShareId, ShareRecord, TenantId,
    TenantRecord, Visibility,
};

/// Delegates to redb, except that right before the first armed commit a
/// real GC pass runs (condemn → delete the shard files → finish), as if it
/// had won the race against the upload.
struct GcWinsOnce {
    inner: RedbIndex,
    armed: AtomicBool,
    provider_roots: Vec<PathBuf>,
}

impl GcWinsOnce {
    async fn gc_pass(&self) -> Result<usize, IndexError> {
        let condemned = self.inner.gc_condemn(1000).await?;
        for chunk in &condemned {
            let hex = chunk.chunk_id.to_hex();
            for loc in &chunk.shards {
                let i: usize = loc.provider[1..].parse().expect("provider pN");
                let file = self.provider_roots[i]
                    .join("shards")
                    .join(&hex[..2])
                    .join(format!("{hex}.{}", loc.index));
                std::fs::remove_file(&file).expect("shard file exists");
            }
        }
        let ids: Vec<_> = condemned.iter().map(|c| c.chunk_id).collect();
        self.inner.gc_finish(&ids).await?;
        Ok(ids.len())
    }
}

#[async_trait]
impl Index for GcWinsOnce {
    async fn commit_blob(&self, new: NewBlob) -> Result<CommitOutcome, IndexError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            assert_eq!(
                self.gc_pass().await?,
                1,
                "the deleted blob's chunk is released"
            );
            // The index itself must now refuse the commit.
            let result = self.inner.commit_blob(new).await;
            assert!(
                matches!(result, Err(IndexError::Conflict { .. })),
                "{result:?}"
            );
            return result;
        }
        self.inner.commit_blob(new).await
    }
    async fn create_tenant(&self, t: TenantRecord) -> Result<(), IndexError> {
        self.inner.create_tenant(t).await
    }
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, IndexError> {
        self.inner.tenant(id).await
    }
    async fn tenant_by_key_hash(&self, h: &[u8; 32]) -> Result<Option<TenantRecord>, IndexError> {
        self.inner.tenant_by_key_hash(h).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, IndexError> {
        self.inner.list_tenants().await
    }
    async fn set_quota(&self, id: &TenantId, q: u64) -> Result<(), IndexError> {
        self.inner.set_quota(id, q).await
    }
    async fn set_api_key_hash(&self, id: &TenantId, h: [u8; 32]) -> Result<(), IndexError> {
        self.inner.set_api_key_hash(id, h).await
    }
    async fn delete_tenant(&self, id: &TenantId) -> Result<(), IndexError> {
        self.inner.delete_tenant(id).await
    }
    async fn check_quota(&self, id: &TenantId, size: u64) -> Result<(), IndexError> {
        self.inner.check_quota(id, size).await
    }
    async fn gc_epoch(&self) -> Result<u64, IndexError> {
        self.inner.gc_epoch().await
    }
    async fn live_chunks(&self, ids: &[ContentId]) -> Result<Vec<Option<ChunkRecord>>, IndexError> {
        self.inner.live_chunks(ids).await
    }
    async fn chunks_of(&self, ids: &[ContentId]) -> Result<Vec<ChunkRecord>, IndexError> {
        self.inner.chunks_of(ids).await
    }
    async fn book_rate_slot(
        &self,
        name: &str,
        spacing: std::time::Duration,
        max_wait: std::time::Duration,
    ) -> Result<shardgate_index::SlotBooking, IndexError> {
        self.inner.book_rate_slot(name, spacing, max_wait).await
    }
    async fn update_chunk_shards(
        &self,
        id: &ContentId,
        expected_version: u64,
        s: Vec<ShardLocation>,
    ) -> Result<ShardUpdate, IndexError> {
        self.inner
            .update_chunk_shards(id, expected_version, s)
            .await
    }
    async fn blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
    ) -> Result<Option<BlobRecord>, IndexError> {
        self.inner.blob(owner, id).await
    }
    async fn public_blob(&self, id: &ContentId) -> Result<Option<BlobRecord>, IndexError> {
        self.inner.public_blob(id).await
    }
    async fn list_blobs(
        &self,
        owner: &TenantId,
        prefix: &str,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<BlobRecord>, Option<String>), IndexError> {
        self.inner.list_blobs(owner, prefix, token, limit).await
    }
    async fn update_blob(
        &self,
        owner: &TenantId,
        id: &ContentId,
        price: Option<Price>,
        visibility: Option<Visibility>,
    ) -> Result<BlobRecord, IndexError> {
        self.inner.update_blob(owner, id, price, visibility).await
    }
    async fn delete_blob(&self, owner: &TenantId, id: &ContentId) -> Result<bool, IndexError> {
        self.inner.delete_blob(owner, id).await
    }
    async fn gc_condemn(&self, limit: usize) -> Result<Vec<ChunkRecord>, IndexError> {
        self.inner.gc_condemn(limit).await
    }
    async fn gc_finish(&self, ids: &[ContentId]) -> Result<(), IndexError> {
        self.inner.gc_finish(ids).await
    }
    async fn gc_prune_tombstones(&self, before: u64) -> Result<u64, IndexError> {
        self.inner.gc_prune_tombstones(before).await
    }
    async fn put_provider(&self, p: ProviderRecord) -> Result<(), IndexError> {
        self.inner.put_provider(p).await
    }
    async fn providers(&self) -> Result<Vec<ProviderRecord>, IndexError> {
        self.inner.providers().await
    }
    async fn remove_provider(&self, name: &str) -> Result<(), IndexError> {
        self.inner.remove_provider(name).await
    }
    async fn shards_on_provider(
        &self,
        name: &str,
        after: Option<ContentId>,
        limit: usize,
    ) -> Result<Vec<ChunkRecord>, IndexError> {
        self.inner.shards_on_provider(name, after, limit).await
    }
    async fn insert_invoice(&self, i: InvoiceRecord) -> Result<(), IndexError> {
        self.inner.insert_invoice(i).await
    }
    async fn invoice(&self, h: &PaymentHash) -> Result<Option<InvoiceRecord>, IndexError> {
        self.inner.invoice(h).await
    }
    async fn reserve_use(&self, h: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        self.inner.reserve_use(h).await
    }
    async fn release_use(&self, h: &PaymentHash) -> Result<InvoiceRecord, IndexError> {
        self.inner.release_use(h).await
    }
    async fn mark_hold_accepted(
        &self,
        h: &PaymentHash,
        at: u64,
    ) -> Result<InvoiceRecord, IndexError> {
        self.inner.mark_hold_accepted(h, at).await
    }
    async fn finish_invoice(
        &self,
        h: &PaymentHash,
        to: InvoiceProgress,
    ) -> Result<InvoiceRecord, IndexError> {
        self.inner.finish_invoice(h, to).await
    }
    async fn pending_hold_invoices(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<InvoiceRecord>, IndexError> {
        self.inner.pending_hold_invoices(after, limit).await
    }
    async fn record_payment(&self, e: LedgerEntry) -> Result<bool, IndexError> {
        self.inner.record_payment(e).await
    }
    async fn start_payout(
        &self,
        p: shardgate_index::PayoutRecord,
        e: LedgerEntry,
    ) -> Result<shardgate_index::PayoutStart, IndexError> {
        self.inner.start_payout(p, e).await
    }
    async fn finish_payout(
        &self,
        h: &PaymentHash,
        attempt: u32,
        to: shardgate_index::PayoutState,
        at: u64,
        e: LedgerEntry,
    ) -> Result<shardgate_index::PayoutRecord, IndexError> {
        self.inner.finish_payout(h, attempt, to, at, e).await
    }
    async fn payout(
        &self,
        h: &PaymentHash,
    ) -> Result<Option<shardgate_index::PayoutRecord>, IndexError> {
        self.inner.payout(h).await
    }
    async fn payouts_in_flight(
        &self,
        after: Option<PaymentHash>,
        limit: usize,
    ) -> Result<Vec<shardgate_index::PayoutRecord>, IndexError> {
        self.inner.payouts_in_flight(after, limit).await
    }
    async fn put_payout_address(
        &self,
        r: shardgate_index::PayoutAddressRecord,
    ) -> Result<(), IndexError> {
        self.inner.put_payout_address(r).await
    }
    async fn remove_payout_address(&self, a: &LedgerAccount) -> Result<bool, IndexError> {
        self.inner.remove_payout_address(a).await
    }
    async fn payout_address(
        &self,
        a: &LedgerAccount,
    ) -> Result<Option<shardgate_index::PayoutAddressRecord>, IndexError> {
        self.inner.payout_address(a).await
    }
    async fn payout_addresses(
        &self,
    ) -> Result<Vec<shardgate_index::PayoutAddressRecord>, IndexError> {
        self.inner.payout_addresses().await
    }
    async fn insert_credit(&self, c: shardgate_index::CreditRecord) -> Result<(), IndexError> {
        self.inner.insert_credit(c).await
    }
    async fn credit(
        &self,
        h: &PaymentHash,
    ) -> Result<Option<shardgate_index::CreditRecord>, IndexError> {
        self.inner.credit(h).await
    }
    async fn fund_credit(
        &self,
        h: &PaymentHash,
        at: u64,
        e: LedgerEntry,
    ) -> Result<shardgate_index::CreditRecord, IndexError> {
        self.inner.fund_credit(h, at, e).await
    }
    async fn ledger_balances(&self) -> Result<Vec<AccountBalance>, IndexError> {
        self.inner.ledger_balances().await
    }
    async fn ledger_balance(&self, a: &LedgerAccount) -> Result<AccountBalance, IndexError> {
        self.inner.ledger_balance(a).await
    }
    async fn list_ledger(
        &self,
        f: &LedgerFilter,
        token: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, Option<String>), IndexError> {
        self.inner.list_ledger(f, token, limit).await
    }
    async fn create_share(&self, share: ShareRecord) -> Result<(), IndexError> {
        self.inner.create_share(share).await
    }
    async fn share(&self, id: &ShareId) -> Result<Option<ShareRecord>, IndexError> {
        self.inner.share(id).await
    }
    async fn list_shares(
        &self,
        owner: &TenantId,
        blob: Option<&ContentId>,
        after: Option<&ShareId>,
        limit: usize,
    ) -> Result<Vec<ShareRecord>, IndexError> {
        self.inner.list_shares(owner, blob, after, limit).await
    }
    async fn revoke_share(
        &self,
        owner: &TenantId,
        id: &ShareId,
        now: u64,
    ) -> Result<Option<ShareRecord>, IndexError> {
        self.inner.revoke_share(owner, id, now).await
    }
    async fn take_share_download(&self, id: &ShareId, now: u64) -> Result<ShareRecord, IndexError> {
        self.inner.take_share_download(id, now).await
    }
    async fn return_share_download(&self, id: &ShareId) -> Result<(), IndexError> {
        self.inner.return_share_download(id).await
    }
}

/// Chunk A is stored, then its blob deleted (no reference left). A new
/// upload holds A again plus B; GC releases A — deleting its shards — after
/// the upload wrote them and before it commits.
async fn raced_upload(
    broker: &TestBroker,
    index: &GcWinsOnce,
) -> (
    Vec<u8>,
    String,
    Result<shardgate_proto::v1::PutResponse, shardgate_client::ClientError>,
) {
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let a = bytes(CHUNK, 1);
    let first = put(&client, Some(&key), header("first", None), &a)
        .await
        .expect("put");
    common::as_tenant(&client, Some(&key))
        .delete(&first.blob_id)
        .await
        .expect("delete");
    let mut data = a;
    data.extend(bytes(1000, 2));
    index.armed.store(true, Ordering::SeqCst);
    let result = put(&client, Some(&key), header("raced", None), &data).await;
    assert!(!index.armed.load(Ordering::SeqCst), "the race was played");
    (data, key, result)
}

async fn broker_on_race_index(budget: u64) -> (TestBroker, Arc<GcWinsOnce>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = Arc::new(GcWinsOnce {
        inner: RedbIndex::open(dir.path().join("data"))
            .await
            .expect("redb"),
        armed: AtomicBool::new(false),
        provider_roots: (0..3).map(|i| dir.path().join(format!("p{i}"))).collect(),
    });
    let broker = TestBroker::start_on_index_with(dir, index.clone(), |c| {
        c.pipeline.retry_budget_bytes = budget
    })
    .await;
    (broker, index)
}

#[tokio::test]
async fn a_commit_that_loses_to_gc_rewrites_its_chunks_and_succeeds() {
    let (broker, index) = broker_on_race_index(64 << 20).await;
    let (data, key, result) = raced_upload(&broker, &index).await;
    let r = result.expect("retried commit");
    assert_eq!(r.chunk_count, 2);
    // A's shards were written again from what the upload kept.
    let client = broker.client().await;
    let (_, got) = get(&client, Some(&key), &r.blob_id, None)
        .await
        .expect("get");
    assert!(got == data);
    assert_eq!(broker.shard_files(), 2 * 3);
    broker.stop().await;
}

#[tokio::test]
async fn without_retained_shards_the_client_is_told_to_retry() {
    let (broker, index) = broker_on_race_index(0).await;
    let (_, _, result) = raced_upload(&broker, &index).await;
    let err = result.expect_err("no retry possible");
    assert_eq!(err.code(), Some(tonic::Code::Unavailable), "{err:?}");
    assert!(
        err.message().contains("retry the upload"),
        "{}",
        err.message()
    );
    broker.stop().await;
}
