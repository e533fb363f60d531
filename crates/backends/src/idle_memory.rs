//! Giving memory back to the system when the broker is idle.
//!
//! # Why it is needed
//!
//! glibc's malloc serves a chunk-sized buffer (4 MiB) from `mmap` only
//! until the first such buffer is freed: then its dynamic threshold rises
//! above that size, and later buffers come from the per-thread arenas.
//! Freed arena memory that is not at the top of its heap stays resident,
//! so after a load the broker kept hundreds of MiB it no longer used
//! (issue 15: 600 → 826 MiB, never back). `malloc_trim(0)` hands the free
//! pages of every arena back (`MADV_DONTNEED`). It walks the arenas, so the
//! broker calls it on a timer while idle, never on the data path. Pinning
//! the mmap threshold instead would make every chunk a fresh `mmap` and
//! page-fault its 1,024 pages: CPU on the hot path for memory a trim
//! returns anyway.
//!
//! The pool of aligned buffers (`aligned.rs`, at most 64 MiB) is emptied
//! first, so its buffers are among what goes back.
//!
//! Other C libraries (musl) have no `malloc_trim`; there only the pool is
//! emptied.

/// Empties the buffer pool and asks the allocator to return free pages.
/// Blocking (a few ms): call it from a blocking thread.
pub fn release_idle_memory() {
    crate::aligned::drain_pool();
    trim_allocator();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_allocator() {
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own arenas
    // under their locks and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_allocator() {}
