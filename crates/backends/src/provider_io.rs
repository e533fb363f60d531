//! Shard operations on one named provider, with the outcome fed into that
//! provider's health: the layer every shard request of the broker passes
//! through, the way opendal's layers wrap every operator call.
//!
//! [`ProviderRegistry::call`] is the layer; `put_shard`, `get_shard` and
//! `delete_shard` are the three shard operations the broker needs, each one
//! `call` around the matching [`ShardStore`] method. Health is recorded here
//! and nowhere else, so no caller can skip it or report it twice; the
//! chunk-level operations (`chunk_write.rs`, `chunk_read.rs`) are built on
//! these.
//!
//! An unknown provider is an `UnknownProvider` error, and health is not
//! touched (there is no entry to record into).

use std::future::Future;

use bytes::Bytes;
use shardgate_core::ContentId;

use crate::error::BackendError;
use crate::registry::ProviderRegistry;
use crate::store::{BodyCheck, PutOutcome, ShardStore, VerifiedShard};

impl ProviderRegistry {
    /// Run an operation on a provider's store and feed its result into the
    /// provider's health (see [`BackendError::counts_against_health`]).
    pub async fn call<T, F, Fut>(&self, name: &str, op: F) -> Result<T, BackendError>
    where
        F: FnOnce(ShardStore) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let store = self.store(name)?;
        let result = op(store).await;
        self.observe(name, &result);
        result
    }

    /// [`ShardStore::put_shard`] on `provider`, health recorded.
    pub async fn put_shard(
        &self,
        provider: &str,
        object: Bytes,
    ) -> Result<PutOutcome, BackendError> {
        // `fs` providers do their blocking file I/O on the blocking pool
        // themselves (`local_disk.rs`).
        self.call(
            provider,
            |store| async move { store.put_shard(object).await },
        )
        .await
    }

    /// [`ShardStore::get_shard`] on `provider` (verified), health recorded.
    pub async fn get_shard(
        &self,
        provider: &str,
        chunk: &ContentId,
        index: u8,
    ) -> Result<VerifiedShard, BackendError> {
        self.read_shard(provider, chunk, index, BodyCheck::Hashed)
            .await
    }

    /// [`ShardStore::read_shard`] on `provider`, health recorded.
    pub async fn read_shard(
        &self,
        provider: &str,
        chunk: &ContentId,
        index: u8,
        check: BodyCheck,
    ) -> Result<VerifiedShard, BackendError> {
        self.call(provider, |store| async move {
            store.read_shard(chunk, index, check).await
        })
        .await
    }

    /// Delete shard `index` of `chunk` on `provider` (missing is fine),
    /// health recorded.
    pub async fn delete_shard(
        &self,
        provider: &str,
        chunk: &ContentId,
        index: u8,
    ) -> Result<(), BackendError> {
        self.call(provider, |store| async move {
            store.delete(&store.shard_key(chunk, index)).await
        })
        .await
    }
}
