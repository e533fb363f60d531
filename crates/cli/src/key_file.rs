//! End-to-end file keys on disk: `put --e2e --key-file` writes one (a new
//! file, mode 0600, never over an existing one), `get --key-file` reads it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use shardgate_client::{FileKey, file_key_hex, parse_file_key};

/// A key file created before the upload, filled in after it.
pub(crate) struct NewKeyFile {
    path: PathBuf,
    file: std::fs::File,
}

impl NewKeyFile {
    /// Creates `path` empty with mode 0600. An existing file is refused:
    /// it may hold the only key of another blob.
    pub(crate) fn create(path: &Path) -> anyhow::Result<NewKeyFile> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "--key-file {} already exists; not overwriting what may be another blob's only key",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot create --key-file {}", path.display()))
            }
        })?;
        Ok(NewKeyFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the key (64 hex and a newline) and syncs it to disk.
    pub(crate) fn write(mut self, key: &FileKey) -> anyhow::Result<PathBuf> {
        let written =
            writeln!(self.file, "{}", file_key_hex(key)).and_then(|()| self.file.sync_all());
        written.with_context(|| format!("cannot write --key-file {}", self.path.display()))?;
        Ok(self.path)
    }

    /// The upload failed: an empty key file must not stay behind.
    pub(crate) fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The key in `path` (64 hex characters; surrounding whitespace ignored).
pub(crate) fn read(path: &Path) -> anyhow::Result<FileKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --key-file {}", path.display()))?;
    parse_file_key(&text).with_context(|| format!("--key-file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_refuses_to_overwrite_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob.key");
        let key = FileKey::generate();
        NewKeyFile::create(&path)
            .expect("create")
            .write(&key)
            .expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            file_key_hex(&read(&path).expect("read")),
            file_key_hex(&key)
        );
        let err = NewKeyFile::create(&path).err().expect("exists");
        assert!(err.to_string().contains("already exists"), "{err}");

        std::fs::write(&path, "not hex").expect("write");
        let err = read(&path).expect_err("garbage");
        assert!(format!("{err:#}").contains("64 hex"), "{err:#}");
    }
}
