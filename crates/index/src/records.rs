//! The plain records every [`crate::Index`] implementation stores.
//!
//! They carry no storage concerns: redb stores them with the crate's own
//! versioned encoding (`codec.rs`), PostgreSQL maps them to columns.

use std::collections::BTreeMap;
use std::fmt;

use shardgate_core::{ContentId, KeyMode};

use crate::error::IndexError;

/// Longest tenant id, in bytes.
pub const MAX_TENANT_ID_LEN: usize = 64;
/// Longest blob name, in bytes (names are listed and sorted, so bounded).
pub const MAX_BLOB_NAME_LEN: usize = 1024;
/// Longest content type, in bytes.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// Most user metadata entries per blob.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Longest metadata key or value, in bytes.
pub const MAX_METADATA_ITEM_LEN: usize = 1024;
/// Longest provider name, in bytes: core's [`ProviderName`](shardgate_core::ProviderName) rule
/// (shard locations repeat it per shard).
pub const MAX_PROVIDER_NAME_LEN: usize = shardgate_core::ProviderName::MAX_LEN;
/// Most records one listing or GC call returns; larger limits are clamped.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// A tenant's id: `[a-z0-9-]{1,64}`, so it is safe in keys, logs and URLs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Checks the alphabet and length.
    pub fn new(id: impl Into<String>) -> Result<Self, IndexError> {
        let id = id.into();
        let ok_len = !id.is_empty() && id.len() <= MAX_TENANT_ID_LEN;
        let ok_chars = id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok_len && ok_chars {
            Ok(TenantId(id))
        } else {
            Err(IndexError::invalid(format!(
                "tenant id must be 1..={MAX_TENANT_ID_LEN} chars of [a-z0-9-], got {id:?}"
            )))
        }
    }

    /// The id as validated (1..=`MAX_TENANT_ID_LEN` chars of `[a-z0-9-]`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// A tenant and its storage account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    /// The tenant's unique id.
    pub id: TenantId,
    /// Display name, free text.
    pub name: String,
    /// BLAKE3 of the tenant's API key; the raw key is never stored.
    pub api_key_hash: [u8; 32],
    /// Most bytes (plaintext `size` summed over its blobs) it may store.
    pub quota_bytes: u64,
    /// Sum of `size` over the tenant's blobs. Maintained by the index: the
    /// value passed to `create_tenant` must be 0.
    pub used_bytes: u64,
    /// When the tenant was created, unix milliseconds.
    pub created_at_unix_ms: u64,
}

/// Who may download a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Only the owner (with its API key).
    Private,
    /// Anyone who pays, found by blob id alone.
    Public,
}

/// A download price set by the owner (within the broker's bounds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Price {
    /// Charged per download whatever its length, msat.
    pub flat_msat: u64,
    /// Charged per MiB (2^20 bytes) downloaded, msat.
    pub per_mib_msat: u64,
}

/// One blob as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRecord {
    /// BLAKE3 of `manifest` (checked on commit).
    pub blob_id: ContentId,
    /// The tenant that uploaded it (and is charged for its size).
    pub owner: TenantId,
    /// The owner's name for it (free text, not unique); listings are
    /// ordered by (name, blob id).
    pub name: String,
    /// MIME type given at upload, served back on download.
    pub content_type: String,
    /// Plaintext length; equals the manifest's total length.
    pub size: u64,
    /// BLAKE3 of the plaintext, for clients to verify downloads.
    pub content_hash: ContentId,
    /// Equals the manifest's key mode.
    pub key_mode: KeyMode,
    /// Who may download it.
    pub visibility: Visibility,
    /// What a paid download costs, set by the owner.
    pub price: Price,
    /// Free key/value pairs given at upload (bounded by
    /// `MAX_METADATA_ENTRIES` and `MAX_METADATA_ITEM_LEN`).
    pub metadata: BTreeMap<String, String>,
    /// Canonical `shardgate_core::Manifest` bytes.
    pub manifest: Vec<u8>,
    /// When the blob was committed, unix milliseconds.
    pub created_at_unix_ms: u64,
}

/// Where shard `index` of a chunk lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardLocation {
    /// The shard's position in the erasure code, `< k + m` (data shards first).
    pub index: u8,
    /// A provider name (see [`ProviderRecord::name`]).
    pub provider: String,
}

/// One erasure-coded chunk and where its shards are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRecord {
    /// BLAKE3 of the sealed (encrypted) chunk.
    pub chunk_id: ContentId,
    /// Data shards: any `k` shards rebuild the chunk.
    pub k: u8,
    /// Parity shards: up to `m` shards may be lost.
    pub m: u8,
    /// Length of the sealed chunk (ciphertext + tag).
    pub sealed_len: u32,
    /// One entry per stored shard, distinct indexes `< k + m`.
    pub shards: Vec<ShardLocation>,
    /// The chunk key wrapped under the key-encryption key (managed mode
    /// only; end-to-end keys never reach the broker).
    pub wrapped_key: Option<Vec<u8>>,
    /// Number of blobs (over all tenants) whose manifest lists this chunk;
    /// a blob listing a chunk twice counts once. Maintained by the index:
    /// ignored on input.
    pub refcount: u64,
    /// How many times `update_chunk_shards` has rewritten the shard list
    /// (0 for a chunk as uploaded). Repair's compare-and-set is on this
    /// number, not on the list: a repair that restores a shard in place
    /// leaves the list as it was, and two replicas must still see that the
    /// record changed under them. Maintained by the index: ignored on input.
    pub shards_version: u64,
}

/// Everything `commit_blob` writes, in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlob {
    /// The blob record as stored (its `owner` is charged `size`).
    pub blob: BlobRecord,
    /// One record per distinct chunk of the manifest: for a chunk that was
    /// deduplicated, the record `live_chunks` returned; for one the upload
    /// wrote, the new shard locations. `refcount` is ignored.
    pub chunks: Vec<ChunkRecord>,
    /// `gc_epoch()` as read *before* the upload looked up live chunks and
    /// wrote any shard (see the crate README, "GC safety").
    pub observed_gc_epoch: u64,
}

/// What `update_chunk_shards` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardUpdate {
    /// The record was at the expected version; it now holds the new
    /// locations, one version later.
    Updated(ChunkRecord),
    /// Someone updated the record first (another replica's repair);
    /// nothing was written. The record as it is now.
    Changed(ChunkRecord),
}

/// What `commit_blob` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new blob; quota charged, chunk references counted.
    Created,
    /// The owner already had this blob id: name, metadata, price and
    /// visibility replaced; nothing counted twice.
    AlreadyExisted,
}

/// Whether the placement may put new shards on a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderState {
    /// Takes new shards.
    Active,
    /// Leaving: no new shards; the repair worker moves its shards away.
    Draining,
}

/// A storage provider the registry must remember across restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderRecord {
    /// The provider's unique name (1..=`MAX_PROVIDER_NAME_LEN` bytes), as
    /// written in [`ShardLocation::provider`].
    pub name: String,
    /// Provider config with credentials, encrypted by the broker.
    pub config_sealed: Vec<u8>,
    /// Placement weight (finite, >= 0).
    pub weight: f64,
    /// Whether placement may still choose it.
    pub state: ProviderState,
}
