//! Decisions every implementation must make identically: validation of a
//! new blob against its manifest, quota arithmetic, page tokens, and the GC
//! safety rule. Storage code calls these; it never re-derives them.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use shardgate_core::{ContentId, Manifest, ProviderName};

use crate::error::IndexError;
use crate::records::{
    BlobRecord, ChunkRecord, MAX_BLOB_NAME_LEN, MAX_CONTENT_TYPE_LEN, MAX_METADATA_ENTRIES,
    MAX_METADATA_ITEM_LEN, MAX_PAGE_LIMIT, NewBlob, ProviderRecord, ShardLocation,
};

/// Wall-clock milliseconds, for tombstone ages (retention only; safety
/// never depends on the clock).
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The distinct chunk ids a stored manifest references, sorted.
pub fn manifest_chunk_ids(manifest: &[u8]) -> Result<BTreeSet<ContentId>, IndexError> {
    let manifest = Manifest::decode(manifest)
        .map_err(|e| IndexError::invalid(format!("manifest does not decode: {e}")))?;
    Ok(manifest.chunks().iter().map(|c| c.id).collect())
}

/// Checks a `NewBlob` is self-consistent: bounded fields, the blob id is the
/// manifest's hash, size and key mode match it, and `chunks` holds exactly
/// one well-formed record per distinct chunk the manifest lists.
pub fn check_new_blob(new: &NewBlob) -> Result<(), IndexError> {
    let blob = &new.blob;
    check_blob_fields(blob)?;
    let manifest = Manifest::decode(&blob.manifest)
        .map_err(|e| IndexError::invalid(format!("manifest does not decode: {e}")))?;
    if manifest.blob_id() != blob.blob_id {
        return Err(IndexError::invalid(format!(
            "blob id {} is not the manifest's hash {}",
            blob.blob_id,
            manifest.blob_id()
        )));
    }
    if manifest.total_len() != blob.size {
        return Err(IndexError::invalid(format!(
            "size {} differs from the manifest's {}",
            blob.size,
            manifest.total_len()
        )));
    }
    if manifest.key_mode() != blob.key_mode {
        return Err(IndexError::invalid("key mode differs from the manifest's"));
    }
    let wanted: BTreeSet<ContentId> = manifest.chunks().iter().map(|c| c.id).collect();
    let mut given = BTreeSet::new();
    for chunk in &new.chunks {
        check_chunk(chunk)?;
        if !given.insert(chunk.chunk_id) {
            return Err(IndexError::invalid(format!(
                "chunk {} listed twice",
                chunk.chunk_id
            )));
        }
    }
    if given != wanted {
        return Err(IndexError::invalid(format!(
            "chunk records ({}) do not match the manifest's distinct chunks ({})",
            given.len(),
            wanted.len()
        )));
    }
    Ok(())
}

fn check_blob_fields(blob: &BlobRecord) -> Result<(), IndexError> {
    if blob.name.len() > MAX_BLOB_NAME_LEN {
        return Err(IndexError::invalid(format!(
            "name longer than {MAX_BLOB_NAME_LEN} bytes"
        )));
    }
    if blob.content_type.len() > MAX_CONTENT_TYPE_LEN {
        return Err(IndexError::invalid(format!(
            "content type longer than {MAX_CONTENT_TYPE_LEN} bytes"
        )));
    }
    if blob.metadata.len() > MAX_METADATA_ENTRIES {
        return Err(IndexError::invalid(format!(
            "more than {MAX_METADATA_ENTRIES} metadata entries"
        )));
    }
    let too_long = |s: &String| s.len() > MAX_METADATA_ITEM_LEN;
    if blob
        .metadata
        .iter()
        .any(|(k, v)| too_long(k) || too_long(v))
    {
        return Err(IndexError::invalid(format!(
            "metadata key or value longer than {MAX_METADATA_ITEM_LEN} bytes"
        )));
    }
    Ok(())
}

/// A chunk record's shard list must fit its own `(k, m)`.
pub fn check_chunk(chunk: &ChunkRecord) -> Result<(), IndexError> {
    if chunk.k == 0 || chunk.m == 0 {
        return Err(IndexError::invalid(format!(
            "chunk {}: k and m must be at least 1",
            chunk.chunk_id
        )));
    }
    check_shards(&chunk.chunk_id, chunk.k, chunk.m, &chunk.shards)
}

/// Distinct shard indexes below `k + m`, bounded provider names.
pub fn check_shards(
    id: &ContentId,
    k: u8,
    m: u8,
    shards: &[ShardLocation],
) -> Result<(), IndexError> {
    let total = u16::from(k) + u16::from(m);
    let mut seen = BTreeSet::new();
    for shard in shards {
        if u16::from(shard.index) >= total || !seen.insert(shard.index) {
            return Err(IndexError::invalid(format!(
                "chunk {id}: shard index {} duplicated or not below k+m={total}",
                shard.index
            )));
        }
        check_provider_name(&shard.provider)?;
    }
    Ok(())
}

/// `Invalid` unless the name follows core's rule ([`ProviderName`]).
pub fn check_provider_name(name: &str) -> Result<(), IndexError> {
    ProviderName::check(name).map_err(|e| IndexError::invalid(e.to_string()))
}

/// `Invalid` for a bad name or a weight that is negative or not finite.
pub fn check_provider(p: &ProviderRecord) -> Result<(), IndexError> {
    check_provider_name(&p.name)?;
    if !p.weight.is_finite() || p.weight < 0.0 {
        return Err(IndexError::invalid(
            "provider weight must be finite and >= 0",
        ));
    }
    Ok(())
}

/// `QuotaExceeded` unless `requested` more bytes fit.
pub fn check_quota(used: u64, quota: u64, requested: u64) -> Result<(), IndexError> {
    match used.checked_add(requested) {
        Some(total) if total <= quota => Ok(()),
        _ => Err(IndexError::QuotaExceeded {
            used,
            quota,
            requested,
        }),
    }
}

/// Page size actually used: at least 1, at most `MAX_PAGE_LIMIT`.
pub fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_LIMIT)
}

/// Version tag of page tokens, so a later format can be told apart.
const PAGE_TOKEN_V1: &str = "p1";

/// An opaque page token naming the last listed (name, blob id): the next
/// page starts strictly after that position, so it survives inserts and
/// deletes in between.
pub fn encode_page_token(name: &str, id: &ContentId) -> String {
    format!("{PAGE_TOKEN_V1}.{}.{}", hex::encode(name), id.to_hex())
}

/// Inverse of [`encode_page_token`]; `Invalid` for anything else.
pub fn decode_page_token(token: &str) -> Result<(String, ContentId), IndexError> {
    let bad = || IndexError::invalid("malformed page token");
    let mut parts = token.split('.');
    let (Some(PAGE_TOKEN_V1), Some(name_hex), Some(id_hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let name = hex::decode(name_hex)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let id: ContentId = id_hex.parse().map_err(|_| bad())?;
    Ok((name, id))
}
