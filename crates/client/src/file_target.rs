//! A download's output file, made ready before the download is paid for.
//!
//! A download is paid when it is opened (the L402 challenge is answered
//! before the broker sends its header), and a paid download cannot be
//! taken back: a regular invoice is settled, and a hold invoice is settled
//! too once the client hangs up (the broker cannot tell a client that has
//! everything from one that gave up). So the checks that can fail on the
//! client's side — the output's directory, room on its disk for the whole
//! download — are made first: [`Client::prepare_file`] creates the part
//! file and reserves the download's length (`write_behind::reserve`) from
//! the blob's size (`Stat`, or the manifest of an end-to-end blob), and
//! only then is the download opened and paid. A [`FileTarget`] dropped
//! unused removes its part file.

use std::path::Path;

use crate::client::Client;
use crate::e2e::E2eRange;
use crate::error::Result;
use crate::get::GetOptions;
use crate::output_file::OutputFile;
use crate::write_behind::DurableWriter;

/// An output file created and reserved for a download not opened yet:
/// hand it to [`crate::Download::save_to`].
pub struct FileTarget {
    pub(crate) output: OutputFile,
    /// Taken by `save_to`; while it is here, dropping removes the file.
    pub(crate) writer: Option<DurableWriter>,
    /// Whether the download's length was reserved at creation.
    pub(crate) reserved: bool,
}

impl std::fmt::Debug for FileTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTarget")
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl FileTarget {
    /// Creates the output for `path` with `length` reserved, if known.
    pub(crate) fn create(path: &Path, length: Option<u64>) -> Result<FileTarget> {
        let output = OutputFile::at(path)?;
        let writer = output.writer(length)?;
        Ok(FileTarget {
            output,
            writer: Some(writer),
            reserved: length.is_some(),
        })
    }
}

impl Drop for FileTarget {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.output.discard();
        }
    }
}

impl Client {
    /// Creates `path.part` for a download of `blob_id` with `options` and
    /// reserves the download's length on its disk, before anything is
    /// paid: a disk without room fails here (`ErrorKind::Io`, "no room"),
    /// not after the payment. When the length cannot be learned (the blob
    /// cannot be stat'ed with this client's key) nothing is reserved, and
    /// the download reserves its length once open.
    pub async fn prepare_file(
        &self,
        blob_id: &str,
        path: impl AsRef<Path>,
        options: &GetOptions,
    ) -> Result<FileTarget> {
        let length = self.planned_length(blob_id, options).await;
        FileTarget::create(path.as_ref(), length)
    }

    /// The plaintext bytes a download with `options` will deliver, if
    /// they can be known before it is opened.
    async fn planned_length(&self, blob_id: &str, options: &GetOptions) -> Option<u64> {
        let (offset, length) = options.range.unwrap_or((0, None));
        if options.file_key.is_some() {
            let manifest = self.verified_manifest(blob_id).await.ok()?;
            return E2eRange::of(&manifest, offset, length)
                .ok()
                .map(|range| range.length);
        }
        let size = self.stat(blob_id).await.ok()?.size_bytes;
        let rest = size.checked_sub(offset)?;
        Some(length.map_or(rest, |n| n.min(rest)))
    }
}
