//! [`ShardStore`]: shard objects on one provider.
//!
//! Puts live in `put.rs`, next to the content-addressing rules they follow.

use std::ops::Range;

use bytes::Bytes;
use futures::TryStreamExt;
use opendal::{Capability, ErrorKind, Operator};
use shardgate_core::erasure::{MAX_SEALED_CHUNK_LEN, shard_len_for};
use shardgate_core::{
    ContentId, SHARD_HEADER_LEN, ShardHeader, decode_shard_object, shard_object_key,
    split_shard_object,
};

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{BackendError, BackendErrorKind};
use crate::local_disk::{LocalDisk, ReadOutcome};
use crate::metrics::StoreMetrics;
use crate::operator::build_operator;

/// The largest valid shard object: header plus the body of the largest
/// sealed chunk coded with `k = 1`.
pub fn max_shard_object_len() -> u64 {
    (SHARD_HEADER_LEN + shard_len_for(MAX_SEALED_CHUNK_LEN, 1)) as u64
}

/// What a successful put found at the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and was written.
    Created,
    /// An identical object was already there; nothing was written.
    AlreadyPresent,
    /// An invalid object occupied the key and was replaced.
    Repaired,
}

/// How much of a shard object a read checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCheck {
    /// Header, lengths and BLAKE3 of the body: the shard is good on its
    /// own (repair, scrub, anything that keeps or spreads the shard).
    Hashed,
    /// Header and lengths only. For a reader that checks the chunk it
    /// rebuilds from the bodies as a whole against its chunk id (the AEAD
    /// tag is no such check: buyers of a direct download hold the key)
    /// and reads the shards again [`BodyCheck::Hashed`] when that fails,
    /// to find the bad one (a Get: hashing every body it serves was a
    /// fifth of the broker's CPU).
    Deferred,
}

/// A shard read back and checked against its header (and, read
/// [`BodyCheck::Hashed`], its hash).
#[derive(Debug, Clone)]
pub struct VerifiedShard {
    /// The decoded header.
    pub header: ShardHeader,
    object: Bytes,
    body_start: usize,
}

impl VerifiedShard {
    /// The shard body (erasure-coded bytes).
    pub fn body(&self) -> &[u8] {
        &self.object[self.body_start..]
    }

    /// The whole object as stored (header ‖ body).
    pub fn object(&self) -> &Bytes {
        &self.object
    }
}

/// Size of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub size: u64,
}

/// A presigned GET request a client can send straight to the provider.
#[derive(Debug, Clone)]
pub struct PresignedGet {
    /// Full URL including the signature; treat it as a bearer credential.
    pub url: String,
    /// Headers the client must send with the request.
    pub headers: Vec<(String, String)>,
}

/// Shard I/O against one provider.
#[derive(Debug, Clone)]
pub struct ShardStore {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) op: Operator,
    pub(crate) metrics: StoreMetrics,
    /// `fs` providers built from config: the direct-I/O data path for
    /// puts and whole-shard reads (see `local_disk.rs`). `None` for every
    /// other kind, and for stores wrapped around a given operator, so that
    /// tests' fault layers see every request.
    pub(crate) local: Option<LocalDisk>,
}

impl ShardStore {
    /// Build the operator from config and wrap it.
    pub fn from_config(cfg: &ProviderConfig) -> Result<Self, BackendError> {
        let op = build_operator(cfg)?;
        let mut store = Self::new(&cfg.name, &cfg.prefix, op);
        if let ProviderKind::Fs { root } = &cfg.kind {
            store.local = Some(LocalDisk::new(root));
        }
        Ok(store)
    }

    /// Wrap an existing operator (tests can pass extra layers this way).
    pub fn new(name: &str, prefix: &str, op: Operator) -> Self {
        Self {
            name: name.to_owned(),
            prefix: prefix.trim_end_matches('/').to_owned(),
            op,
            metrics: StoreMetrics::new(name),
            local: None,
        }
    }

    /// The provider name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key prefix (without trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The layered operator, for probes and tests. Writing through it
    /// bypasses every shard check.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// What the provider can do, after our profile overrides.
    pub fn capability(&self) -> Capability {
        self.op.info().capability()
    }

    /// The object key of shard `index` of `chunk_id` on this provider.
    pub fn shard_key(&self, chunk_id: &ContentId, index: u8) -> String {
        shard_object_key(&self.prefix, chunk_id, index)
    }

    pub(crate) fn err(
        &self,
        e: &opendal::Error,
        operation: &'static str,
        key: &str,
    ) -> BackendError {
        BackendError::from_opendal(e, &self.name, operation, Some(key))
    }

    pub(crate) fn corrupt(&self, operation: &'static str, key: &str, why: String) -> BackendError {
        BackendError::new(BackendErrorKind::Corrupt, &self.name, operation, why).with_key(key)
    }

    /// Read a whole shard and verify it. A bad object is a `Corrupt` error
    /// naming provider and key; its bytes are never returned.
    pub async fn get_shard(
        &self,
        chunk_id: &ContentId,
        index: u8,
    ) -> Result<VerifiedShard, BackendError> {
        self.read_shard(chunk_id, index, BodyCheck::Hashed).await
    }

    /// Read a whole shard and check it as `check` says. An object that
    /// fails is a `Corrupt` error naming provider and key.
    pub async fn read_shard(
        &self,
        chunk_id: &ContentId,
        index: u8,
        check: BodyCheck,
    ) -> Result<VerifiedShard, BackendError> {
        let key = self.shard_key(chunk_id, index);
        self.metrics
            .observe("get", async {
                let object = self.read_bounded(&key, "get").await?;
                let decoded = match check {
                    BodyCheck::Hashed => decode_shard_object(&object),
                    BodyCheck::Deferred => split_shard_object(&object),
                };
                let (header, body) = decoded
                    .map_err(|e| self.corrupt("get", &key, format!("invalid shard object: {e}")))?;
                if header.chunk_id != *chunk_id || header.index != index {
                    return Err(self.corrupt(
                        "get",
                        &key,
                        format!(
                            "header is for chunk {} shard {}",
                            header.chunk_id.short(),
                            header.index
                        ),
                    ));
                }
                let body_start = object.len() - body.len();
                Ok(VerifiedShard {
                    header,
                    object,
                    body_start,
                })
            })
            .await
    }

    /// Read a whole object, but never more than the largest valid shard
    /// object: a broken or hostile provider must not be able to make the
    /// broker buffer gigabytes. Larger objects are `Corrupt`; an empty
    /// object comes back empty (and fails shard decoding).
    pub(crate) async fn read_bounded(
        &self,
        key: &str,
        operation: &'static str,
    ) -> Result<Bytes, BackendError> {
        let limit = max_shard_object_len();
        if let Some(disk) = &self.local {
            return match disk.read(key, limit).await {
                Ok(ReadOutcome::Whole(object)) => {
                    self.metrics.bytes("read", object.len());
                    Ok(object)
                }
                Ok(ReadOutcome::TooLarge(size)) => Err(self.too_large(operation, key, size, limit)),
                Err(e) => Err(BackendError::from_io(&e, &self.name, operation, key)),
            };
        }
        // Stream and stop at the limit. A ranged read `0..limit+1` is not
        // portable: opendal's memory service returned nothing for it, and
        // S3 answers 416 to any range on an empty object.
        let stream = async {
            let reader = self.op.reader(key).await?;
            reader.into_stream(..).await
        };
        let mut stream = stream.await.map_err(|e| self.err(&e, operation, key))?;
        let mut parts = Vec::new();
        let mut total = 0u64;
        while let Some(buf) = stream
            .try_next()
            .await
            .map_err(|e| self.err(&e, operation, key))?
        {
            total += buf.len() as u64;
            if total > limit {
                self.metrics
                    .bytes("read", usize::try_from(total).unwrap_or(usize::MAX));
                return Err(self.too_large(operation, key, total, limit));
            }
            parts.push(buf);
        }
        let object = parts
            .into_iter()
            .flatten()
            .collect::<opendal::Buffer>()
            .to_bytes();
        self.metrics.bytes("read", object.len());
        Ok(object)
    }

    /// `Corrupt`: `seen` bytes (at least) where no shard exceeds `limit`.
    fn too_large(&self, operation: &'static str, key: &str, seen: u64, limit: u64) -> BackendError {
        self.corrupt(
            operation,
            key,
            format!("object is larger than any valid shard ({seen} bytes, at most {limit})"),
        )
    }

    /// Raw bytes `range` of an object (no verification: a part of a shard
    /// cannot be checked on its own).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BackendError> {
        self.metrics
            .observe("get_range", async {
                if range.start >= range.end {
                    return Err(BackendError::new(
                        BackendErrorKind::InvalidRange,
                        &self.name,
                        "get_range",
                        "empty or reversed range",
                    )
                    .with_key(key));
                }
                let want = range.end - range.start;
                let buf = self
                    .op
                    .read_with(key)
                    .range(range)
                    .await
                    .map_err(|e| self.err(&e, "get_range", key))?;
                if buf.len() as u64 != want {
                    return Err(BackendError::new(
                        BackendErrorKind::InvalidRange,
                        &self.name,
                        "get_range",
                        format!(
                            "range extends past the end of the object ({} of {want} bytes)",
                            buf.len()
                        ),
                    )
                    .with_key(key));
                }
                self.metrics.bytes("read", buf.len());
                Ok(buf.to_bytes())
            })
            .await
    }

    /// Size of an object; `NotFound` if absent.
    pub async fn head(&self, key: &str) -> Result<ObjectMeta, BackendError> {
        self.metrics
            .observe("head", async {
                let meta = self
                    .op
                    .stat(key)
                    .await
                    .map_err(|e| self.err(&e, "head", key))?;
                Ok(ObjectMeta {
                    size: meta.content_length(),
                })
            })
            .await
    }

    /// Delete an object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.metrics
            .observe("delete", async {
                match self.op.delete(key).await {
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(self.err(&e, "delete", key)),
                    _ => Ok(()),
                }
            })
            .await
    }
}
