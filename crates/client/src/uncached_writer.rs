//! A downloaded file written straight to the disk, around the page cache.
//!
//! A download is made durable before it is renamed into place
//! (`write_behind.rs`). Through the page cache that costs every byte twice
//! — copied into the cache, then written back by the kernel — and it takes
//! a fresh page of memory for every 4 KiB of the file. On the VM this
//! project is measured on, fresh pages are dear: memory the guest freed is
//! handed back to the host, and every page taken again faults there. In
//! one sitting, `dd` wrote 1 GiB through the cache with `fdatasync` in
//! 1.3–5.8 s (0.8–5.1 s of it system time) and with `O_DIRECT` in
//! 0.9–1.0 s (0.3–0.4 s system time).
//!
//! So [`UncachedWriter`] copies the download into a few aligned blocks,
//! allocated once and reused, and two I/O threads write full blocks at
//! their offsets with `O_DIRECT` while the next one fills. Two writes in
//! flight, not one: while the broker's own shard reads share the disk, a
//! lone writer waits out every read, and on the same VM two `dd` writers
//! moved 1 GiB in 0.74 s where one took 1.20 s. The last block is padded
//! to the alignment and the file cut back to its length. Whether the file
//! system takes `O_DIRECT` is tried once, with one aligned write when the
//! file is created: where it does not (some FUSE mounts, a block size above
//! [`ALIGN`], tmpfs on old kernels) the caller writes through the cache.
//!
//! The price: the file is not in the page cache afterwards, so reading it
//! right after the download goes to the disk, as it would after a reboot.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::write_behind::reserve;

/// Alignment of every direct write: memory address, file offset and
/// length. 4 KiB covers the logical block size of common disks.
pub(crate) const ALIGN: usize = 4096;
/// Bytes per write: a few milliseconds of disk time, so the queue between
/// the network and the writer rarely waits on the disk.
const BLOCK: usize = 4 << 20;
/// Writes in flight at once.
const IO_THREADS: usize = 2;
/// Blocks in existence: one filling, one queued, one per I/O thread.
const BLOCKS: usize = IO_THREADS + 2;

/// A [`BLOCK`]-sized buffer starting at an [`ALIGN`]ed address.
struct AlignedBlock {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBlock {
    fn new() -> Self {
        // Over-allocated by the alignment, and used from the first aligned
        // address in it: no unsafe allocation needed.
        let storage = vec![0u8; BLOCK + ALIGN];
        let start = (ALIGN - storage.as_ptr().addr() % ALIGN) % ALIGN;
        Self {
            storage,
            start,
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == BLOCK
    }

    /// Copies as much of `bytes` as fits; returns how much that was.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BLOCK - self.len);
        let at = self.start + self.len;
        self.storage[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// The filled bytes, zero-padded up to the alignment.
    fn padded(&mut self) -> &[u8] {
        let end = self.len.div_ceil(ALIGN) * ALIGN;
        self.storage[self.start + self.len..self.start + end].fill(0);
        &self.storage[self.start..self.start + end]
    }
}

/// A full block and where it goes in the file.
struct Write {
    block: AlignedBlock,
    offset: u64,
}

/// Writes a new regular file with `O_DIRECT` from reused aligned blocks on
/// I/O threads; [`UncachedWriter::finish`] makes it durable.
pub(crate) struct UncachedWriter {
    file: Arc<File>,
    current: AlignedBlock,
    /// File offset of `current`.
    offset: u64,
    allocated: usize,
    to_disk: SyncSender<Write>,
    free: Receiver<AlignedBlock>,
    /// Set by an I/O thread that failed: the writes stop early.
    failed: Arc<AtomicBool>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl UncachedWriter {
    /// Creates (or truncates) `path` for direct writes. `Ok(None)` when the
    /// file system refuses `O_DIRECT` (the caller writes through the
    /// cache), and on systems without it.
    pub(crate) fn create(path: &Path, length: Option<u64>) -> io::Result<Option<Self>> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let opened = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path);
            let file = match opened {
                Ok(file) => file,
                Err(e) if is_refused_direct(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            // Some file systems take the flag at open and refuse the I/O:
            // one aligned write says which, before any data is at stake.
            // The probe's block then becomes the first one filled.
            let mut probe = AlignedBlock::new();
            probe.len = ALIGN;
            match file.write_all_at(probe.padded(), 0) {
                Ok(()) => file.set_len(0)?,
                Err(e) if is_refused_direct(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
            reserve(&file, length)?;
            probe.len = 0;
            Self::start(file, probe).map(Some)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (path, length);
            Ok(None)
        }
    }

    /// The I/O threads over `file`; `first` is the block filled first.
    fn start(file: File, first: AlignedBlock) -> io::Result<Self> {
        let file = Arc::new(file);
        let (to_disk, writes) = sync_channel::<Write>(1);
        let (give_back, free) = sync_channel(BLOCKS);
        let writes = Arc::new(Mutex::new(writes));
        let failed = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(IO_THREADS);
        for _ in 0..IO_THREADS {
            let (file, writes, give_back, failed) = (
                file.clone(),
                writes.clone(),
                give_back.clone(),
                failed.clone(),
            );
            let thread = std::thread::Builder::new()
                .name("shardgate-write".into())
                .spawn(move || {
                    let result = write_blocks(&file, &writes, &give_back);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })?;
            threads.push(thread);
        }
        Ok(Self {
            file,
            current: first,
            offset: 0,
            allocated: 1,
            to_disk,
            free,
            failed,
            threads,
        })
    }

    /// The file being written.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Writes all of `bytes` (queued for the I/O threads block by block).
    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.current.fill(bytes);
            bytes = &bytes[n..];
            if self.current.is_full() {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    /// Queues the full current block and takes an empty one: a returned
    /// block, a new one while fewer than [`BLOCKS`] exist, or else the
    /// next block a thread finishes.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(io_failure());
        }
        let next = match self.free.try_recv() {
            Ok(block) => block,
            Err(TryRecvError::Empty) if self.allocated < BLOCKS => {
                self.allocated += 1;
                AlignedBlock::new()
            }
            Err(TryRecvError::Empty) => self.free.recv().map_err(|_| io_failure())?,
            Err(TryRecvError::Disconnected) => return Err(io_failure()),
        };
        let block = std::mem::replace(&mut self.current, next);
        let offset = self.offset;
        self.offset += block.len as u64;
        self.to_disk
            .send(Write { block, offset })
            .map_err(|_| io_failure())
    }

    /// Writes the last block, waits for every write, cuts the file to its
    /// length and syncs it (data and metadata). Returns the first error
    /// the writes met.
    pub(crate) fn finish(self) -> io::Result<()> {
        let Self {
            file,
            current,
            offset,
            to_disk,
            threads,
            ..
        } = self;
        let length = offset + current.len as u64;
        // A send fails only if every thread stopped on an error, which the
        // joins return.
        if current.len > 0 {
            let _ = to_disk.send(Write {
                block: current,
                offset,
            });
        }
        drop(to_disk);
        let mut first_error = None;
        for thread in threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a file I/O thread panicked")));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Only the last block is short: padded, it kept the write aligned;
        // the padding comes off here.
        if file.metadata()?.len() != length {
            file.set_len(length)?;
        }
        file.sync_all()
    }
}

/// The I/O threads stopped early, so one failed: its error is reported by
/// `finish`; this one only stops the writes.
fn io_failure() -> io::Error {
    io::Error::other("writing the file failed (the error follows at the end)")
}

/// One I/O thread: writes blocks at their offsets and hands them back,
/// until the writer is done or a write fails.
fn write_blocks(
    file: &File,
    writes: &Mutex<Receiver<Write>>,
    give_back: &SyncSender<AlignedBlock>,
) -> io::Result<()> {
    loop {
        // The lock is held only while waiting for the next block, never
        // during a write: the other thread's write goes on meanwhile.
        let next = writes
            .lock()
            .map_err(|_| io::Error::other("a file I/O thread panicked"))?
            .recv();
        let Ok(Write { mut block, offset }) = next else {
            return Ok(());
        };
        file.write_all_at(block.padded(), offset)?;
        block.len = 0;
        // Fails only when the writer is gone: then nothing more comes.
        let _ = give_back.try_send(block);
    }
}

fn is_refused_direct(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(libc::EINVAL)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Writes `pieces` through a writer made by `open` and returns what
    /// the file holds afterwards.
    fn round_trip(pieces: &[usize], direct: bool) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let mut writer = if direct {
            match UncachedWriter::create(&path, None).expect("create") {
                Some(writer) => writer,
                // The temp dir's file system has no O_DIRECT: the same
                // threads over a cached file cover the same code.
                None => {
                    UncachedWriter::start(File::create(&path).expect("create"), AlignedBlock::new())
                        .expect("start")
                }
            }
        } else {
            UncachedWriter::start(File::create(&path).expect("create"), AlignedBlock::new())
                .expect("start")
        };
        let mut expected = Vec::new();
        for (i, &len) in pieces.iter().enumerate() {
            let mut piece = pattern(len);
            piece.iter_mut().for_each(|b| *b = b.wrapping_add(i as u8));
            writer.write_all(&piece).expect("write");
            expected.extend_from_slice(&piece);
        }
        writer.finish().expect("finish");
        (std::fs::read(&path).expect("read"), expected)
    }

    #[test]
    fn every_length_around_the_alignment_and_the_block_comes_back_exact() {
        for total in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
        ] {
            for direct in [true, false] {
                let (got, expected) = round_trip(&[total], direct);
                assert_eq!(
                    got.len(),
                    total,
                    "length of {total} bytes (direct {direct})"
                );
                assert!(
                    got == expected,
                    "content of {total} bytes (direct {direct})"
                );
            }
        }
    }

    #[test]
    fn uneven_writes_over_many_blocks_come_back_exact() {
        // More blocks than exist, so blocks are reused; pieces that straddle
        // block boundaries.
        let pieces: Vec<usize> = (0..12).map(|i| (1 << 20) + 4093 * i).collect();
        let (got, expected) = round_trip(&pieces, true);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }

    #[test]
    fn a_failed_write_is_reported() {
        // A read-only handle: every write fails, and nothing may claim
        // the data is safe.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").expect("create");
        let file = File::open(&path).expect("open");
        let mut writer = UncachedWriter::start(file, AlignedBlock::new()).expect("start");
        let wrote = (0..4).try_for_each(|_| writer.write_all(&pattern(BLOCK)));
        assert!(wrote.is_err() || writer.finish().is_err());
    }
}
