//! A real redb index in a tempdir and a registry of memory providers, with
//! chunks written the way an upload writes them (placement, shard objects)
//! and committed as one blob — so the worker sees exactly what a broker has.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use shardgate_backends::opendal::EntryMode;
use shardgate_backends::{
    PlacementPolicy, ProviderConfig, ProviderKind, ProviderLimits, ProviderRegistry,
};
use shardgate_core::{
    ContentId, ErasureParams, KeyMode, MIN_CHUNK_SIZE, Manifest, ManifestChunk, SHARD_HEADER_LEN,
    encode_sealed_chunk,
};
use shardgate_index::{
    BlobRecord, ChunkRecord, CommitOutcome, Index, NewBlob, Price, RedbIndex, ShardLocation,
    TenantId, TenantRecord, Visibility,
};

use crate::repair::{RepairSettings, RepairWorker};

/// Plaintext bytes per chunk (the smallest chunk size).
pub(super) const CHUNK: usize = MIN_CHUNK_SIZE;
/// AEAD tag: sealed = plaintext + 16.
const TAG: usize = 16;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub index: Arc<dyn Index>,
    pub registry: ProviderRegistry,
    pub tenant: TenantId,
    /// Sealed bytes of every stored chunk, to compare read-backs with.
    pub sealed: BTreeMap<ContentId, Vec<u8>>,
}

impl Fixture {
    /// Memory providers named `names`, weight 1.
    pub(super) async fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let index: Arc<dyn Index> =
            Arc::new(RedbIndex::open(dir.path()).await.expect("open index"));
        let registry = ProviderRegistry::new(Default::default());
        for name in names {
            registry
                .join(ProviderConfig {
                    name: (*name).to_owned(),
                    weight: 1.0,
                    prefix: String::new(),
                    kind: ProviderKind::Memory {},
                    limits: ProviderLimits::default(),
                })
                .await
                .expect("join memory provider");
        }
        let tenant = TenantId::new("alice").expect("tenant id");
        index
            .create_tenant(TenantRecord {
                id: tenant.clone(),
                name: "alice".into(),
                api_key_hash: [7; 32],
                quota_bytes: u64::MAX / 2,
                used_bytes: 0,
                created_at_unix_ms: 1,
            })
            .await
            .expect("tenant");
        Self {
            _dir: dir,
            index,
            registry,
            tenant,
            sealed: BTreeMap::new(),
        }
    }

    /// A worker that runs passes only when asked.
    pub(super) fn worker(&self, down_grace: Duration) -> RepairWorker {
        RepairWorker::new(
            self.index.clone(),
            self.registry.clone(),
            RepairSettings {
                interval: None,
                // Small pages: several pages per provider in every test.
                batch: 2,
                down_grace,
                concurrency: 3,
            },
            crate::memory_budget::MemoryBudget::new(256 << 20, Duration::from_secs(10)),
        )
    }

    /// Writes `chunks` full chunks (k+m placed like an upload) and commits
    /// them as blob `name`. Returns the chunk ids.
    pub(super) async fn put_blob(
        &mut self,
        name: &str,
        seed: u64,
        chunks: usize,
        k: u8,
        m: u8,
    ) -> Vec<ContentId> {
        let params = ErasureParams::new(usize::from(k), usize::from(m)).expect("params");
        let epoch = self.index.gc_epoch().await.expect("epoch");
        let mut records = Vec::new();
        let mut listed = Vec::new();
        for c in 0..chunks {
            let sealed = pattern(seed * 1000 + c as u64, CHUNK + TAG);
            let encoded = encode_sealed_chunk(&sealed, params).expect("encode");
            let placement = self
                .registry
                .place(
                    &encoded.chunk_id,
                    PlacementPolicy {
                        k,
                        m,
                        allow_reduced: false,
                    },
                )
                .expect("placement");
            let mut shards = Vec::new();
            for (i, (object, provider)) in encoded
                .shards
                .into_iter()
                .zip(&placement.shard_providers)
                .enumerate()
            {
                let store = self.registry.store(provider).expect("store");
                store
                    .put_shard(Bytes::from(object))
                    .await
                    .expect("put shard");
                shards.push(ShardLocation {
                    index: i as u8,
                    provider: provider.clone(),
                });
            }
            listed.push(ManifestChunk {
                id: encoded.chunk_id,
                len: CHUNK as u32,
            });
            records.push(ChunkRecord {
                chunk_id: encoded.chunk_id,
                k,
                m,
                sealed_len: encoded.sealed_len,
                shards,
                wrapped_key: Some(vec![1, 2, 3]),
                refcount: 0,
                shards_version: 0,
            });
            self.sealed.insert(encoded.chunk_id, sealed);
        }
        let total = (CHUNK * chunks) as u64;
        let manifest =
            Manifest::new(KeyMode::Managed, CHUNK, total, params, listed).expect("manifest");
        let ids = records.iter().map(|r| r.chunk_id).collect();
        let blob = BlobRecord {
            blob_id: manifest.blob_id(),
            owner: self.tenant.clone(),
            name: name.to_owned(),
            content_type: "application/octet-stream".into(),
            size: total,
            content_hash: ContentId::of(name.as_bytes()),
            key_mode: KeyMode::Managed,
            visibility: Visibility::Private,
            price: Price::default(),
            metadata: BTreeMap::new(),
            manifest: manifest.encode(),
            created_at_unix_ms: 1,
        };
        let outcome = self
            .index
            .commit_blob(NewBlob {
                blob,
                chunks: records,
                observed_gc_epoch: epoch,
            })
            .await
            .expect("commit");
        assert_eq!(outcome, CommitOutcome::Created);
        ids
    }

    pub(super) async fn record(&self, id: &ContentId) -> ChunkRecord {
        self.index
            .chunks_of(&[*id])
            .await
            .expect("chunk record")
            .remove(0)
    }

    /// Reads every shard the index lists for `id`, asserts each verifies
    /// and that they sit on distinct providers unless `shared_ok`, rebuilds
    /// from data shards only and returns the sealed bytes.
    pub(super) async fn read_back(&self, id: &ContentId, shared_ok: bool) -> Vec<u8> {
        let record = self.record(id).await;
        let total = usize::from(record.k) + usize::from(record.m);
        assert_eq!(record.shards.len(), total, "every shard listed: {record:?}");
        let mut providers: Vec<&str> = record.shards.iter().map(|l| l.provider.as_str()).collect();
        providers.sort();
        providers.dedup();
        if !shared_ok {
            assert_eq!(providers.len(), total, "distinct providers: {record:?}");
        }
        let mut bodies: Vec<Option<Vec<u8>>> = vec![None; total];
        for loc in &record.shards {
            let store = self.registry.store(&loc.provider).expect("store");
            let shard = store.get_shard(id, loc.index).await.unwrap_or_else(|e| {
                panic!(
                    "shard {} of {} on {}: {e}",
                    loc.index,
                    id.short(),
                    loc.provider
                )
            });
            assert_eq!((shard.header.k, shard.header.m), (record.k, record.m));
            bodies[usize::from(loc.index)] = Some(shard.body().to_vec());
        }
        // Parity only checked above; data shards alone must give the chunk.
        let data: Vec<Option<&[u8]>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| b.as_deref().filter(|_| i < usize::from(record.k)))
            .collect();
        let params =
            ErasureParams::new(usize::from(record.k), usize::from(record.m)).expect("params");
        let sealed = params
            .rebuild(&data, record.sealed_len as usize)
            .expect("rebuild");
        // And parity must be consistent: rebuild from the last k shards too.
        let tail: Vec<Option<&[u8]>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| b.as_deref().filter(|_| i >= total - usize::from(record.k)))
            .collect();
        assert_eq!(
            params
                .rebuild(&tail, record.sealed_len as usize)
                .expect("rebuild"),
            sealed
        );
        sealed
    }

    /// Every stored chunk reads back exactly.
    pub(super) async fn assert_all_read_back(&self, shared_ok: bool) {
        for (id, sealed) in &self.sealed {
            assert!(
                self.read_back(id, shared_ok).await == *sealed,
                "chunk {} differs",
                id.short()
            );
        }
    }

    /// Shard objects on all of `providers`, counted on the providers.
    pub(super) async fn total_objects(&self, providers: &[&str]) -> usize {
        let mut n = 0;
        for p in providers {
            n += self.objects_on(p).await;
        }
        n
    }

    /// Shard objects on a provider, counted on the provider itself.
    pub(super) async fn objects_on(&self, provider: &str) -> usize {
        let store = self.registry.store(provider).expect("store");
        let mut lister = store
            .operator()
            .lister_with("")
            .recursive(true)
            .await
            .expect("list");
        let mut n = 0;
        while let Some(entry) = lister.try_next().await.expect("list entry") {
            if entry.metadata().mode() == EntryMode::FILE && entry.path().contains("shards/") {
                n += 1;
            }
        }
        n
    }

    /// The object key of shard `index` of `id` on `provider`.
    pub(super) fn key(&self, provider: &str, id: &ContentId, index: u8) -> String {
        self.registry
            .store(provider)
            .expect("store")
            .shard_key(id, index)
    }

    /// Overwrites a stored object's body byte (the object stays the same
    /// length; its hash no longer matches).
    pub(super) async fn corrupt(&self, provider: &str, id: &ContentId, index: u8) {
        let store = self.registry.store(provider).expect("store");
        let key = store.shard_key(id, index);
        let mut bytes = store.operator().read(&key).await.expect("read").to_vec();
        bytes[SHARD_HEADER_LEN + 5] ^= 0xff;
        store.operator().write(&key, bytes).await.expect("write");
    }

    pub(super) async fn remove(&self, provider: &str, id: &ContentId, index: u8) {
        let store = self.registry.store(provider).expect("store");
        store
            .operator()
            .delete(&store.shard_key(id, index))
            .await
            .expect("delete");
    }
}

/// Deterministic bytes (xorshift), different per seed.
pub(super) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
