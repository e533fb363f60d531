//! Records for the cases: valid manifests with chunk ids derived from short
//! seeds, so a case reads as "blob a = chunks {x, y}".

use std::collections::BTreeMap;
use std::sync::Arc;

use shardgate_core::{ContentId, ErasureParams, KeyMode, MIN_CHUNK_SIZE, Manifest, ManifestChunk};

use crate::{
    ChunkRecord, CommitOutcome, Index, IndexError, NewBlob, Price, ShardLocation, TenantId,
    TenantRecord, Visibility,
};

/// Plaintext bytes per chunk in every fixture blob (the smallest allowed
/// chunk size, so sizes are easy to reason about).
pub const CHUNK: u64 = MIN_CHUNK_SIZE as u64;

/// The chunk id of a seed.
pub fn cid(seed: &str) -> ContentId {
    ContentId::of(format!("chunk:{seed}").as_bytes())
}

/// A `TenantId` from a literal known to be valid (panics otherwise).
pub fn tid(id: &str) -> TenantId {
    TenantId::new(id).expect("fixture tenant id")
}

/// API key hash of a fixture tenant.
pub fn key_hash(label: &str) -> [u8; 32] {
    *ContentId::of(format!("key:{label}").as_bytes()).as_bytes()
}

/// A fresh tenant record with this quota, nothing used, and a key hash
/// derived from the id.
pub fn tenant(id: &str, quota_bytes: u64) -> TenantRecord {
    TenantRecord {
        id: tid(id),
        name: format!("Tenant {id}"),
        api_key_hash: key_hash(id),
        quota_bytes,
        used_bytes: 0,
        created_at_unix_ms: 1_700_000_000_000,
    }
}

/// A k=2, m=1 chunk record with shards on `providers[0..3]`.
pub fn chunk_on(seed: &str, providers: [&str; 3]) -> ChunkRecord {
    ChunkRecord {
        chunk_id: cid(seed),
        k: 2,
        m: 1,
        sealed_len: CHUNK as u32 + 16,
        shards: providers
            .iter()
            .enumerate()
            .map(|(i, p)| ShardLocation {
                index: i as u8,
                provider: (*p).to_string(),
            })
            .collect(),
        wrapped_key: Some(format!("wrapped:{seed}").into_bytes()),
        refcount: 0,
        shards_version: 0,
    }
}

/// The record of `seed`'s chunk with one shard on each of `p0`, `p1`, `p2`.
pub fn chunk(seed: &str) -> ChunkRecord {
    chunk_on(seed, ["p0", "p1", "p2"])
}

/// A valid new blob of `owner` whose manifest lists the seeds' chunks in
/// order (repeats allowed), every chunk full.
pub fn new_blob(owner: &TenantId, name: &str, seeds: &[&str], observed_gc_epoch: u64) -> NewBlob {
    let total = CHUNK * seeds.len() as u64;
    let params = ErasureParams::new(2, 1).expect("fixture params");
    let listed = seeds
        .iter()
        .map(|s| ManifestChunk {
            id: cid(s),
            len: CHUNK as u32,
        })
        .collect();
    let manifest = Manifest::new(KeyMode::Managed, CHUNK as usize, total, params, listed)
        .expect("fixture manifest");
    let mut distinct: Vec<&str> = seeds.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    NewBlob {
        blob: crate::BlobRecord {
            blob_id: manifest.blob_id(),
            owner: owner.clone(),
            name: name.to_string(),
            content_type: "application/octet-stream".into(),
            size: total,
            content_hash: ContentId::of(name.as_bytes()),
            key_mode: KeyMode::Managed,
            visibility: Visibility::Private,
            price: Price {
                flat_msat: 1000,
                per_mib_msat: 10,
            },
            metadata: BTreeMap::from([("origin".to_string(), name.to_string())]),
            manifest: manifest.encode(),
            created_at_unix_ms: 1_700_000_000_001,
        },
        chunks: distinct.into_iter().map(chunk).collect(),
        observed_gc_epoch,
    }
}

/// Reads the epoch, commits, and expects `Created`.
pub async fn commit(
    index: &Arc<dyn Index>,
    owner: &TenantId,
    name: &str,
    seeds: &[&str],
) -> NewBlob {
    let epoch = index.gc_epoch().await.expect("gc_epoch");
    let new = new_blob(owner, name, seeds, epoch);
    let outcome = index.commit_blob(new.clone()).await;
    assert_eq!(outcome, Ok(CommitOutcome::Created), "commit {name}");
    new
}

/// The tenant's `used_bytes` now (panics if it does not exist).
pub async fn used(index: &Arc<dyn Index>, owner: &TenantId) -> u64 {
    index
        .tenant(owner)
        .await
        .expect("tenant")
        .expect("tenant exists")
        .used_bytes
}

/// The refcount of a seed's chunk, `None` if it has no record.
pub async fn refcount(index: &Arc<dyn Index>, seed: &str) -> Option<u64> {
    match index.chunks_of(&[cid(seed)]).await {
        Ok(records) => Some(records[0].refcount),
        Err(IndexError::NotFound { .. }) => None,
        Err(e) => panic!("chunks_of {seed}: {e}"),
    }
}

/// True when `live_chunks` returns a record for `seed`'s chunk (it can be
/// deduplicated against).
pub async fn is_live(index: &Arc<dyn Index>, seed: &str) -> bool {
    index.live_chunks(&[cid(seed)]).await.expect("live_chunks")[0].is_some()
}

/// Deletes every shard of the condemned chunks (nothing to do here: the
/// index holds no shards) and finishes them: one full GC pass.
pub async fn gc_pass(index: &Arc<dyn Index>) -> Vec<ContentId> {
    let condemned = index.gc_condemn(1000).await.expect("gc_condemn");
    let ids: Vec<ContentId> = condemned.iter().map(|c| c.chunk_id).collect();
    index.gc_finish(&ids).await.expect("gc_finish");
    ids
}

/// True when `r` is a `Conflict` error.
pub fn is_conflict<T: std::fmt::Debug>(r: &Result<T, IndexError>) -> bool {
    matches!(r, Err(IndexError::Conflict { .. }))
}
