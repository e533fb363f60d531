//! Cuts the upload byte stream into pieces: plaintext chunks of
//! `chunk_size` bytes (MANAGED) or ciphertext chunks of `chunk_size + 16`
//! bytes (END_TO_END); the last piece may be shorter.
//!
//! Pieces are pooled, page-aligned buffers (shardgate-backends
//! `PooledBuf`): a fresh 4 MiB allocation per chunk costs a page fault per
//! 4 KiB, which on the 2-core VM the broker is measured on was a large part
//! of an upload's CPU. A piece goes back to the pool once it is sealed.

use shardgate_backends::PooledBuf;
use shardgate_core::chunker::check_chunk_size;

use crate::error::BrokerError;

/// See the module docs.
pub(super) struct PieceCutter {
    piece_len: usize,
    /// The piece being filled, and how many of its bytes are filled.
    pending: Option<PooledBuf>,
    filled: usize,
}

impl PieceCutter {
    /// Plaintext pieces of a validated chunk size.
    pub(super) fn plaintext(chunk_size: usize) -> Result<Self, BrokerError> {
        check_chunk_size(chunk_size)?;
        Ok(Self::new(chunk_size))
    }

    /// Ciphertext pieces of `piece_len` bytes (chunk size plus tag; may
    /// exceed the plaintext chunk bound by the tag, so not checked here).
    pub(super) fn ciphertext(piece_len: usize) -> Self {
        Self::new(piece_len)
    }

    fn new(piece_len: usize) -> Self {
        Self {
            piece_len: piece_len.max(1),
            pending: None,
            filled: 0,
        }
    }

    /// Appends `frame`; returns every piece it completed (often none,
    /// several when a frame is longer than a piece).
    pub(super) fn push(&mut self, mut frame: &[u8]) -> Vec<PooledBuf> {
        let piece_len = self.piece_len;
        let mut ready = Vec::new();
        while !frame.is_empty() {
            let piece = self
                .pending
                .get_or_insert_with(|| PooledBuf::take(piece_len));
            let take = (piece_len - self.filled).min(frame.len());
            piece.as_mut()[self.filled..self.filled + take].copy_from_slice(&frame[..take]);
            self.filled += take;
            frame = &frame[take..];
            if self.filled == piece_len {
                ready.extend(self.pending.take());
                self.filled = 0;
            }
        }
        ready
    }

    /// Ends the stream: the short last piece, if any bytes are pending.
    pub(super) fn finish(self) -> Option<PooledBuf> {
        let filled = self.filled;
        self.pending.filter(|_| filled > 0).map(|mut piece| {
            piece.truncate(filled);
            piece
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_cut_at_exact_lengths_across_frames() {
        let mut cutter = PieceCutter::ciphertext(10);
        let mut pieces = cutter.push(&[1; 7]);
        pieces.extend(cutter.push(&[2; 25]));
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() == 10));
        assert_eq!(&pieces[0].as_ref()[..8], &[1, 1, 1, 1, 1, 1, 1, 2]);
        assert_eq!(
            cutter.finish().map(|p| p.as_ref().to_vec()),
            Some(vec![2, 2])
        );
        assert!(PieceCutter::ciphertext(10).finish().is_none());
    }

    #[test]
    fn plaintext_pieces_are_whole_chunks_and_the_bytes_are_kept_in_order() {
        let chunk = shardgate_core::MIN_CHUNK_SIZE;
        let mut cutter = PieceCutter::plaintext(chunk).expect("valid chunk size");
        let stream: Vec<u8> = (0..3 * chunk + 5).map(|i| (i % 251) as u8).collect();
        let mut pieces = Vec::new();
        for frame in stream.chunks(100_003) {
            pieces.extend(cutter.push(frame));
        }
        pieces.extend(cutter.finish());
        let lens: Vec<usize> = pieces.iter().map(PooledBuf::len).collect();
        assert_eq!(lens, [chunk, chunk, chunk, 5]);
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.as_ref().to_vec()).collect();
        assert_eq!(joined, stream);
    }

    #[test]
    fn an_invalid_chunk_size_is_refused() {
        assert!(PieceCutter::plaintext(0).is_err());
    }
}
