//! The data path of `fs` providers: shard files written and read with
//! direct I/O, outside the page cache.
//!
//! opendal's `fs` service goes through `tokio::fs`: every write is copied
//! into a 2 MiB staging buffer, then into the page cache, and every read is
//! copied out of the page cache in 256 KiB pieces and glued together again.
//! On the 2-core VM the broker is measured on, those copies and the page
//! cache's own bookkeeping were most of the CPU an upload or download
//! spent; `dd` shows the same disk taking 2.6 GB/s with `O_DIRECT` against
//! 263 MB/s through the cache with `fsync`. Shard objects are written once
//! and read whole, so caching them gains nothing. Puts and whole-shard reads
//! of `fs` providers therefore come here; listing, stat, delete and ranges
//! still go through opendal, on the same files.
//!
//! A put writes a temp file in `.shardgate-tmp` (the directory opendal used,
//! on the same file system), `fdatasync`s it, then hard-links it into place,
//! which fails if the key is taken: that is the conditional put, atomic
//! between processes. The link's directory is synced too, so a put that
//! returned survives a crash. Where the file system refuses `O_DIRECT`
//! (tmpfs on older kernels, some FUSE mounts) the same steps run buffered.
//!
//! Everything here blocks; [`LocalDisk`] runs it on tokio's blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use shardgate_core::SHARD_HEADER_LEN;

use crate::aligned::{ALIGN, PooledBuf, align_up};

/// `open(2)` flag for direct I/O. Other systems have no `O_DIRECT` (macOS
/// has `F_NOCACHE` instead): there the same steps run through the cache.
#[cfg(target_os = "linux")]
const O_DIRECT: libc::c_int = libc::O_DIRECT;
#[cfg(not(target_os = "linux"))]
const O_DIRECT: libc::c_int = 0;

/// Bytes copied into the aligned bounce buffer per direct write.
const BOUNCE_LEN: usize = 1 << 20;

/// Temp names tried before a put gives up (each taken name is another
/// process's file).
const TEMP_NAME_ATTEMPTS: usize = 8;

/// Name of the temp directory under the provider root.
pub(crate) const TEMP_DIR: &str = ".shardgate-tmp";

/// What a conditional create found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The file did not exist and now holds the object.
    Created,
    /// The key was taken; nothing was changed.
    Taken,
}

/// What a bounded read found.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// The whole file.
    Whole(Bytes),
    /// The file is larger than the limit; nothing was read.
    TooLarge(u64),
}

/// What a read of one shard object into the caller's buffer found.
#[derive(Debug)]
pub(crate) enum PlacedRead {
    /// The object's header; its body is in the caller's buffer.
    Read([u8; SHARD_HEADER_LEN]),
    /// The file is not a header and a body of the caller's length long:
    /// nothing was read.
    OtherSize,
}

/// Shard files under one `fs` provider root.
#[derive(Debug, Clone)]
pub(crate) struct LocalDisk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    temp: PathBuf,
    /// Cleared after the file system refused `O_DIRECT` once.
    direct: AtomicBool,
    /// Cleared after the file system refused an `O_DIRECT` read at an
    /// unaligned offset or length (a block device does; tmpfs does not):
    /// shard bodies start at byte 80, so placed reads then go through an
    /// aligned whole-object read.
    unaligned_direct: AtomicBool,
    /// Temp file names are `<tag>-<n>.put`: the tag (pid and start time)
    /// keeps processes sharing a root apart, `n` the puts of this one.
    temp_tag: String,
    next_temp: AtomicU64,
}

impl LocalDisk {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            inner: Arc::new(Inner {
                root: root.to_owned(),
                temp: root.join(TEMP_DIR),
                direct: AtomicBool::new(true),
                unaligned_direct: AtomicBool::new(true),
                temp_tag: format!("{}-{}", std::process::id(), started_nanos()),
                next_temp: AtomicU64::new(0),
            }),
        }
    }

    /// The buffered path alone, as on a file system without `O_DIRECT`.
    #[cfg(test)]
    fn buffered(root: &Path) -> Self {
        let disk = Self::new(root);
        disk.inner.direct.store(false, Ordering::Relaxed);
        disk
    }

    /// Writes `object` at `key` unless the key is taken.
    pub(crate) async fn create(&self, key: &str, object: Bytes) -> io::Result<Placed> {
        let (inner, key) = (self.inner.clone(), key.to_owned());
        blocking(move || inner.create(&key, &object)).await
    }

    /// Writes `object` at `key`, atomically replacing what is there.
    pub(crate) async fn replace(&self, key: &str, object: Bytes) -> io::Result<()> {
        let (inner, key) = (self.inner.clone(), key.to_owned());
        blocking(move || inner.replace(&key, &object)).await
    }

    /// The whole file at `key`, unless it is larger than `limit` bytes.
    pub(crate) async fn read(&self, key: &str, limit: u64) -> io::Result<ReadOutcome> {
        let (inner, key) = (self.inner.clone(), key.to_owned());
        blocking(move || inner.read(&key, limit)).await
    }

    /// Whether a body can be read straight into place: reads are buffered,
    /// or `O_DIRECT` reads were not (yet) refused at unaligned offsets.
    /// Where they were (a block device), a placed read would only move the
    /// rebuild's copy, and read a chunk's shards one after the other.
    pub(crate) fn reads_in_place(&self) -> bool {
        self.inner.reads_in_place()
    }

    /// A reader of the object at `key` into a caller's buffer, to run on a
    /// blocking thread ([`PlacedReader::read_into`]).
    pub(crate) fn placed_reader(&self, key: &str) -> io::Result<PlacedReader> {
        Ok(PlacedReader {
            path: self.inner.path(key)?,
            inner: self.inner.clone(),
        })
    }
}

/// Reads one shard object's body straight into a slice of a larger buffer
/// (a chunk's data shards side by side), so the chunk needs no rebuild
/// copy. Blocking.
#[derive(Debug, Clone)]
pub(crate) struct PlacedReader {
    inner: Arc<Inner>,
    path: PathBuf,
}

impl PlacedReader {
    /// Reads the header into the result and the body into `body`, if the
    /// file is exactly a header and `body.len()` bytes.
    ///
    /// Where `O_DIRECT` reads must be aligned (a block device), the body
    /// cannot be read in place: the object is read whole with aligned
    /// reads and the body copied out, the copy a rebuild would have made.
    pub(crate) fn read_into(&self, body: &mut [u8]) -> io::Result<PlacedRead> {
        let want = (SHARD_HEADER_LEN + body.len()) as u64;
        let direct = self.inner.direct.load(Ordering::Relaxed);
        if self.inner.reads_in_place() {
            let placed =
                open_read(&self.path, direct).and_then(|file| read_placed(&file, want, body));
            match placed {
                Err(e) if direct && refuses_direct_io(&e) => {
                    self.inner.unaligned_direct.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let object = match self.inner.read_path(&self.path, want)? {
            ReadOutcome::TooLarge(_) => return Ok(PlacedRead::OtherSize),
            ReadOutcome::Whole(object) => object,
        };
        if object.len() as u64 != want {
            return Ok(PlacedRead::OtherSize);
        }
        let (head, rest) = object.split_at(SHARD_HEADER_LEN);
        body.copy_from_slice(rest);
        let mut header = [0; SHARD_HEADER_LEN];
        header.copy_from_slice(head);
        Ok(PlacedRead::Read(header))
    }
}

/// Header and body of `file` with positioned reads, if it is `want` bytes.
fn read_placed(file: &File, want: u64, body: &mut [u8]) -> io::Result<PlacedRead> {
    let size = file.metadata()?.len();
    if size != want {
        return Ok(PlacedRead::OtherSize);
    }
    let mut header = [0; SHARD_HEADER_LEN];
    file.read_exact_at(&mut header, 0)?;
    file.read_exact_at(body, SHARD_HEADER_LEN as u64)?;
    Ok(PlacedRead::Read(header))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    // A dropped caller does not stop the work: a put still completes (an
    // orphan for GC, as any write in flight when a client hangs up).
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("local disk task failed: {e}"))))
}

impl Inner {
    /// See [`LocalDisk::reads_in_place`].
    fn reads_in_place(&self) -> bool {
        !self.direct.load(Ordering::Relaxed) || self.unaligned_direct.load(Ordering::Relaxed)
    }

    /// `root/key`, refusing keys that could leave the root.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let relative = Path::new(key.trim_start_matches('/'));
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("object key {key:?} is not a plain relative path"),
            ));
        }
        Ok(self.root.join(relative))
    }

    fn create(&self, key: &str, object: &[u8]) -> io::Result<Placed> {
        let target = self.path(key)?;
        // The common "already there" case (a retried put) costs one stat.
        if target.symlink_metadata().is_ok() {
            return Ok(Placed::Taken);
        }
        let temp = self.write_temp(object)?;
        let linked = with_parent(&target, || std::fs::hard_link(&temp, &target));
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                sync_parent(&target)?;
                Ok(Placed::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Placed::Taken),
            Err(e) => Err(e),
        }
    }

    fn replace(&self, key: &str, object: &[u8]) -> io::Result<()> {
        let target = self.path(key)?;
        let temp = self.write_temp(object)?;
        let renamed = with_parent(&target, || std::fs::rename(&temp, &target));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        renamed?;
        sync_parent(&target)
    }

    /// A new durable temp file holding `object`.
    fn write_temp(&self, object: &[u8]) -> io::Result<PathBuf> {
        for _ in 0..TEMP_NAME_ATTEMPTS {
            let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
            let temp = self.temp.join(format!("{}-{n}.put", self.temp_tag));
            match with_parent(&temp, || self.write_file(&temp, object)) {
                Ok(()) => return Ok(temp),
                // Another process's temp file of that name (two brokers on
                // one shared root, started in the same nanosecond with the
                // same pid): not ours to remove; take the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    return Err(e);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free temp file name in {}", self.temp.display()),
        ))
    }

    fn write_file(&self, path: &Path, object: &[u8]) -> io::Result<()> {
        if self.direct.load(Ordering::Relaxed) {
            match write_direct(path, object) {
                Err(e) if refuses_direct_io(&e) => {
                    tracing::info!(root = %self.root.display(), error = %e, "file system refuses O_DIRECT; fs provider writes go through the page cache");
                    self.direct.store(false, Ordering::Relaxed);
                    let _ = std::fs::remove_file(path);
                }
                other => return other,
            }
        }
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(object)?;
        file.sync_data()
    }

    fn read(&self, key: &str, limit: u64) -> io::Result<ReadOutcome> {
        self.read_path(&self.path(key)?, limit)
    }

    fn read_path(&self, path: &Path, limit: u64) -> io::Result<ReadOutcome> {
        if self.direct.load(Ordering::Relaxed) {
            match open_read(path, true) {
                Ok(file) => match read_whole(file, limit) {
                    Err(e) if refuses_direct_io(&e) => {}
                    other => return other,
                },
                Err(e) if refuses_direct_io(&e) => {}
                Err(e) => return Err(e),
            }
            self.direct.store(false, Ordering::Relaxed);
        }
        read_whole(open_read(path, false)?, limit)
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
fn started_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `EINVAL` from open or I/O with `O_DIRECT`: the file system (or an
/// alignment it needs beyond [`ALIGN`]) does not allow direct I/O.
fn refuses_direct_io(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// Runs `op`; if it failed because the parent directory is missing, creates
/// it and runs `op` once more.
fn with_parent(path: &Path, mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            op()
        }
        other => other,
    }
}

/// Makes a new directory entry under `path`'s parent durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// Writes `object` with `O_DIRECT`, then cuts the file back to the
/// object's length. An object in an aligned buffer (the broker seals into
/// [`crate::PooledBuf`]s) is written in place up to its last whole block;
/// the rest, or all of an unaligned object, goes through an aligned bounce
/// buffer, its last block padded with zeros.
fn write_direct(path: &Path, object: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(O_DIRECT)
        .open(path)?;
    let in_place = if (object.as_ptr() as usize).is_multiple_of(ALIGN) {
        object.len() / ALIGN * ALIGN
    } else {
        0
    };
    file.write_all(&object[..in_place])?;
    let rest = &object[in_place..];
    if !rest.is_empty() {
        let mut bounce = PooledBuf::take(BOUNCE_LEN.min(align_up(rest.len())));
        let step = bounce.len();
        for piece in rest.chunks(step) {
            let padded = align_up(piece.len());
            let buf = bounce.as_mut();
            buf[..piece.len()].copy_from_slice(piece);
            buf[piece.len()..padded].fill(0);
            file.write_all(&buf[..padded])?;
        }
    }
    file.set_len(object.len() as u64)?;
    file.sync_data()
}

fn open_read(path: &Path, direct: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    if direct {
        options.custom_flags(O_DIRECT);
    }
    options.open(path)
}

/// Reads the whole file into one aligned pooled buffer (no copy after the
/// kernel's), unless it is larger than `limit`.
fn read_whole(mut file: File, limit: u64) -> io::Result<ReadOutcome> {
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(ReadOutcome::TooLarge(size));
    }
    // size <= limit, which is a shard object's bound: it fits a usize.
    let size = size as usize;
    // One block more than the size, so reaching end of file is seen as a
    // short read rather than assumed (a file that grew is caught below).
    let mut buf = PooledBuf::take(align_up(size) + ALIGN);
    let mut filled = 0;
    let capacity = buf.len();
    loop {
        match file.read(&mut buf.as_mut()[filled..capacity]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == capacity {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if filled != size {
        // Shard files are never written in place (puts link or rename a
        // new file), so this is someone else writing into the provider root.
        return Err(io::Error::other(format!(
            "file changed while read: {size} bytes at open, {filled} read"
        )));
    }
    buf.truncate(size);
    Ok(ReadOutcome::Whole(buf.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(len: usize) -> Bytes {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Placed reads on a block device (`O_DIRECT` aligned only: the
    /// aligned whole read), buffered, and on a tmpfs where there is one
    /// (`O_DIRECT` at any offset: read in place).
    #[test]
    fn bodies_are_read_into_place_on_every_kind_of_file_system() {
        let dirs = [
            (tempfile::tempdir().expect("tempdir"), false),
            (tempfile::tempdir().expect("tempdir"), true),
        ];
        let shm = tempfile::tempdir_in("/dev/shm").ok();
        let mut disks: Vec<(LocalDisk, &Path)> = dirs
            .iter()
            .map(|(dir, buffered)| {
                let disk = if *buffered {
                    LocalDisk::buffered(dir.path())
                } else {
                    LocalDisk::new(dir.path())
                };
                (disk, dir.path())
            })
            .collect();
        if let Some(dir) = &shm {
            disks.push((LocalDisk::new(dir.path()), dir.path()));
        }
        for (disk, root) in disks {
            for body_len in [1, 4096 - SHARD_HEADER_LEN, 4096, (1 << 20) + 3] {
                let key = format!("shards/cd/{body_len}.1");
                let path = root.join(&key);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                let bytes = object(SHARD_HEADER_LEN + body_len);
                std::fs::write(&path, &bytes).expect("write");
                let reader = disk.placed_reader(&key).expect("reader");
                // At an odd offset in a larger buffer, as a second data
                // shard lands in a chunk buffer; its neighbours untouched.
                let mut buf = vec![0xEE; body_len + 14];
                let header = match reader.read_into(&mut buf[7..7 + body_len]).expect("read") {
                    PlacedRead::Read(header) => header,
                    PlacedRead::OtherSize => panic!("{body_len}: other size"),
                };
                assert_eq!(header[..], bytes[..SHARD_HEADER_LEN]);
                assert_eq!(
                    buf[7..7 + body_len],
                    bytes[SHARD_HEADER_LEN..],
                    "{body_len}"
                );
                assert!(
                    buf[..7]
                        .iter()
                        .chain(&buf[7 + body_len..])
                        .all(|&b| b == 0xEE)
                );
                // A body of another length is not read at all.
                let mut other = vec![0xEE; body_len + 1];
                assert!(matches!(
                    reader.read_into(&mut other).expect("read"),
                    PlacedRead::OtherSize
                ));
                assert!(other.iter().all(|&b| b == 0xEE));
            }
            let missing = disk.placed_reader("shards/cd/none.0").expect("reader");
            let err = missing.read_into(&mut [0; 8]).expect_err("missing");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }
    }

    #[tokio::test]
    async fn objects_of_every_alignment_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        round_trips(&LocalDisk::new(dir.path()), dir.path()).await;
    }

    #[tokio::test]
    async fn objects_round_trip_without_direct_io() {
        let dir = tempfile::tempdir().expect("tempdir");
        round_trips(&LocalDisk::buffered(dir.path()), dir.path()).await;
    }

    async fn round_trips(disk: &LocalDisk, root: &Path) {
        for (i, len) in [0, 1, 4095, 4096, 4097, BOUNCE_LEN + 88, 3 * BOUNCE_LEN]
            .into_iter()
            .enumerate()
        {
            let key = format!("shards/ab/{i}.0");
            let bytes = object(len);
            assert_eq!(
                disk.create(&key, bytes.clone()).await.expect("create"),
                Placed::Created
            );
            match disk.read(&key, u64::MAX).await.expect("read") {
                ReadOutcome::Whole(got) => assert_eq!(got, bytes, "{len} bytes"),
                other => panic!("{other:?}"),
            }
            assert_eq!(
                std::fs::metadata(root.join(&key)).expect("stat").len(),
                len as u64,
                "no padding left on disk"
            );
        }
        let temp_left = std::fs::read_dir(root.join(TEMP_DIR))
            .expect("temp dir")
            .count();
        assert_eq!(temp_left, 0, "temp files are removed");
    }

    #[tokio::test]
    async fn aligned_objects_are_written_in_place_and_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = LocalDisk::new(dir.path());
        for (i, len) in [4096, 3 * 4096 + 88, (2 << 20) + 88]
            .into_iter()
            .enumerate()
        {
            let mut buf = PooledBuf::take(len);
            buf.as_mut().copy_from_slice(&object(len));
            let bytes = buf.into_bytes();
            assert_eq!(bytes.as_ptr() as usize % ALIGN, 0);
            let key = format!("aligned/{i}");
            disk.create(&key, bytes.clone()).await.expect("create");
            assert_eq!(std::fs::read(dir.path().join(&key)).expect("read"), bytes);
        }
    }

    #[tokio::test]
    async fn create_never_replaces_and_replace_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = LocalDisk::new(dir.path());
        let key = "p/shards/cd/x.1";
        disk.create(key, object(5000)).await.expect("first");
        assert_eq!(
            disk.create(key, object(10)).await.expect("second"),
            Placed::Taken
        );
        assert_eq!(
            std::fs::read(dir.path().join(key)).expect("read"),
            object(5000)
        );
        disk.replace(key, object(10)).await.expect("replace");
        assert_eq!(
            std::fs::read(dir.path().join(key)).expect("read"),
            object(10)
        );
    }

    #[tokio::test]
    async fn another_processs_temp_file_is_skipped_not_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = LocalDisk::new(dir.path());
        let temp_dir = dir.path().join(TEMP_DIR);
        std::fs::create_dir_all(&temp_dir).expect("temp dir");
        let foreign = temp_dir.join(format!("{}-0.put", disk.inner.temp_tag));
        std::fs::write(&foreign, b"someone else's").expect("foreign temp");
        disk.create("k", object(10)).await.expect("create");
        assert_eq!(
            std::fs::read(&foreign).expect("still there"),
            b"someone else's"
        );
        assert_eq!(
            std::fs::read(dir.path().join("k")).expect("read"),
            object(10)
        );
    }

    #[tokio::test]
    async fn reads_stop_at_the_limit_and_missing_files_are_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = LocalDisk::new(dir.path());
        disk.create("big", object(9000)).await.expect("create");
        assert!(matches!(
            disk.read("big", 8999).await.expect("read"),
            ReadOutcome::TooLarge(9000)
        ));
        let missing = disk.read("nope", 10).await.expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn keys_cannot_leave_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = LocalDisk::new(&dir.path().join("root"));
        for key in ["../escape", "a/../../b", "./a"] {
            let e = disk.create(key, object(1)).await.expect_err(key);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{key}");
        }
    }
}
