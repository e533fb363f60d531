//! BLAKE3 of a sealed chunk *and* of its first data shard body, hashing the
//! bytes they share once.
//!
//! Data shard 0 is the first `shard_len` bytes of the sealed chunk. BLAKE3 is
//! a tree over 1 KiB chunks whose chaining values depend only on the bytes
//! and their chunk index, and every complete, aligned power-of-two run of
//! chunks is a node of *any* tree that contains it without being its root.
//! So the complete subtrees of shard 0's tree are also nodes of the chunk's
//! tree: we hash them once, remember their chaining values, and build both
//! roots from them. For 2+1 that is half of the chunk-id pass saved (a
//! sixth of all hashing in `seal_chunk`); the digests are exactly
//! `blake3::hash` of the same bytes (tests below), so no format changes.

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root,
};
use blake3::{CHUNK_LEN, Hasher};

use crate::id::ContentId;

/// `(BLAKE3(whole), BLAKE3(whole[..prefix_len]))`. `prefix_len` must not
/// exceed `whole.len()`; callers only ask for a prefix that really is a
/// byte-for-byte prefix (an unpadded first data shard).
pub(crate) fn hash_whole_and_prefix(whole: &[u8], prefix_len: usize) -> (ContentId, ContentId) {
    let prefix_len = prefix_len.min(whole.len());
    if prefix_len == whole.len() {
        let id = ContentId::of(whole);
        return (id, id);
    }
    if prefix_len <= CHUNK_LEN {
        // A one-chunk prefix is its own root: nothing to share.
        return (ContentId::of(whole), ContentId::of(&whole[..prefix_len]));
    }
    let mut shared = Shared {
        nodes: Vec::new(),
        end: prefix_len,
    };
    let prefix = root(&whole[..prefix_len], &mut shared, Pass::Record);
    let id = root(whole, &mut shared, Pass::Reuse);
    (id, prefix)
}

/// Non-root chaining values already computed for the prefix tree.
struct Shared {
    /// `(offset, len, cv)`: at most about two per tree level, so a short
    /// list searched linearly.
    nodes: Vec<(usize, usize, ChainingValue)>,
    /// Length of the prefix: nodes starting at or after it are never shared.
    end: usize,
}

impl Shared {
    fn find(&self, offset: usize, len: usize) -> Option<ChainingValue> {
        self.nodes
            .iter()
            .find(|(o, l, _)| *o == offset && *l == len)
            .map(|(_, _, cv)| *cv)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Hashing the prefix: remember every node it is built from.
    Record,
    /// Hashing the whole input: use remembered nodes where they fit.
    Reuse,
}

/// Root hash of an input longer than one chunk, split as BLAKE3 splits it.
fn root(input: &[u8], shared: &mut Shared, pass: Pass) -> ContentId {
    let left = left_subtree_len(input.len() as u64) as usize;
    let l = subtree(&input[..left], 0, shared, pass);
    let r = subtree(&input[left..], left, shared, pass);
    ContentId::from_bytes(*merge_subtrees_root(&l, &r, Mode::Hash).as_bytes())
}

/// Chaining value of the (non-root) subtree `bytes` starting at `offset`.
fn subtree(bytes: &[u8], offset: usize, shared: &mut Shared, pass: Pass) -> ChainingValue {
    let direct = match pass {
        // Complete subtrees go to the SIMD hasher in one call; the ragged
        // right edge of the prefix is split further so that its complete
        // parts are remembered too.
        Pass::Record => bytes.len() <= CHUNK_LEN || is_complete(bytes.len()),
        Pass::Reuse => {
            if let Some(cv) = shared.find(offset, bytes.len()) {
                return cv;
            }
            // Only subtrees that start inside the prefix can contain shared nodes.
            bytes.len() <= CHUNK_LEN || offset >= shared.end
        }
    };
    if direct {
        let cv = Hasher::new()
            .set_input_offset(offset as u64)
            .update(bytes)
            .finalize_non_root();
        if pass == Pass::Record {
            shared.nodes.push((offset, bytes.len(), cv));
        }
        return cv;
    }
    let left = left_subtree_len(bytes.len() as u64) as usize;
    let l = subtree(&bytes[..left], offset, shared, pass);
    let r = subtree(&bytes[left..], offset + left, shared, pass);
    merge_subtrees_non_root(&l, &r, Mode::Hash)
}

/// A whole power-of-two number of chunks.
fn is_complete(len: usize) -> bool {
    len.is_multiple_of(CHUNK_LEN) && (len / CHUNK_LEN).is_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 977) as u8).collect()
    }

    fn check(whole_len: usize, prefix_len: usize) {
        let whole = bytes(whole_len);
        let (id, prefix) = hash_whole_and_prefix(&whole, prefix_len);
        assert_eq!(
            id,
            ContentId::of(&whole),
            "whole {whole_len} prefix {prefix_len}"
        );
        assert_eq!(
            prefix,
            ContentId::of(&whole[..prefix_len.min(whole_len)]),
            "prefix {prefix_len} of {whole_len}"
        );
    }

    #[test]
    fn equals_plain_blake3_around_chunk_and_subtree_edges() {
        let c = CHUNK_LEN;
        for whole in [
            1,
            c - 1,
            c,
            c + 1,
            2 * c,
            2 * c + 1,
            3 * c + 7,
            8 * c,
            9 * c + 5,
        ] {
            for prefix in [
                0,
                1,
                c - 1,
                c,
                c + 1,
                2 * c,
                2 * c + 3,
                4 * c,
                5 * c - 1,
                whole,
            ] {
                check(whole, prefix);
            }
        }
    }

    #[test]
    fn equals_plain_blake3_for_real_shard_splits() {
        // Sealed 4 MiB and 256 KiB + 1 chunks, first shard of k = 1..=10 and 32.
        for sealed in [4 * 1024 * 1024 + 16, 256 * 1024 + 17, 1_000_003] {
            for k in (1..=10).chain([32]) {
                check(sealed, crate::erasure::shard_len_for(sealed, k));
            }
        }
    }
}
