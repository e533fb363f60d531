//! Where a download is written: a regular file is written beside its name
//! and renamed into place once complete and checked; a device or a pipe
//! that already exists (`/dev/null`, `/dev/stdout`, a FIFO another process
//! reads) is written in place.
//!
//! Renaming `PATH.part` over `/dev/null` would replace the device with a
//! regular file for every process on the machine — `shardgate get BLOB
//! -o /dev/null` did exactly that — and a pipe has nothing to rename, keep
//! or `fsync`. A symbolic link to a file is written through, as `cp` and
//! `curl -o` do: the part file goes beside the link's target and replaces
//! the target, and the link stays a link.

use std::path::{Path, PathBuf};

use crate::error::{ClientError, Result};
use crate::write_behind::DurableWriter;

/// A download's output path, and how it is written.
#[derive(Debug)]
pub(crate) struct OutputFile {
    path: PathBuf,
    /// `PATH.part`, renamed over `path` at the end; `None` for an existing
    /// non-regular file, written in place.
    part: Option<PathBuf>,
}

impl OutputFile {
    /// Decides from what is at `path` now. A directory is an error (the
    /// caller must name the file).
    pub(crate) fn at(path: &Path) -> Result<Self> {
        // Through a link to its target (a dangling link is replaced).
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let resolved = if is_link {
            std::fs::canonicalize(path).ok()
        } else {
            None
        };
        let path = resolved.as_deref().unwrap_or(path);
        let existing = std::fs::metadata(path).ok();
        if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            return Err(ClientError::invalid(format!(
                "{} is a directory: name the output file",
                path.display()
            )));
        }
        let in_place = existing.is_some_and(|m| !m.is_file());
        let part = (!in_place).then(|| {
            let mut part = path.as_os_str().to_owned();
            part.push(".part");
            PathBuf::from(part)
        });
        Ok(Self {
            path: path.to_path_buf(),
            part,
        })
    }

    /// The path to open for writing.
    pub(crate) fn write_path(&self) -> &Path {
        self.part.as_deref().unwrap_or(&self.path)
    }

    /// A writer for [`Self::write_path`]: durable (synced before
    /// [`Self::commit`] renames it) for a file that is kept, passing
    /// through for a device or pipe (`fsync` fails on a pipe). `length`,
    /// when known, is reserved on the disk first (`write_behind.rs`): a
    /// disk without room for the download says so before any byte of it.
    pub(crate) fn writer(&self, length: Option<u64>) -> Result<DurableWriter> {
        let target = self.write_path();
        let cannot = |e| ClientError::io(format!("cannot create {}", target.display()), e);
        if self.part.is_some() {
            // A part file created and then refused (no room for `length`)
            // must not stay behind.
            DurableWriter::create(target, length).map_err(|e| {
                self.discard();
                cannot(e)
            })
        } else {
            Ok(DurableWriter::passing_through(
                std::fs::File::create(target).map_err(cannot)?,
            ))
        }
    }

    /// Puts a complete, checked download under its name.
    pub(crate) fn commit(&self) -> Result<()> {
        match &self.part {
            Some(part) => std::fs::rename(part, &self.path)
                .map_err(|e| ClientError::io(format!("cannot write {}", self.path.display()), e)),
            None => Ok(()),
        }
    }

    /// Removes an incomplete download: it must not look like a file.
    /// (What already went into a device or pipe cannot be taken back.)
    pub(crate) fn discard(&self) {
        if let Some(part) = &self.part {
            let _ = std::fs::remove_file(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_or_new_file_goes_through_a_part_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("new.bin");
        let out = OutputFile::at(&new).expect("new");
        assert_eq!(out.write_path(), dir.path().join("new.bin.part"));
        assert!(out.part.is_some());
        std::fs::write(&new, b"old").expect("write");
        assert!(OutputFile::at(&new).expect("existing").part.is_some());
    }

    #[test]
    fn a_device_is_written_in_place_and_never_renamed_over() {
        let null = Path::new("/dev/null");
        if !null.exists() {
            return; // not a Unix-like system
        }
        let out = OutputFile::at(null).expect("/dev/null");
        assert_eq!(out.write_path(), null);
        assert!(out.part.is_none());
        out.commit().expect("nothing to rename");
        out.discard();
        assert!(!std::fs::metadata(null).expect("still there").is_file());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("real.bin");
        std::fs::write(&target, b"old").expect("write");
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let out = OutputFile::at(&link).expect("link");
        std::fs::write(out.write_path(), b"new").expect("write part");
        out.commit().expect("commit");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink(),
            "the link stays a link"
        );
        assert_eq!(std::fs::read(&target).expect("target"), b"new");
    }

    #[test]
    fn a_directory_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = OutputFile::at(dir.path()).expect_err("a directory");
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
