//! Cuts the upload byte stream into pieces: plaintext chunks (MANAGED, via
//! `FrameChunker`) or ciphertext chunks of `chunk_size + 16` bytes
//! (END_TO_END). `FrameChunker` bounds its size to the plaintext chunk
//! range, which a ciphertext piece of the largest chunk size exceeds by the
//! tag, hence the small fixed-length cutter here.

use shardgate_core::FrameChunker;

use crate::error::BrokerError;

/// See the module docs.
pub enum PieceCutter {
    Plain(FrameChunker),
    Ciphertext { piece_len: usize, pending: Vec<u8> },
}

impl PieceCutter {
    /// MANAGED: pieces of `chunk_size` plaintext bytes.
    pub fn plaintext(chunk_size: usize) -> Result<Self, BrokerError> {
        Ok(PieceCutter::Plain(FrameChunker::new(chunk_size)?))
    }

    /// END_TO_END: pieces of `piece_len` (= chunk size + tag) bytes.
    pub fn ciphertext(piece_len: usize) -> Self {
        PieceCutter::Ciphertext {
            piece_len,
            pending: Vec::new(),
        }
    }

    /// Feeds one frame; returns the pieces it completed.
    pub fn push(&mut self, mut frame: &[u8]) -> Vec<Vec<u8>> {
        match self {
            PieceCutter::Plain(chunker) => chunker.push(frame),
            PieceCutter::Ciphertext { piece_len, pending } => {
                let mut ready = Vec::new();
                while !frame.is_empty() {
                    if pending.capacity() == 0 {
                        pending.reserve_exact(*piece_len);
                    }
                    let take = (*piece_len - pending.len()).min(frame.len());
                    pending.extend_from_slice(&frame[..take]);
                    frame = &frame[take..];
                    if pending.len() == *piece_len {
                        ready.push(std::mem::take(pending));
                    }
                }
                ready
            }
        }
    }

    /// The short last piece, if any bytes are pending.
    pub fn finish(self) -> Option<Vec<u8>> {
        match self {
            PieceCutter::Plain(chunker) => chunker.finish(),
            PieceCutter::Ciphertext { pending, .. } => (!pending.is_empty()).then_some(pending),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_pieces_are_cut_at_exact_lengths_across_frames() {
        let mut cutter = PieceCutter::ciphertext(10);
        let mut pieces = cutter.push(&[1; 7]);
        pieces.extend(cutter.push(&[2; 25]));
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() == 10));
        assert_eq!(&pieces[0][..8], &[1, 1, 1, 1, 1, 1, 1, 2]);
        assert_eq!(cutter.finish().map(|p| p.len()), Some(2));
        assert_eq!(PieceCutter::ciphertext(10).finish(), None);
    }
}
