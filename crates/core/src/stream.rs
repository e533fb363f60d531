//! The byte stream of a blob as clients send and receive it, and how it
//! maps onto chunks. Upload bounds and every range (Get,
//! GetShardLocations, invoices) refer to this stream, not to the sealed
//! chunks the providers hold.
//!
//! | key mode   | the stream                                  | chunk `i` in it            |
//! |------------|---------------------------------------------|----------------------------|
//! | MANAGED    | the plaintext (the broker seals)            | its plaintext              |
//! | END_TO_END | the sealed chunks back to back (the client seals) | ciphertext ‖ 16-byte tag |
//!
//! Every chunk but the last is full, so chunk `i` starts at
//! `i × stride`, the stride being the stream length of a full chunk.

use std::ops::Range;

use crate::aead::TAG_LEN;
use crate::manifest::{KeyMode, Manifest};

/// A range of the stream with both ends exact (what a Get serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRange {
    /// First byte of the range, counted from the start of the stream.
    pub offset: u64,
    /// Number of bytes in the range (may be 0).
    pub length: u64,
}

impl StreamRange {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// How a blob's stream is cut into chunks: its key mode and plaintext
/// chunk size. Pure arithmetic; the chunk size is not checked here
/// (`Manifest` and the broker's upload checks do that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLayout {
    key_mode: KeyMode,
    chunk_size: u64,
}

impl StreamLayout {
    /// The layout of a blob in `key_mode` with `chunk_size` plaintext
    /// bytes per full chunk.
    pub fn new(key_mode: KeyMode, chunk_size: usize) -> Self {
        StreamLayout {
            key_mode,
            chunk_size: chunk_size as u64,
        }
    }

    /// The layout of a stored blob.
    pub fn of(manifest: &Manifest) -> Self {
        StreamLayout::new(manifest.key_mode(), manifest.chunk_size())
    }

    /// Stream length of a stored blob: its plaintext in MANAGED mode, plus
    /// one tag per chunk in END_TO_END mode.
    pub fn blob_len(manifest: &Manifest) -> u64 {
        StreamLayout::of(manifest).stream_len(manifest.total_len(), manifest.chunks().len() as u64)
    }

    /// The blob's key mode, which decides whether the stream carries a
    /// tag per chunk.
    pub fn key_mode(&self) -> KeyMode {
        self.key_mode
    }

    /// Stream bytes each chunk adds to its plaintext: the AES-GCM tag in
    /// END_TO_END mode (the client sends sealed chunks), none in MANAGED.
    fn overhead(&self) -> u64 {
        match self.key_mode {
            KeyMode::Managed => 0,
            KeyMode::EndToEnd => TAG_LEN as u64,
        }
    }

    /// Stream length of a chunk holding `plaintext_len` plaintext bytes.
    pub fn chunk_len(&self, plaintext_len: u64) -> u64 {
        plaintext_len + self.overhead()
    }

    /// Stream length of a full chunk: the step from one chunk's start to
    /// the next.
    pub fn stride(&self) -> u64 {
        self.chunk_len(self.chunk_size)
    }

    /// Where chunk `index` starts in the stream.
    pub fn chunk_start(&self, index: u64) -> u64 {
        index * self.stride()
    }

    /// Stream length of `total_len` plaintext bytes in `chunk_count` chunks.
    pub fn stream_len(&self, total_len: u64, chunk_count: u64) -> u64 {
        total_len + self.overhead() * chunk_count
    }

    /// The inverse of [`StreamLayout::stream_len`]: plaintext bytes in a
    /// stream of `stream_len` bytes cut into `chunk_count` chunks; `None`
    /// if the stream is too short to hold that many chunks' overhead.
    pub fn plaintext_len(&self, stream_len: u64, chunk_count: u64) -> Option<u64> {
        stream_len.checked_sub(self.overhead().checked_mul(chunk_count)?)
    }

    /// Indexes of the chunks `range` touches: `first..last_exclusive`
    /// (empty for an empty range).
    pub fn chunks_in(&self, range: StreamRange) -> Range<u64> {
        if range.length == 0 {
            return 0..0;
        }
        let stride = self.stride();
        range.offset / stride..(range.end() - 1) / stride + 1
    }

    /// The part of chunk `index` (stream length `chunk_len`: the stride,
    /// or less for the last chunk) that `range` covers, as `from..to`
    /// relative to the chunk's start; `from == to` if it covers none.
    pub fn slice_in_chunk(&self, range: StreamRange, index: u64, chunk_len: u64) -> (usize, usize) {
        let start = self.chunk_start(index);
        let from = range.offset.max(start) - start;
        let to = range.end().min(start + chunk_len) - start;
        (from as usize, to.max(from) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunker::{MIN_CHUNK_SIZE, chunk_count};

    const CHUNK: u64 = MIN_CHUNK_SIZE as u64;
    const TAG: u64 = TAG_LEN as u64;

    fn layouts() -> [StreamLayout; 2] {
        [
            StreamLayout::new(KeyMode::Managed, MIN_CHUNK_SIZE),
            StreamLayout::new(KeyMode::EndToEnd, MIN_CHUNK_SIZE),
        ]
    }

    /// Blob sizes that hit distinct paths: no chunk, a 1-byte chunk, one
    /// short chunk, exactly one full chunk, a full chunk and a 1-byte one,
    /// several full chunks, several and a short one.
    fn interesting_sizes() -> [u64; 8] {
        [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK - 1,
            2 * CHUNK,
            3 * CHUNK + 17,
        ]
    }

    #[test]
    fn a_chunk_is_its_plaintext_or_plaintext_and_tag() {
        let [managed, e2e] = layouts();
        assert_eq!(managed.stride(), CHUNK);
        assert_eq!(e2e.stride(), CHUNK + TAG);
        for len in [1, CHUNK - 1, CHUNK] {
            assert_eq!(managed.chunk_len(len), len);
            assert_eq!(e2e.chunk_len(len), len + TAG);
        }
        assert_eq!(e2e.chunk_start(3), 3 * (CHUNK + TAG));
    }

    #[test]
    fn stream_length_per_mode_at_interesting_sizes() {
        let [managed, e2e] = layouts();
        for size in interesting_sizes() {
            let chunks = chunk_count(size, MIN_CHUNK_SIZE);
            assert_eq!(managed.stream_len(size, chunks), size, "managed {size}");
            assert_eq!(
                e2e.stream_len(size, chunks),
                size + TAG * chunks,
                "e2e {size}"
            );
            for layout in [managed, e2e] {
                let stream = layout.stream_len(size, chunks);
                assert_eq!(layout.plaintext_len(stream, chunks), Some(size));
            }
        }
        // A stream too short for its chunks' tags has no plaintext length.
        assert_eq!(e2e.plaintext_len(TAG - 1, 1), None);
        assert_eq!(e2e.plaintext_len(TAG, 1), Some(0));
        assert_eq!(e2e.plaintext_len(u64::MAX, u64::MAX), None);
    }

    #[test]
    fn every_byte_of_a_range_lies_in_exactly_one_chunk_slice() {
        for layout in layouts() {
            for size in interesting_sizes() {
                let chunks = chunk_count(size, MIN_CHUNK_SIZE);
                let stream = layout.stream_len(size, chunks);
                let chunk_len = |i: u64| {
                    let plain = (size - i * CHUNK).min(CHUNK);
                    layout.chunk_len(plain)
                };
                let stride = layout.stride();
                let at = |offset: u64| offset.min(stream);
                // Whole, first byte, last byte, from the second chunk on,
                // across the first boundary, across the second one.
                let ranges = [
                    (0, stream),
                    (0, 1),
                    (stream.saturating_sub(1), 1),
                    (at(stride), stream),
                    (at(stride - 1), 2),
                    (at(2 * stride - 1), stride + 2),
                ];
                for (offset, length) in ranges {
                    let length = length.min(stream - offset);
                    let range = StreamRange { offset, length };
                    let span = layout.chunks_in(range);
                    assert!(span.end <= chunks, "{range:?} of {size}: {span:?}");
                    let mut next = offset;
                    for i in span {
                        let (from, to) = layout.slice_in_chunk(range, i, chunk_len(i));
                        assert!(from < to, "{range:?} touches chunk {i} without bytes");
                        assert!(to as u64 <= chunk_len(i));
                        assert_eq!(layout.chunk_start(i) + from as u64, next);
                        next = layout.chunk_start(i) + to as u64;
                    }
                    assert_eq!(next, range.end(), "{range:?} of {size}");
                }
            }
        }
    }

    #[test]
    fn spans_and_slices_at_chunk_boundaries() {
        let layout = StreamLayout::new(KeyMode::Managed, 100);
        let whole = StreamRange {
            offset: 0,
            length: 250,
        };
        assert_eq!(layout.chunks_in(whole), 0..3);
        assert_eq!(layout.slice_in_chunk(whole, 2, 50), (0, 50));
        let edge = StreamRange {
            offset: 99,
            length: 2,
        };
        assert_eq!(layout.chunks_in(edge), 0..2);
        assert_eq!(layout.slice_in_chunk(edge, 0, 100), (99, 100));
        assert_eq!(layout.slice_in_chunk(edge, 1, 100), (0, 1));
        let exact = StreamRange {
            offset: 100,
            length: 100,
        };
        assert_eq!(layout.chunks_in(exact), 1..2);
        assert_eq!(
            layout.chunks_in(StreamRange {
                offset: 0,
                length: 0
            }),
            0..0
        );
    }
}
