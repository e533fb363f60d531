//! Index records → proto messages.

use std::collections::BTreeSet;

use shardgate_backends::placement::fault_tolerance;
use shardgate_core::{KeyMode, Manifest, StreamLayout};
use shardgate_index::{BlobRecord, ChunkRecord, Price, TenantRecord, Visibility};
use shardgate_proto::v1 as pb;

use crate::error::BrokerError;

/// Redundancy actually achieved by a set of chunks of a blob coded `k + m`.
pub(crate) fn redundancy_report(
    k: usize,
    m: usize,
    chunks: &[ChunkRecord],
) -> pb::RedundancyReport {
    let mut min_distinct = k + m;
    let mut tolerated = m;
    for chunk in chunks {
        let providers: Vec<String> = chunk.shards.iter().map(|s| s.provider.clone()).collect();
        let distinct: BTreeSet<&String> = providers.iter().collect();
        min_distinct = min_distinct.min(distinct.len());
        tolerated = tolerated.min(fault_tolerance(&providers, usize::from(chunk.k)));
    }
    let reduced = tolerated < m;
    pb::RedundancyReport {
        k: k as u32,
        m: m as u32,
        min_distinct_providers: min_distinct as u32,
        tolerated_provider_failures: tolerated as u32,
        reduced,
        reduced_reason: if reduced {
            format!(
                "some chunks have shards on only {min_distinct} distinct providers for k+m = {}",
                k + m
            )
        } else {
            String::new()
        },
    }
}

/// The decoded manifest of a stored blob.
pub(crate) fn manifest_of(blob: &BlobRecord) -> Result<Manifest, BrokerError> {
    Manifest::decode(&blob.manifest).map_err(|e| {
        BrokerError::Internal(format!(
            "stored manifest of blob {} does not decode: {e}",
            blob.blob_id
        ))
    })
}

/// A blob's description for Stat, List, Get and UpdateBlob.
pub(crate) fn blob_info(
    blob: &BlobRecord,
    chunks: &[ChunkRecord],
    owned_by_caller: bool,
) -> Result<pb::BlobInfo, BrokerError> {
    let manifest = manifest_of(blob)?;
    let params = manifest.params();
    let e2e = manifest.key_mode() == KeyMode::EndToEnd;
    Ok(pb::BlobInfo {
        blob_id: blob.blob_id.to_hex(),
        name: blob.name.clone(),
        content_type: blob.content_type.clone(),
        size_bytes: StreamLayout::blob_len(&manifest),
        content_hash: blob.content_hash.to_hex(),
        key_mode: if e2e {
            pb::KeyMode::EndToEnd
        } else {
            pb::KeyMode::Managed
        } as i32,
        chunk_size_bytes: manifest.chunk_size() as u32,
        chunk_count: manifest.chunks().len() as u64,
        redundancy: Some(redundancy_report(params.k(), params.m(), chunks)),
        price: Some(price(blob.price)),
        visibility: visibility(blob.visibility) as i32,
        metadata: blob.metadata.clone().into_iter().collect(),
        created_at: Some(timestamp(blob.created_at_unix_ms)),
        // The index keeps no separate change time yet.
        updated_at: Some(timestamp(blob.created_at_unix_ms)),
        owned_by_caller,
        end_to_end_scheme: if e2e {
            pb::EndToEndScheme::Aes256GcmHkdfSha256V1 as i32
        } else {
            pb::EndToEndScheme::Unspecified as i32
        },
        plaintext_size_bytes: manifest.total_len(),
    })
}

pub(crate) fn price(p: Price) -> pb::Price {
    pb::Price {
        flat_msat: p.flat_msat,
        per_mib_msat: p.per_mib_msat,
    }
}

pub(crate) fn visibility(v: Visibility) -> pb::Visibility {
    match v {
        Visibility::Private => pb::Visibility::Private,
        Visibility::Public => pb::Visibility::Public,
    }
}

pub(crate) fn timestamp(unix_ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (unix_ms / 1000) as i64,
        nanos: ((unix_ms % 1000) * 1_000_000) as i32,
    }
}

/// A tenant as Admin RPCs show it.
pub(crate) fn tenant(t: &TenantRecord, blob_count: u64) -> pb::Tenant {
    pb::Tenant {
        tenant_id: t.id.to_string(),
        name: t.name.clone(),
        quota_bytes: t.quota_bytes,
        used_bytes: t.used_bytes,
        blob_count,
        created_at: Some(timestamp(t.created_at_unix_ms)),
        // The index keeps no key issue time yet.
        key_issued_at: Some(timestamp(t.created_at_unix_ms)),
    }
}
