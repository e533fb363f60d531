//! Test bytes that never need to be held in memory: word `i` of blob `seed`
//! is a bijective mix of `(seed, i)`, so any byte range can be produced on
//! demand (uploads of 200 MiB stream from it, downloads are compared
//! against it frame by frame), and any 8 bytes found somewhere can be
//! mapped back to the word index they would have, which makes "does this
//! file contain a 64-byte window of the plaintext?" a linear scan with no
//! table of the plaintext.

/// Bytes of one pattern word.
const WORD: usize = 8;
/// Words that fit completely inside any 64-byte window of the plaintext.
const WORDS_IN_WINDOW: usize = 7;

const M1: u64 = 0xbf58_476d_1ce4_e5b9;
const M2: u64 = 0x94d0_49bb_1331_11eb;

/// splitmix64's finalizer: a bijection on u64.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(M1);
    z = (z ^ (z >> 27)).wrapping_mul(M2);
    z ^ (z >> 31)
}

/// Undoes `z ^= z >> s` for s >= 22 (two steps reach every bit).
fn unshift(z: u64, s: u32) -> u64 {
    let mut x = z;
    for _ in 0..(64 / s) {
        x = z ^ (x >> s);
    }
    x
}

/// Multiplicative inverse modulo 2^64 of an odd number (Newton's method).
const fn inverse(a: u64) -> u64 {
    let mut x = a;
    let mut step = 0;
    while step < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        step += 1;
    }
    x
}

// Computed at compile time: the scans below unmix every byte position of
// every file they look at, in unoptimized test builds.
const INV_M1: u64 = inverse(M1);
const INV_M2: u64 = inverse(M2);

fn unmix(z: u64) -> u64 {
    let z = unshift(z, 31).wrapping_mul(INV_M2);
    let z = unshift(z, 27).wrapping_mul(INV_M1);
    unshift(z, 30)
}

/// A deterministic pseudo-random blob of `len` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    /// Index space offset of this blob: different seeds never share words
    /// for blobs under 2^40 bytes.
    base: u64,
    len: u64,
}

impl Pattern {
    /// The blob of `len` bytes for `seed`: the same arguments always give
    /// the same bytes, different seeds give unrelated bytes.
    pub fn new(seed: u32, len: u64) -> Pattern {
        Pattern {
            base: u64::from(seed) << 40,
            len,
        }
    }

    /// Length of the blob in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length blob.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, i: u64) -> [u8; WORD] {
        mix(self.base + i).to_le_bytes()
    }

    /// Writes the bytes at `offset..offset + out.len()` into `out`.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut pos = offset;
        let mut done = 0;
        while done < out.len() {
            let word = self.word(pos / WORD as u64);
            let within = (pos % WORD as u64) as usize;
            let take = (WORD - within).min(out.len() - done);
            out[done..done + take].copy_from_slice(&word[within..within + take]);
            done += take;
            pos += take as u64;
        }
    }

    /// The bytes at `offset..offset + len` (clipped to the blob).
    pub fn bytes(&self, offset: u64, len: u64) -> Vec<u8> {
        let len = len.min(self.len.saturating_sub(offset));
        let mut out = vec![0; len as usize];
        self.fill(offset, &mut out);
        out
    }

    /// The whole blob (only for small blobs).
    pub fn all(&self) -> Vec<u8> {
        self.bytes(0, self.len)
    }

    /// BLAKE3 of the whole blob, computed in 1 MiB pieces.
    pub fn blake3_hex(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0; 1 << 20];
        let mut offset = 0;
        while offset < self.len {
            let n = (self.len - offset).min(buf.len() as u64) as usize;
            self.fill(offset, &mut buf[..n]);
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        hasher.finalize().to_hex().to_string()
    }

    /// Offset in `haystack` of a 64-byte window of this blob, if any.
    /// Every such window holds 7 whole aligned words, so it is enough to
    /// look for 7 consecutive words at every position.
    pub fn find_window(&self, haystack: &[u8]) -> Option<usize> {
        Self::find_window_of_any(std::slice::from_ref(self), haystack).map(|(_, at)| at)
    }

    /// The first 64-byte window in `haystack` of any of `patterns`: which
    /// pattern (its position in the slice) and the offset. One pass, each
    /// position's first word unmixed once for all of them.
    pub fn find_window_of_any(patterns: &[Pattern], haystack: &[u8]) -> Option<(usize, usize)> {
        let span = WORD * WORDS_IN_WINDOW;
        if haystack.len() < span {
            return None;
        }
        (0..=haystack.len() - span).find_map(|p| {
            let word = unmix(read_word(&haystack[p..]));
            patterns.iter().enumerate().find_map(|(which, pattern)| {
                let words = pattern.len / WORD as u64;
                let index = word.wrapping_sub(pattern.base);
                let found = index.saturating_add(WORDS_IN_WINDOW as u64) <= words
                    && (1..WORDS_IN_WINDOW).all(|k| {
                        read_word(&haystack[p + k * WORD..]) == mix(pattern.base + index + k as u64)
                    });
                found.then_some((which, p))
            })
        })
    }
}

fn read_word(bytes: &[u8]) -> u64 {
    let mut w = [0; WORD];
    w.copy_from_slice(&bytes[..WORD]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmix_inverts_mix_and_ranges_agree_with_the_whole() {
        for z in [0u64, 1, 42, u64::MAX, 0x1234_5678_9abc_def0] {
            assert_eq!(unmix(mix(z)), z);
        }
        let p = Pattern::new(3, 1000);
        let all = p.all();
        assert_eq!(all.len(), 1000);
        assert_eq!(p.bytes(13, 100), all[13..113]);
        assert_eq!(p.bytes(990, 100), all[990..]);
        assert_ne!(Pattern::new(4, 1000).all(), all);
    }

    #[test]
    fn finds_any_64_byte_window_and_nothing_else() {
        let p = Pattern::new(9, 4096);
        let all = p.all();
        for start in [0usize, 1, 7, 8, 1000, 4096 - 64] {
            let mut hay = vec![0xAA; 300];
            hay.extend_from_slice(&all[start..start + 64]);
            hay.extend_from_slice(&[0x55; 17]);
            assert!(p.find_window(&hay).is_some(), "window at {start}");
        }
        let mut short = vec![0; 10];
        short.extend_from_slice(&all[100..100 + 55]);
        assert_eq!(p.find_window(&short), None, "55 bytes are not a window");
        assert_eq!(Pattern::new(10, 4096).find_window(&all), None);
    }

    #[test]
    fn finds_which_of_several_patterns_a_window_belongs_to() {
        let patterns = [Pattern::new(1, 4096), Pattern::new(2, 4096)];
        let mut hay = vec![0x11; 100];
        hay.extend_from_slice(&patterns[1].bytes(333, 64));
        // The first whole word of the window is the pattern's byte 336.
        let at = 100 + 3;
        assert_eq!(Pattern::find_window_of_any(&patterns, &hay), Some((1, at)));
        assert_eq!(Pattern::find_window_of_any(&patterns[..1], &hay), None);
        assert_eq!(Pattern::find_window_of_any(&[], &hay), None);
    }
}
