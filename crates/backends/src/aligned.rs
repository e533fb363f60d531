//! Page-aligned byte buffers for direct I/O, and a small pool of them.
//!
//! `O_DIRECT` reads and writes need the user buffer, the length and the file
//! offset aligned to the device's logical block size; `ALIGN` (4 KiB) is
//! enough for every common device. The kernel pins such a buffer and moves
//! data by DMA, so a *fresh* buffer costs a page fault and a page clear per
//! 4 KiB on every request. Buffers are therefore pooled, and the broker's
//! upload path uses them too (stream pieces, sealed chunks, shard objects):
//! each reuses pages an earlier one already faulted in, and a shard object
//! sealed into one goes to an `fs` provider's `O_DIRECT` write as it is.
//!
//! # Why large buffers are mapped, not allocated
//!
//! Buffers of [`MAP_MIN_BYTES`] and more (chunks and shard objects) are
//! their own anonymous mappings, unmapped when freed. Through malloc, a
//! freed 4 MiB buffer stays in glibc's arenas (its dynamic mmap threshold
//! rises after the first one is freed), and under many concurrent
//! transfers those arenas held hundreds of MiB more than the broker's
//! memory budget allowed: 16 uploads took a broker with a 512 MiB budget
//! to 664–792 MiB (docs/performance.md, "Many transfers at once"). A
//! mapping's pages go back the moment it is unmapped, so the resident set
//! follows the live buffers, which the budget counts. The cost glibc was
//! saving — a fresh buffer's pages faulted and zeroed — was paid anyway
//! (calloc clears reused memory); transparent huge pages, asked for with
//! `MADV_HUGEPAGE`, fault it in 2 MiB steps, and the pool keeps the most
//! recent buffers for reuse.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use shardgate_core::ShardBuf;

/// Alignment of buffers, lengths and offsets for direct I/O.
pub(crate) const ALIGN: usize = 4096;

/// Most bytes the pool keeps for reuse unless [`set_pool_limit`] says
/// less. Above it, freed buffers go back to the system: the pool bounds
/// memory, it never grows with load.
pub const POOL_MAX_BYTES: usize = 64 << 20;

/// Buffers this large or larger are mappings of their own (see the
/// module docs).
pub const MAP_MIN_BYTES: usize = 1 << 20;

/// The pool's limit in force (at most [`POOL_MAX_BYTES`]).
static POOL_LIMIT: AtomicUsize = AtomicUsize::new(POOL_MAX_BYTES);

/// Sets how many bytes the pool may keep (capped at [`POOL_MAX_BYTES`]):
/// a broker counts them in its memory budget, so a small budget keeps a
/// small pool. Returns the limit now in force.
pub fn set_pool_limit(bytes: usize) -> usize {
    let limit = bytes.min(POOL_MAX_BYTES);
    POOL_LIMIT.store(limit, Ordering::Relaxed);
    limit
}

/// `n` rounded up to a multiple of [`ALIGN`].
pub(crate) fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// A zero-initialised, [`ALIGN`]-aligned heap buffer whose length is a
/// multiple of [`ALIGN`].
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    /// A mapping of its own ([`map`]), unmapped on drop; else from the
    /// global allocator.
    mapped: bool,
}

// SAFETY: the buffer is uniquely owned heap memory, like a `Box<[u8]>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads it, like `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    fn layout(len: usize) -> Layout {
        // `len` is a non-zero multiple of ALIGN (a power of two) far below
        // isize::MAX for any shard: the layout is always valid.
        Layout::from_size_align(len, ALIGN).expect("aligned buffer layout")
    }

    /// A new buffer of at least `min_len` bytes (at least one block).
    fn new(min_len: usize) -> Self {
        let len = align_up(min_len.max(1));
        if len >= MAP_MIN_BYTES
            && let Some(ptr) = map(len)
        {
            return Self {
                ptr,
                len,
                mapped: true,
            };
        }
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size. Zeroed, so every byte is
        // initialised and safe slices can cover the whole buffer.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        Self {
            ptr,
            len,
            mapped: false,
        }
    }

    /// Size in bytes (a multiple of [`ALIGN`]).
    fn len(&self) -> usize {
        self.len
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `len` initialised bytes for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.mapped {
            unmap(self.ptr, self.len);
        } else {
            // SAFETY: allocated in `new` with exactly this layout.
            unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
        }
    }
}

/// A private anonymous mapping of `len` bytes (page-aligned and zeroed by
/// the kernel), with transparent huge pages asked for; `None` if the
/// system refuses (the caller falls back to the allocator).
#[cfg(unix)]
fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping: no file, no fixed address, so it
    // cannot alias any memory we hold.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: advice on the mapping just made; failure only means no huge
    // pages (THP off), which is harmless.
    unsafe {
        libc::madvise(raw, len, libc::MADV_HUGEPAGE);
    }
    NonNull::new(raw.cast::<u8>())
}

#[cfg(not(unix))]
fn map(_len: usize) -> Option<NonNull<u8>> {
    None
}

#[cfg(unix)]
fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `ptr`/`len` are exactly a mapping `map` made, unmapped once
    // (the buffer owns it).
    unsafe {
        libc::munmap(ptr.as_ptr().cast(), len);
    }
}

#[cfg(not(unix))]
fn unmap(_ptr: NonNull<u8>, _len: usize) {
    unreachable!("no mapping is made where map() returns None")
}

/// Freed buffers kept for reuse, with their total size.
struct Pool {
    free: Vec<AlignedBuf>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

/// Frees every buffer the pool keeps; returns the bytes freed. Called when
/// the broker is idle (`idle_memory.rs`): the next load refills the pool.
pub(crate) fn drain_pool() -> usize {
    let free = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.bytes = 0;
        std::mem::take(&mut pool.free)
    };
    free.iter().map(AlignedBuf::len).sum()
}

/// A pooled, 4 KiB-aligned (`ALIGN`) buffer with a length: what shard objects
/// are sealed into (it implements [`ShardBuf`]), what `fs` providers read
/// into, and the bounce buffer of direct writes. Its memory goes back to
/// the pool when dropped.
pub struct PooledBuf {
    buf: Option<AlignedBuf>,
    len: usize,
}

impl PooledBuf {
    /// A buffer of `len` bytes: a pooled one when one fits without wasting
    /// more than half of it, else a new one. Its bytes are initialised but
    /// unspecified (zeros, or what an earlier user left).
    pub fn take(len: usize) -> Self {
        let want = align_up(len.max(1));
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest that fits: with the first, a 2 MiB shard object
            // took a 4 MiB chunk buffer, the next chunk-sized request found
            // none and mapped (and the kernel zeroed) a fresh one, while
            // 2 MiB buffers piled up past the pool's limit and were freed.
            let hit = pool
                .free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.len() >= want && b.len() / 2 <= want)
                .min_by_key(|(_, b)| b.len())
                .map(|(i, _)| i);
            hit.map(|i| {
                let buf = pool.free.swap_remove(i);
                pool.bytes -= buf.len();
                buf
            })
        };
        Self {
            buf: Some(reused.unwrap_or_else(|| AlignedBuf::new(want))),
            len,
        }
    }

    fn inner(&self) -> &AlignedBuf {
        self.buf.as_ref().expect("buffer present until drop")
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the buffer holds (at least its length: a pooled
    /// buffer may be up to twice as long as asked for).
    pub fn capacity(&self) -> usize {
        self.inner().len()
    }

    /// Whether the length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the buffer to `len` bytes (no effect if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// As [`Bytes`], without copying; the memory returns to the pool when
    /// the last clone is dropped.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.inner().as_slice()[..self.len]
    }
}

impl AsMut<[u8]> for PooledBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        let buf = self.buf.as_mut().expect("buffer present until drop");
        &mut buf.as_mut_slice()[..len]
    }
}

impl ShardBuf for PooledBuf {
    fn with_len(len: usize) -> Self {
        Self::take(len)
    }

    fn truncate(&mut self, len: usize) {
        PooledBuf::truncate(self, len);
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let Some(buf) = self.buf.take() else { return };
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.bytes + buf.len() <= POOL_LIMIT.load(Ordering::Relaxed) {
            pool.bytes += buf.len();
            pool.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_exactly_as_long_as_asked() {
        for want in [1, 4095, 4096, 4097, (2 << 20) + 88] {
            let buf = PooledBuf::take(want);
            assert!((buf.as_ref().as_ptr() as usize).is_multiple_of(ALIGN));
            assert_eq!(buf.len(), want);
            assert!(buf.inner().len() >= want && buf.inner().len().is_multiple_of(ALIGN));
        }
    }

    #[test]
    fn into_bytes_exposes_the_length_not_the_capacity() {
        let mut buf = PooledBuf::take(8192);
        buf.as_mut()[..5].copy_from_slice(b"shard");
        buf.truncate(5);
        let bytes = buf.into_bytes();
        assert_eq!(&bytes[..], b"shard");
        assert_eq!(bytes.as_ptr() as usize % ALIGN, 0, "no copy: still aligned");
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(&copy[..], b"shard", "clones keep the buffer alive");
    }

    #[test]
    fn chunk_sized_buffers_are_mappings_and_small_ones_are_not() {
        let big = AlignedBuf::new(4 << 20);
        assert!(big.mapped, "a 4 MiB buffer is a mapping of its own");
        assert!(big.as_slice().iter().all(|b| *b == 0), "zeroed");
        assert!(!AlignedBuf::new(64 << 10).mapped);
    }

    #[test]
    fn a_request_takes_the_smallest_pooled_buffer_that_fits() {
        // A private size, so buffers other tests free cannot interfere.
        let small = 3 << 20;
        let big = (5 << 20) + 4 * ALIGN;
        let (big_ptr, small_ptr) = {
            let (a, b) = (PooledBuf::take(big), PooledBuf::take(small));
            let ptrs = (a.as_ref().as_ptr() as usize, b.as_ref().as_ptr() as usize);
            drop(a);
            drop(b);
            ptrs
        };
        let taken = PooledBuf::take(small - ALIGN);
        let got = taken.as_ref().as_ptr() as usize;
        assert_ne!(got, big_ptr, "the larger buffer stays for a larger request");
        if got == small_ptr {
            assert!(taken.capacity() < big);
        }
    }

    #[test]
    fn a_pooled_buffer_is_not_handed_out_for_a_much_smaller_request() {
        drop(PooledBuf::take(1 << 20));
        let small = PooledBuf::take(ALIGN);
        assert!(
            small.inner().len() < 1 << 20,
            "got {} bytes for a 4 KiB request",
            small.inner().len()
        );
    }
}
