//! Reading an end-to-end blob in order, so that reordered, dropped, repeated
//! or truncated chunks are detected.
//!
//! Each chunk's key and AAD bind its index and whether it is the last chunk.
//! The reader derives both from its own position and the chunk count, so:
//! a chunk served at another position fails to decrypt; a dropped chunk
//! shifts every later one (they fail); a stream cut short either fails on
//! the chunk now presented as last (it was sealed with `last = false`) or is
//! caught by [`E2eReader::finish`].
//!
//! The chunk count itself comes from the manifest; check the manifest against
//! the blob id you trust (`Manifest::blob_id`) so a forged, shorter manifest
//! is caught too. (A 0-byte blob has no chunks, hence nothing for the AAD to
//! bind: only the blob id protects it.)

use crate::erasure::ErasureParams;
use crate::error::CoreError;
use crate::keys::FileKey;
use crate::manifest::ManifestChunk;
use crate::pipeline::open::open_sealed;
use crate::pipeline::{OpenKey, OpenedChunk, open_chunk};

/// Sequential opener for the chunks of one end-to-end blob.
#[derive(Debug)]
pub struct E2eReader<'a> {
    file_key: &'a FileKey,
    chunk_count: u64,
    next: u64,
}

impl<'a> E2eReader<'a> {
    /// A reader expecting `chunk_count` chunks (from the verified manifest).
    pub fn new(file_key: &'a FileKey, chunk_count: u64) -> Self {
        E2eReader {
            file_key,
            chunk_count,
            next: 0,
        }
    }

    /// The key for the next chunk, advancing the position. Fails once all
    /// `chunk_count` chunks have been handed out (an extended stream).
    pub fn next_key(&mut self) -> Result<OpenKey<'a>, CoreError> {
        if self.next >= self.chunk_count {
            return Err(CoreError::DecryptFailed);
        }
        let index = self.next;
        self.next += 1;
        Ok(OpenKey::EndToEnd {
            file_key: self.file_key,
            index,
            last: index + 1 == self.chunk_count,
        })
    }

    /// Rebuilds and opens the next chunk from its shard objects.
    pub fn open_next(
        &mut self,
        shards: &[Option<&[u8]>],
        chunk: &ManifestChunk,
        params: ErasureParams,
    ) -> Result<OpenedChunk, CoreError> {
        let key = self.next_key()?;
        open_chunk(shards, chunk, params, key)
    }

    /// Opens the next chunk from its sealed bytes (ciphertext ‖ tag), for
    /// callers that rebuilt the chunk themselves; decrypts in place.
    pub fn open_next_sealed(&mut self, sealed: Vec<u8>) -> Result<Vec<u8>, CoreError> {
        open_sealed(sealed, self.next_key()?)
    }

    /// Succeeds only if every expected chunk was opened.
    pub fn finish(self) -> Result<(), CoreError> {
        if self.next < self.chunk_count {
            return Err(CoreError::StreamTruncated {
                chunks_seen: self.next,
            });
        }
        Ok(())
    }
}
