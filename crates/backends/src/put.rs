//! [`ShardStore::put_shard`]: writing content-addressed shard objects.
//!
//! Shard objects are immutable and content-addressed (the key is derived from
//! the header, see `shardgate_core::shard_object_key`), which fixes what a
//! put must do when the key is already taken:
//!
//! * the same bytes → success ([`PutOutcome::AlreadyPresent`]); this is how
//!   retried uploads and dedup stay cheap and idempotent;
//! * bytes that are not a valid shard for this key (torn write, bit rot,
//!   tampering, a misplaced object) → overwritten with ours, reported as
//!   [`PutOutcome::Repaired`] and counted in `shardgate_backend_repairs_total`;
//! * a *valid* shard for this key with different bytes (the same chunk coded
//!   with another `(k, m)`) → [`crate::BackendErrorKind::Conflict`], never
//!   overwritten: an existing manifest may depend on it.
//!
//! Where the provider supports conditional writes (`Capability::
//! write_with_if_not_exists`) the first attempt is `If-None-Match: *`, so the
//! common case is one request. Otherwise we read first, then write. `fs`
//! providers create the file with a hard link, which fails if the key is
//! taken (`local_disk.rs`).

use bytes::Bytes;
use opendal::ErrorKind;
use shardgate_core::{ShardHeader, decode_shard_object};

use crate::error::{BackendError, BackendErrorKind};
use crate::local_disk::Placed;
use crate::operator::SHARD_CONTENT_TYPE;
use crate::store::{PutOutcome, ShardStore};

impl ShardStore {
    /// Store a complete shard object (`header ‖ body`). The key comes from its
    /// header; an invalid object is refused before any I/O.
    pub async fn put_shard(&self, object: Bytes) -> Result<PutOutcome, BackendError> {
        let header = match decode_shard_object(&object) {
            Ok((h, _)) => h,
            Err(e) => {
                return Err(BackendError::new(
                    BackendErrorKind::Corrupt,
                    &self.name,
                    "put",
                    format!("refusing to store an invalid shard object: {e}"),
                ));
            }
        };
        let key = self.shard_key(&header.chunk_id, header.index);
        let len = object.len();
        let outcome = self
            .metrics
            .observe("put", self.put_inner(&key, &header, object))
            .await?;
        if outcome != PutOutcome::AlreadyPresent {
            self.metrics.bytes("write", len);
        }
        Ok(outcome)
    }

    async fn put_inner(
        &self,
        key: &str,
        header: &ShardHeader,
        object: Bytes,
    ) -> Result<PutOutcome, BackendError> {
        if let Some(disk) = &self.local {
            match disk.create(key, object.clone()).await {
                Ok(Placed::Created) => return Ok(PutOutcome::Created),
                Ok(Placed::Taken) => {}
                Err(e) => return Err(BackendError::from_io(&e, &self.name, "put", key)),
            }
        } else if self.capability().write_with_if_not_exists {
            match self.write(key, object.clone(), true).await {
                Ok(()) => return Ok(PutOutcome::Created),
                Err(e)
                    if e.kind() == ErrorKind::ConditionNotMatch
                        || e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.err(&e, "put", key)),
            }
        }
        let existing = match self.read_bounded(key, "put").await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                self.overwrite(key, object).await?;
                return Ok(PutOutcome::Created);
            }
            // Larger than any shard: certainly not ours, so replace it.
            Err(e) if e.kind() == &BackendErrorKind::Corrupt => Bytes::new(),
            Err(e) => return Err(e),
        };
        if existing == object {
            return Ok(PutOutcome::AlreadyPresent);
        }
        match decode_shard_object(&existing) {
            Ok((h, _)) if h.chunk_id == header.chunk_id && h.index == header.index => Err(BackendError::new(
                BackendErrorKind::Conflict,
                &self.name,
                "put",
                format!(
                    "a different valid shard is stored here (k={}, m={}; ours k={}, m={}); not overwriting",
                    h.k, h.m, header.k, header.m
                ),
            )
            .with_key(key)),
            // Not a valid shard for this key: whatever it is, ours is the
            // content this key stands for.
            _ => {
                tracing::warn!(provider = %self.name, key, "replacing corrupt shard object");
                self.overwrite(key, object).await?;
                self.metrics.repaired();
                Ok(PutOutcome::Repaired)
            }
        }
    }

    /// One single-shot upload (the whole object in one write call, so no
    /// multipart session), with an explicit content type where supported.
    async fn write(
        &self,
        key: &str,
        object: Bytes,
        if_not_exists: bool,
    ) -> Result<(), opendal::Error> {
        let cap = self.capability();
        let mut w = self.op.write_with(key, object);
        if cap.write_with_content_type {
            w = w.content_type(SHARD_CONTENT_TYPE);
        }
        if if_not_exists {
            w = w.if_not_exists(true);
        }
        w.await.map(|_| ())
    }

    /// Unconditional write: replaces whatever is at `key`.
    async fn overwrite(&self, key: &str, object: Bytes) -> Result<(), BackendError> {
        match &self.local {
            Some(disk) => disk
                .replace(key, object)
                .await
                .map_err(|e| BackendError::from_io(&e, &self.name, "put", key)),
            None => self
                .write(key, object, false)
                .await
                .map_err(|e| self.err(&e, "put", key)),
        }
    }
}
