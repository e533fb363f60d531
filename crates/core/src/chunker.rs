//! Fixed-size chunking, pull-style over any [`std::io::Read`] and push-style
//! for streams that arrive in frames of arbitrary size (gRPC data frames).
//!
//! Every chunk is exactly `chunk_size` bytes except the last, which holds
//! the remainder (`1..=chunk_size` bytes). A 0-byte blob has **zero chunks**:
//! there is nothing to encrypt or store, and its manifest records
//! `total_len = 0` with an empty chunk list (which still round-trips and has
//! a well-defined blob id).

use std::io::{ErrorKind, Read};

use crate::error::CoreError;

/// Smallest chunk size: below 256 KiB the per-chunk costs (k+m objects,
/// index rows, provider requests) dominate the data.
pub const MIN_CHUNK_SIZE: usize = 256 * 1024;
/// Default chunk size: 4 MiB keeps 2+1 shards at 2 MiB, a good object size
/// for S3-like providers, while bounding a pipeline window to a few chunks.
pub const DEFAULT_CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// Largest chunk size: 64 MiB bounds the memory one in-flight chunk pins
/// (plaintext + ciphertext + shards) and keeps lengths well inside `u32`.
pub const MAX_CHUNK_SIZE: usize = 64 * 1024 * 1024;

/// Checks a chunk size against [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
pub fn check_chunk_size(chunk_size: usize) -> Result<(), CoreError> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(CoreError::invalid(
            "chunk size",
            format!("{chunk_size} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"),
        ));
    }
    Ok(())
}

/// Number of chunks a blob of `total_len` bytes has.
pub fn chunk_count(total_len: u64, chunk_size: usize) -> u64 {
    total_len.div_ceil(chunk_size as u64)
}

/// Pull-style chunker: an iterator of chunks read from `R`.
///
/// Short reads are retried until a chunk is full or the reader reports end
/// of input; `Interrupted` is retried, any other I/O error ends iteration
/// with [`CoreError::Read`].
pub struct ReadChunker<R> {
    reader: R,
    chunk_size: usize,
    done: bool,
}

impl<R: Read> ReadChunker<R> {
    /// A chunker with a validated `chunk_size`.
    pub fn new(reader: R, chunk_size: usize) -> Result<Self, CoreError> {
        check_chunk_size(chunk_size)?;
        Ok(ReadChunker {
            reader,
            chunk_size,
            done: false,
        })
    }

    fn fill(&mut self) -> Result<Option<Vec<u8>>, CoreError> {
        let mut chunk = vec![0u8; self.chunk_size];
        let mut filled = 0;
        while filled < self.chunk_size {
            match self.reader.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(CoreError::Read(e)),
            }
        }
        if filled < self.chunk_size {
            self.done = true;
        }
        if filled == 0 {
            return Ok(None);
        }
        chunk.truncate(filled);
        Ok(Some(chunk))
    }
}

impl<R: Read> Iterator for ReadChunker<R> {
    type Item = Result<Vec<u8>, CoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.fill() {
            Ok(chunk) => chunk.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Push-style chunker: feed frames of any size with [`push`](Self::push),
/// collect full chunks as they complete, then [`finish`](Self::finish) for
/// the short last chunk. Memory is bounded by one chunk plus the frame.
#[derive(Debug)]
pub struct FrameChunker {
    chunk_size: usize,
    pending: Vec<u8>,
    total_len: u64,
    chunks_emitted: u64,
}

impl FrameChunker {
    /// A chunker with a validated `chunk_size`.
    pub fn new(chunk_size: usize) -> Result<Self, CoreError> {
        check_chunk_size(chunk_size)?;
        Ok(FrameChunker {
            chunk_size,
            pending: Vec::new(),
            total_len: 0,
            chunks_emitted: 0,
        })
    }

    /// Appends `frame` and returns every chunk it completed (often none,
    /// several when a frame is larger than a chunk).
    pub fn push(&mut self, mut frame: &[u8]) -> Vec<Vec<u8>> {
        self.total_len += frame.len() as u64;
        let mut ready = Vec::new();
        while !frame.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(self.chunk_size);
            }
            let take = (self.chunk_size - self.pending.len()).min(frame.len());
            self.pending.extend_from_slice(&frame[..take]);
            frame = &frame[take..];
            if self.pending.len() == self.chunk_size {
                ready.push(std::mem::take(&mut self.pending));
                self.chunks_emitted += 1;
            }
        }
        ready
    }

    /// Bytes pushed so far.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Full chunks returned by [`push`](Self::push) so far.
    pub fn chunks_emitted(&self) -> u64 {
        self.chunks_emitted
    }

    /// Ends the stream: the short last chunk, if any bytes are pending.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            None
        } else {
            self.chunks_emitted += 1;
            Some(std::mem::take(&mut self.pending))
        }
    }
}
