//! The end of an upload: the manifest, one index commit, and — if GC won a
//! race against it — one retry with the chunks written again.

use std::collections::BTreeSet;

use shardgate_backends::PlacementPolicy;
use shardgate_core::{ContentId, Manifest};
use shardgate_index::{BlobRecord, ChunkRecord, CommitOutcome, IndexError, NewBlob, TenantRecord};
use shardgate_proto::v1::PutResponse;

use crate::clock::now_unix_ms;
use crate::convert::redundancy_report;
use crate::error::BrokerError;
use crate::put::pipeline::{OwnChunk, StoredChunk};
use crate::put::write::write_shards;
use crate::state::Broker;
use crate::validate::UploadPlan;

/// Builds the manifest and blob record and commits them.
pub(super) async fn commit(
    broker: &Broker,
    tenant: &TenantRecord,
    plan: &UploadPlan,
    chunks: Vec<StoredChunk>,
    received: u64,
    content_hash: ContentId,
    observed_gc_epoch: u64,
) -> Result<PutResponse, BrokerError> {
    let entries: Vec<_> = chunks.iter().map(|c| c.entry).collect();
    // Every END_TO_END piece was checked to be longer than its tag.
    let plaintext_len = plan
        .layout()
        .plaintext_len(received, chunks.len() as u64)
        .ok_or_else(|| {
            BrokerError::Internal(format!(
                "{received} bytes received cannot hold {} sealed chunks",
                chunks.len()
            ))
        })?;
    let manifest = Manifest::new(
        plan.key_mode,
        plan.chunk_size,
        plaintext_len,
        plan.params,
        entries,
    )?;
    let deduplicated = chunks.iter().filter(|c| c.deduplicated).count() as u64;
    // The index wants one record per distinct chunk.
    let mut seen = BTreeSet::new();
    let distinct: Vec<StoredChunk> = chunks
        .into_iter()
        .filter(|c| seen.insert(c.entry.id))
        .collect();
    let records: Vec<ChunkRecord> = distinct.iter().map(|c| c.record.clone()).collect();
    let blob = BlobRecord {
        blob_id: manifest.blob_id(),
        owner: tenant.id.clone(),
        name: plan.name.clone(),
        content_type: plan.content_type.clone(),
        size: plaintext_len,
        content_hash,
        key_mode: plan.key_mode,
        visibility: plan.visibility,
        price: plan.price,
        metadata: plan.metadata.clone(),
        manifest: manifest.encode(),
        created_at_unix_ms: now_unix_ms(),
    };
    let blob_id = blob.blob_id;
    let first = broker
        .index
        .commit_blob(NewBlob {
            blob: blob.clone(),
            chunks: records.clone(),
            observed_gc_epoch,
        })
        .await;
    let (outcome, records) = match first {
        Ok(outcome) => (outcome, records),
        Err(IndexError::Conflict { .. }) => {
            retry_after_gc_race(broker, plan, blob, &distinct).await?
        }
        Err(e) => return Err(e.into()),
    };
    let redundancy = redundancy_report(plan.params.k(), plan.params.m(), &records);
    tracing::info!(blob = %blob_id.short(), bytes = received, ?outcome, "blob committed");
    Ok(PutResponse {
        blob_id: blob_id.to_hex(),
        size_bytes: received,
        content_hash: content_hash.to_hex(),
        chunk_count: manifest.chunks().len() as u64,
        chunks_deduplicated: deduplicated,
        redundancy: Some(redundancy),
        already_existed: outcome == CommitOutcome::AlreadyExisted,
    })
}

/// A commit failed with `Conflict`: GC condemned or released a chunk this
/// upload reused or wrote after the epoch was read, so its shards may be
/// gone. If the upload kept its own shards (within the retry budget), go
/// through the upload's steps once more — read the epoch, look up live
/// chunks, write the others again — and commit again. Otherwise, or if GC
/// wins again, the client must retry the upload (UNAVAILABLE).
async fn retry_after_gc_race(
    broker: &Broker,
    plan: &UploadPlan,
    blob: BlobRecord,
    chunks: &[StoredChunk],
) -> Result<(CommitOutcome, Vec<ChunkRecord>), BrokerError> {
    let raced = || {
        BrokerError::Unavailable(
            "garbage collection raced this upload; nothing was committed, retry the upload"
                .to_owned(),
        )
    };
    let Some(own): Option<Vec<&OwnChunk>> = chunks.iter().map(|c| c.retained.as_ref()).collect()
    else {
        return Err(raced());
    };
    tracing::info!(blob = %blob.blob_id.short(), "commit lost a race with GC; writing chunks again");
    let observed_gc_epoch = broker.index.gc_epoch().await?;
    let ids: Vec<ContentId> = chunks.iter().map(|c| c.entry.id).collect();
    let live = broker.index.live_chunks(&ids).await?;
    let policy = PlacementPolicy {
        k: plan.params.k() as u8,
        m: plan.params.m() as u8,
        allow_reduced: plan.allow_reduced,
    };
    let mut records = Vec::with_capacity(chunks.len());
    for ((id, own), live) in ids.iter().zip(own).zip(live) {
        if let Some(record) = live {
            records.push(record);
            continue;
        }
        let placement = broker.registry.place(id, policy)?;
        let shards = write_shards(
            &broker.registry,
            id,
            &placement.shard_providers,
            &own.shards,
        )
        .await?;
        records.push(ChunkRecord {
            chunk_id: *id,
            k: policy.k,
            m: policy.m,
            sealed_len: own.sealed_len,
            shards,
            wrapped_key: own.wrapped_key.clone(),
            refcount: 0,
            shards_version: 0,
        });
    }
    let result = broker
        .index
        .commit_blob(NewBlob {
            blob,
            chunks: records.clone(),
            observed_gc_epoch,
        })
        .await;
    match result {
        Ok(outcome) => Ok((outcome, records)),
        Err(IndexError::Conflict { .. }) => Err(raced()),
        Err(e) => Err(e.into()),
    }
}
