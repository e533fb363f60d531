//! Storage.GetShardLocations: presigned shard URLs for a paid range, so the
//! SDK downloads straight from the providers. Authorized exactly as Get
//! (through the `PaymentGate`); nothing is used up when the range cannot be
//! served this way.

use std::sync::Arc;
use std::time::Duration;

use shardgate_core::aead::MANAGED_AAD;
use shardgate_core::erasure::shard_len_for;
use shardgate_core::keys::KEY_LEN;
use shardgate_core::{KeyMode, SHARD_HEADER_LEN, StreamLayout, WrappedChunkKey};
use shardgate_index::{ChunkRecord, TenantRecord};
use shardgate_proto::v1 as pb;

use crate::clock::now_unix_ms;
use crate::convert::{manifest_of, timestamp};
use crate::error::BrokerError;
use crate::get::range::served_range;
use crate::get::{RangeChunks, range_chunks};
use crate::lookup::find_blob;
use crate::payment::{DownloadEnd, DownloadRequest};
use crate::state::Broker;
use crate::validate::parse_id;

/// Shortest URL validity a request may ask for.
pub(crate) const MIN_URL_TTL: Duration = Duration::from_secs(60);
/// Longest URL validity (Limits.max_url_ttl).
pub(crate) const MAX_URL_TTL: Duration = Duration::from_secs(3600);
/// Validity when the request leaves it unset (Limits.default_url_ttl).
pub(crate) const DEFAULT_URL_TTL: Duration = Duration::from_secs(300);
/// Shard object format the URLs point at.
const SHARD_FORMAT_VERSION: u32 = 1;

pub(crate) async fn shard_locations(
    broker: Arc<Broker>,
    caller: Option<TenantRecord>,
    credential: Option<&str>,
    request: pb::GetShardLocationsRequest,
    payer: crate::limits::Payer,
) -> Result<pb::GetShardLocationsResponse, BrokerError> {
    let blob_id = parse_id(&request.blob_id, "blob_id")?;
    let ttl = url_ttl(request.url_ttl.as_ref())?;
    let blob = find_blob(&broker, caller.as_ref(), &blob_id).await?;
    let manifest = manifest_of(&blob)?;
    let range = served_range(StreamLayout::blob_len(&manifest), request.range.as_ref())?;
    let RangeChunks {
        layout,
        first,
        entries,
        records,
    } = range_chunks(&broker, &manifest, range).await?;
    // Checked before the payment gate: a range that cannot be served this
    // way must not use up a credential.
    for (i, record) in records.iter().enumerate() {
        let presignable = presignable(&broker, record).len();
        if presignable < usize::from(record.k) {
            return Err(BrokerError::FailedPrecondition(format!(
                "chunk {} has {presignable} shards on providers that can presign URLs, fewer than k={} (fs and memory providers cannot); use Storage.Get",
                first + i as u64,
                record.k
            )));
        }
    }
    let payment = DownloadRequest {
        direct: true,
        share: None,
        payer,
        ..DownloadRequest::default()
    };
    let grant = broker
        .payments
        .authorize(&blob, range, payment, credential)
        .await?;
    let mut settlement = grant.settlement;
    let located = locate(&broker, layout, first, &entries, &records, ttl).await;
    match located {
        Ok((chunks, served_by)) => {
            settlement.count_shards(served_by.iter().map(String::as_str));
            settlement.finish(DownloadEnd::Delivered);
            Ok(pb::GetShardLocationsResponse {
                range: Some(pb::ServedRange {
                    offset: range.offset,
                    length: range.length,
                }),
                chunks,
                urls_expire_at: Some(timestamp(now_unix_ms() + ttl.as_millis() as u64)),
                uses_remaining: grant.uses_remaining,
                key_mode: match manifest.key_mode() {
                    KeyMode::Managed => pb::KeyMode::Managed,
                    KeyMode::EndToEnd => pb::KeyMode::EndToEnd,
                } as i32,
            })
        }
        Err(e) => {
            settlement.finish(DownloadEnd::BrokerFailure);
            Err(e)
        }
    }
}

/// The presigned locations of every chunk, and the providers a reader will
/// fetch from (the first k presigned shards of each chunk, data shards
/// first) — the providers this download pays.
async fn locate(
    broker: &Broker,
    layout: StreamLayout,
    first: u64,
    entries: &[shardgate_core::ManifestChunk],
    records: &[ChunkRecord],
    ttl: Duration,
) -> Result<(Vec<pb::ChunkLocation>, Vec<String>), BrokerError> {
    let mut served_by = Vec::new();
    let mut chunks = Vec::with_capacity(records.len());
    for (i, (entry, record)) in entries.iter().zip(records).enumerate() {
        let index = first + i as u64;
        let object_size = (SHARD_HEADER_LEN
            + shard_len_for(record.sealed_len as usize, usize::from(record.k)))
            as u64;
        let mut shards = Vec::new();
        let mut usable = presignable(broker, record);
        usable.sort_by_key(|(loc, _)| loc.index);
        served_by.extend(
            usable
                .iter()
                .take(usize::from(record.k))
                .map(|(loc, _)| loc.provider.clone()),
        );
        for (loc, store) in usable {
            let key = store.shard_key(&record.chunk_id, loc.index);
            let presigned = store.presign_get(&key, ttl).await?;
            shards.push(pb::ShardLocation {
                shard_index: u32::from(loc.index),
                provider: loc.provider.clone(),
                url: presigned.url,
                object_size_bytes: object_size,
            });
        }
        let managed_key = match layout.key_mode() {
            KeyMode::Managed => Some(managed_key(broker, record)?),
            KeyMode::EndToEnd => None,
        };
        chunks.push(pb::ChunkLocation {
            chunk_index: index,
            chunk_id: record.chunk_id.to_hex(),
            offset: layout.chunk_start(index),
            length: layout.chunk_len(u64::from(entry.len)),
            ciphertext_length: u64::from(record.sealed_len),
            k: u32::from(record.k),
            m: u32::from(record.m),
            shard_format_version: SHARD_FORMAT_VERSION,
            shards,
            managed_key,
        });
    }
    Ok((chunks, served_by))
}

fn url_ttl(requested: Option<&prost_types::Duration>) -> Result<Duration, BrokerError> {
    let Some(d) = requested else {
        return Ok(DEFAULT_URL_TTL);
    };
    let secs = u64::try_from(d.seconds).ok().filter(|_| d.nanos >= 0);
    match secs.map(Duration::from_secs) {
        Some(ttl) if (MIN_URL_TTL..=MAX_URL_TTL).contains(&ttl) => Ok(ttl),
        _ => Err(BrokerError::invalid(
            "url_ttl",
            format!(
                "must be {}..={} seconds",
                MIN_URL_TTL.as_secs(),
                MAX_URL_TTL.as_secs()
            ),
        )),
    }
}

/// The shard locations of `record` on joined providers that can presign.
fn presignable<'a>(
    broker: &Broker,
    record: &'a ChunkRecord,
) -> Vec<(
    &'a shardgate_index::ShardLocation,
    shardgate_backends::ShardStore,
)> {
    record
        .shards
        .iter()
        .filter_map(|loc| {
            let store = broker.registry.store(&loc.provider).ok()?;
            store.capability().presign_read.then_some((loc, store))
        })
        .collect()
}

/// The chunk's AES-256-GCM key, nonce and AAD, revealed for a paid chunk.
fn managed_key(broker: &Broker, record: &ChunkRecord) -> Result<pb::ManagedChunkKey, BrokerError> {
    let wrapped = record.wrapped_key.as_deref().ok_or_else(|| {
        BrokerError::Internal(format!(
            "managed chunk {} has no wrapped key",
            record.chunk_id.short()
        ))
    })?;
    let key = broker
        .keys
        .kek()
        .unwrap_chunk_key(&record.chunk_id, &WrappedChunkKey::from_slice(wrapped)?)
        .map_err(|_| {
            BrokerError::Internal(format!(
                "the key of chunk {} does not unwrap (different master key?)",
                record.chunk_id.short()
            ))
        })?;
    let bytes = key.expose_bytes();
    Ok(pb::ManagedChunkKey {
        key: bytes[..KEY_LEN].to_vec(),
        nonce: bytes[KEY_LEN..].to_vec(),
        aad: MANAGED_AAD.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_ttl_bounds() {
        assert_eq!(url_ttl(None).unwrap(), DEFAULT_URL_TTL);
        let d = |seconds| prost_types::Duration { seconds, nanos: 0 };
        assert_eq!(url_ttl(Some(&d(60))).unwrap(), MIN_URL_TTL);
        assert!(url_ttl(Some(&d(59))).is_err());
        assert!(url_ttl(Some(&d(3601))).is_err());
        assert!(url_ttl(Some(&d(-5))).is_err());
    }
}
