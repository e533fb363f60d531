//! glibc's allocator, set for a client process's transfers.
//!
//! A download arrives as 1 MiB HTTP/2 DATA frames. h2 reads each into a
//! buffer of its own, hands it on, and allocates the next one while the
//! last is still being written out. With glibc's defaults a 1 MiB block
//! comes from the heap once its dynamic mmap threshold has grown, and the
//! heap's top is trimmed as soon as blocks are freed, so every frame lands
//! in pages the kernel has just taken back: a 1 GiB `shardgate get` took
//! 140,000–235,000 page faults and 1.0–1.2 CPU-s. With freed blocks kept
//! (no trimming below 256 MiB of free heap, the mmap threshold fixed at
//! glibc's largest, 32 MiB) the same get takes about 10,000 faults and
//! 0.71–0.82 CPU-s (docs/performance.md, "Session 13").
//!
//! The `shardgate` client commands call it first thing: they are short
//! processes whose working set is a few frames. `serve` and `dev` do not,
//! because the broker gives memory back after a load on purpose
//! (`idle_memory.rs`, which says why the broker's answer differs). It sits
//! here, beside that, because it is the other half of the same glibc
//! behaviour, and this crate is where the workspace allows `unsafe`.

/// Keeps freed heap memory for reuse for the rest of this process. A C
/// library other than glibc keeps its own behaviour.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers and only sets glibc's tunables;
    // it is called before the runtime starts any thread. A refused value
    // (returns 0) leaves glibc's default, which is still correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
