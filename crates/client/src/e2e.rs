//! End-to-end mode, `END_TO_END_SCHEME_AES_256_GCM_HKDF_SHA256_V1`
//! (storage.proto, `EndToEndScheme`): the plaintext is cut into chunks of
//! the blob's chunk size; chunk `i` is sealed with AES-256-GCM under
//! `FileKey::chunk_key(i, last)` with `e2e_aad(i, last)` (both from
//! shardgate-core), so each chunk is bound to its position and to whether
//! it ends the blob. The file key is drawn here, per upload, and never
//! leaves the client.
//!
//! Reading checks, per chunk, the ciphertext's BLAKE3 against the chunk id
//! of a manifest verified against the blob id, then opens it at the
//! position the reader expects: a chunk served at another position, a
//! dropped, repeated or extra chunk, a truncated stream, a wrong key or a
//! flipped bit all fail before any of that chunk's plaintext is released.

use bytes::{Bytes, BytesMut};
use shardgate_core::aead::{TAG_LEN, e2e_aad, open, seal};
use shardgate_core::{ContentId, FileKey, KeyMode, Manifest, ManifestChunk};

use crate::error::{ClientError, Result};

/// Cuts plaintext into chunks and seals each one at its position. A chunk
/// is sealed only once a byte of the next one (or the end) is seen, since
/// the last chunk is sealed differently.
pub(crate) struct ChunkSealer {
    key: FileKey,
    chunk_size: usize,
    index: u64,
    pending: BytesMut,
}

impl ChunkSealer {
    pub(crate) fn new(key: FileKey, chunk_size: usize) -> ChunkSealer {
        ChunkSealer {
            key,
            chunk_size,
            index: 0,
            pending: BytesMut::with_capacity(chunk_size + 1),
        }
    }

    /// Ciphertext length of a plaintext of `len` bytes: 16 bytes of tag
    /// per chunk.
    pub(crate) fn sealed_len(len: u64, chunk_size: usize) -> u64 {
        len + len.div_ceil(chunk_size as u64) * TAG_LEN as u64
    }

    /// Takes plaintext; returns the sealed chunks that are complete.
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        while !data.is_empty() {
            if self.pending.len() == self.chunk_size {
                // More data follows the full pending chunk: it is not last.
                let chunk = self.pending.split();
                out.push(self.seal(&chunk, false)?);
            }
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals what is pending as the last chunk (nothing for an empty blob).
    pub(crate) fn finish(mut self, out: &mut Vec<Bytes>) -> Result<()> {
        if !self.pending.is_empty() {
            let chunk = self.pending.split();
            out.push(self.seal(&chunk, true)?);
        }
        Ok(())
    }

    fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<Bytes> {
        let index = self.index;
        self.index += 1;
        let key = self.key.chunk_key(index, last);
        Ok(Bytes::from(seal(&key, &e2e_aad(index, last), plaintext)?))
    }
}

/// The chunks of a plaintext byte range of an end-to-end blob, and how to
/// open them.
#[derive(Clone, Debug)]
pub(crate) struct E2eRange {
    /// First chunk needed.
    pub(crate) first_chunk: u64,
    /// One past the last chunk needed.
    pub(crate) end_chunk: u64,
    /// The stored (ciphertext) range covering those chunks.
    pub(crate) stored_offset: u64,
    pub(crate) stored_length: u64,
    /// Plaintext bytes to drop from the first opened chunk.
    pub(crate) skip: u64,
    /// Plaintext bytes the caller asked for (already clamped to the blob).
    pub(crate) length: u64,
    /// Plaintext offset of the range.
    pub(crate) offset: u64,
}

impl E2eRange {
    /// Maps the plaintext range `offset..offset+length` (`None` = to the
    /// end) onto the chunks of `manifest`.
    pub(crate) fn of(manifest: &Manifest, offset: u64, length: Option<u64>) -> Result<E2eRange> {
        if manifest.key_mode() != KeyMode::EndToEnd {
            return Err(ClientError::invalid(
                "a file key was given but the blob is not end-to-end encrypted",
            ));
        }
        let total = manifest.total_len();
        if offset > total {
            return Err(ClientError::invalid(format!(
                "the range starts at byte {offset}, past the end of the {total}-byte blob"
            )));
        }
        let length = length.map_or(total - offset, |l| l.min(total - offset));
        let chunk_size = manifest.chunk_size() as u64;
        let stride = chunk_size + TAG_LEN as u64;
        let chunks = manifest.chunks();
        let (first_chunk, end_chunk) = if length == 0 {
            (0, 0)
        } else {
            (offset / chunk_size, (offset + length).div_ceil(chunk_size))
        };
        let stored_length = chunks[first_chunk as usize..end_chunk as usize]
            .iter()
            .map(|c| c.sealed_len() as u64)
            .sum();
        Ok(E2eRange {
            first_chunk,
            end_chunk,
            stored_offset: first_chunk * stride,
            stored_length,
            skip: offset - first_chunk * chunk_size,
            length,
            offset,
        })
    }
}

/// Opens the ciphertext chunks of an [`E2eRange`] in order, from stored
/// bytes arriving in arbitrary pieces.
pub(crate) struct ChunkOpener {
    key: FileKey,
    ids: Vec<ContentId>,
    sealed_lens: Vec<usize>,
    chunk_count: u64,
    next: u64,
    end: u64,
    pending: BytesMut,
    skip: u64,
    remaining: u64,
}

impl ChunkOpener {
    pub(crate) fn new(key: FileKey, manifest: &Manifest, range: &E2eRange) -> ChunkOpener {
        let chunks = &manifest.chunks()[range.first_chunk as usize..range.end_chunk as usize];
        ChunkOpener {
            key,
            ids: chunks.iter().map(|c| c.id).collect(),
            sealed_lens: chunks.iter().map(ManifestChunk::sealed_len).collect(),
            chunk_count: manifest.chunks().len() as u64,
            next: range.first_chunk,
            end: range.end_chunk,
            pending: BytesMut::new(),
            skip: range.skip,
            remaining: range.length,
        }
    }

    /// Takes stored bytes; appends the plaintext of every chunk they
    /// complete (cut to the range) to `out`.
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        while !data.is_empty() {
            let Some(want) = self.current_len() else {
                return Err(ClientError::integrity(
                    "the broker sent more bytes than the requested chunks hold",
                ));
            };
            let take = (want - self.pending.len()).min(data.len());
            if self.pending.is_empty() && take == want {
                // A whole chunk in one piece: no copy.
                self.open_chunk(&data[..take], out)?;
            } else {
                self.pending.extend_from_slice(&data[..take]);
                if self.pending.len() == want {
                    let sealed = self.pending.split();
                    self.open_chunk(&sealed, out)?;
                }
            }
            data = &data[take..];
        }
        Ok(())
    }

    /// Succeeds only if every chunk of the range was opened.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.next < self.end || !self.pending.is_empty() {
            return Err(ClientError::integrity(format!(
                "the stream ended after {} of {} chunks: truncated",
                self.next.saturating_sub(self.end - self.ids.len() as u64),
                self.ids.len()
            )));
        }
        Ok(())
    }

    fn current_len(&self) -> Option<usize> {
        let at = self.next.checked_sub(self.end - self.ids.len() as u64)? as usize;
        self.sealed_lens.get(at).copied()
    }

    fn open_chunk(&mut self, sealed: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        let at = (self.next - (self.end - self.ids.len() as u64)) as usize;
        let index = self.next;
        if ContentId::of(sealed) != self.ids[at] {
            return Err(ClientError::integrity(format!(
                "chunk {index} does not match its id in the manifest: tampered, reordered or from another blob"
            )));
        }
        let last = index + 1 == self.chunk_count;
        let key = self.key.chunk_key(index, last);
        let plaintext = open(&key, &e2e_aad(index, last), sealed).map_err(|_| {
            ClientError::integrity(format!(
                "chunk {index} does not decrypt: wrong file key, or the data was tampered with"
            ))
        })?;
        self.next += 1;
        let mut plaintext = Bytes::from(plaintext);
        let skip = (self.skip as usize).min(plaintext.len());
        plaintext = plaintext.slice(skip..);
        self.skip -= skip as u64;
        let keep = (self.remaining as usize).min(plaintext.len());
        plaintext.truncate(keep);
        self.remaining -= keep as u64;
        if !plaintext.is_empty() {
            out.push(plaintext);
        }
        Ok(())
    }
}

/// A file key from 64 hex characters (as `shardgate put --e2e` prints it).
pub fn parse_file_key(text: &str) -> Result<FileKey> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| ClientError::invalid("a file key is 64 hex characters"))?;
    FileKey::from_slice(&bytes).map_err(|_| ClientError::invalid("a file key is 64 hex characters"))
}

/// The file key as 64 hex characters, for the caller to keep.
pub fn file_key_hex(key: &FileKey) -> String {
    hex::encode(key.expose_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_core::ErasureParams;

    /// Seals `plaintext` as the SDK uploads it and builds the manifest the
    /// broker would commit for it.
    fn sealed_blob(plaintext: &[u8], chunk_size: usize) -> (FileKey, Vec<u8>, Manifest) {
        let key = FileKey::generate();
        let mut sealer = ChunkSealer::new(key.clone(), chunk_size);
        let mut out = Vec::new();
        for piece in plaintext.chunks(100_000) {
            sealer.push(piece, &mut out).expect("seal");
        }
        sealer.finish(&mut out).expect("seal");
        let chunks = out
            .iter()
            .zip(plaintext.chunks(chunk_size))
            .map(|(c, p)| ManifestChunk {
                id: ContentId::of(c),
                len: p.len() as u32,
            })
            .collect();
        let manifest = Manifest::new(
            KeyMode::EndToEnd,
            chunk_size,
            plaintext.len() as u64,
            ErasureParams::new(2, 1).expect("params"),
            chunks,
        )
        .expect("manifest");
        let stored: Vec<u8> = out.concat();
        assert_eq!(
            stored.len() as u64,
            ChunkSealer::sealed_len(plaintext.len() as u64, chunk_size)
        );
        (key, stored, manifest)
    }

    fn read(
        key: &FileKey,
        stored: &[u8],
        manifest: &Manifest,
        offset: u64,
        length: Option<u64>,
        piece: usize,
    ) -> Result<Vec<u8>> {
        let range = E2eRange::of(manifest, offset, length)?;
        let part = &stored[range.stored_offset as usize..][..range.stored_length as usize];
        let mut opener = ChunkOpener::new(key.clone(), manifest, &range);
        let mut out = Vec::new();
        for p in part.chunks(piece.max(1)) {
            opener.push(p, &mut out)?;
        }
        opener.finish()?;
        Ok(out.concat())
    }

    #[test]
    fn every_size_and_range_round_trips() {
        let cs = shardgate_core::MIN_CHUNK_SIZE;
        for size in [0usize, 1, cs - 1, cs, cs + 1, 3 * cs + 17] {
            let plaintext: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let (key, stored, manifest) = sealed_blob(&plaintext, cs);
            assert_eq!(
                read(&key, &stored, &manifest, 0, None, 33_333).expect("whole"),
                plaintext
            );
            for (offset, len) in [(0, 1), (cs as u64 - 1, 2), (5, 2 * cs as u64), (1, 0)] {
                if offset > size as u64 {
                    continue;
                }
                let got = read(&key, &stored, &manifest, offset, Some(len), 4096).expect("range");
                let end = (offset + len).min(size as u64) as usize;
                assert_eq!(
                    got,
                    plaintext[offset as usize..end],
                    "{size} {offset}+{len}"
                );
            }
        }
    }

    #[test]
    fn wrong_key_reordered_and_truncated_streams_fail() {
        let cs = shardgate_core::MIN_CHUNK_SIZE;
        let plaintext: Vec<u8> = (0..3 * cs + cs / 2).map(|i| i as u8).collect();
        let (key, stored, manifest) = sealed_blob(&plaintext, cs);
        let err = read(&FileKey::generate(), &stored, &manifest, 0, None, 5000).expect_err("key");
        assert!(err.to_string().contains("does not decrypt"), "{err}");

        // Chunks 0 and 1 swapped: ids no longer match their positions.
        let stride = cs + TAG_LEN;
        let mut swapped = stored.clone();
        swapped[..stride].copy_from_slice(&stored[stride..2 * stride]);
        swapped[stride..2 * stride].copy_from_slice(&stored[..stride]);
        assert!(read(&key, &swapped, &manifest, 0, None, 64).is_err());

        // A flipped bit.
        let mut flipped = stored.clone();
        flipped[3] ^= 1;
        assert!(read(&key, &flipped, &manifest, 0, None, 64).is_err());

        // Truncated: the opener never saw the last chunk.
        let range = E2eRange::of(&manifest, 0, None).expect("range");
        let mut opener = ChunkOpener::new(key.clone(), &manifest, &range);
        let mut out = Vec::new();
        opener
            .push(&stored[..2 * stride], &mut out)
            .expect("two chunks");
        assert!(opener.finish().is_err());
        // Extended: bytes past the last chunk.
        let mut opener = ChunkOpener::new(key, &manifest, &range);
        let mut extended = stored.clone();
        extended.push(0);
        assert!(opener.push(&extended, &mut Vec::new()).is_err());
    }

    #[test]
    fn file_keys_print_and_parse_as_hex() {
        let key = FileKey::generate();
        let text = file_key_hex(&key);
        assert_eq!(text.len(), 64);
        let back = parse_file_key(&text).expect("parse");
        assert_eq!(back.expose_bytes(), key.expose_bytes());
        assert!(parse_file_key("abc").is_err());
    }
}
