//! Downloads: `Storage.Get` as a stream of plaintext, into a writer, or
//! into a file.
//!
//! Every download is checked: the length against the served range, a
//! whole blob against its BLAKE3 content hash, and (end-to-end) each chunk
//! against the manifest and its AEAD tag before any of its plaintext is
//! released. Into a file, the checks, the decryption and the writes run on
//! a blocking thread fed by a bounded queue, so receiving, hashing and
//! writing overlap and the async workers only move frames.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_core::{FileKey, KeyMode, Manifest};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::e2e::{ChunkOpener, E2eRange};
use crate::error::{ClientError, Result};
use crate::payer::PaymentPolicy;
use crate::purchase::{Opened, Purchase};
use crate::put::Progress;

/// Frames queued between the network and the file writer.
const QUEUED_FRAMES: usize = 32;

/// What to download and how to pay for it.
#[derive(Clone, Default)]
pub struct GetOptions {
    /// Bytes `offset..offset+length` (`None` = to the end) of the blob's
    /// plaintext; `None` = the whole blob.
    pub range: Option<(u64, Option<u64>)>,
    /// Whether and how to pay.
    pub payment: PaymentPolicy,
    /// The file key of an end-to-end blob.
    pub file_key: Option<FileKey>,
    /// Called with each number of bytes delivered.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for GetOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetOptions")
            .field("range", &self.range)
            .field("payment", &self.payment)
            .field("file_key", &self.file_key.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// A finished download.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The blob's metadata.
    pub info: pb::BlobInfo,
    /// Plaintext offset of the bytes delivered.
    pub offset: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// True when the whole blob was fetched and its BLAKE3 matched.
    pub hash_verified: bool,
    /// What was paid for it, if anything was paid.
    pub purchase: Option<Purchase>,
    /// Downloads left on the credential used.
    pub uses_remaining: u32,
    /// Wall time.
    pub elapsed: Duration,
}

/// Checks (and in end-to-end mode opens) the stored bytes of a download.
struct Decoder {
    expected: u64,
    received: u64,
    whole: Option<(blake3::Hasher, String)>,
    opener: Option<ChunkOpener>,
}

impl Decoder {
    fn push(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<()> {
        self.received += data.len() as u64;
        if self.received > self.expected {
            return Err(ClientError::protocol(format!(
                "the broker sent more than the {} bytes it announced",
                self.expected
            )));
        }
        if let Some((hasher, _)) = &mut self.whole {
            hasher.update(&data);
        }
        match &mut self.opener {
            Some(opener) => opener.push(&data, out),
            None => {
                out.push(data);
                Ok(())
            }
        }
    }

    /// Returns whether the whole-blob hash was checked.
    fn finish(&self) -> Result<bool> {
        if self.received != self.expected {
            return Err(ClientError::new(
                crate::ErrorKind::Unavailable,
                format!(
                    "the download ended after {} of {} bytes",
                    self.received, self.expected
                ),
            ));
        }
        if let Some((hasher, expected)) = &self.whole
            && hasher.finalize().to_hex().as_str() != expected
        {
            return Err(ClientError::integrity(format!(
                "downloaded bytes do not match the blob's content hash {expected}"
            )));
        }
        if let Some(opener) = &self.opener {
            opener.finish()?;
        }
        Ok(self.whole.is_some())
    }
}

/// An open download: read it with [`Download::next_chunk`] until `None`
/// (every check passed), or hand it to [`Download::write_to`].
pub struct Download {
    opened: Opened,
    decoder: Decoder,
    ready: VecDeque<Bytes>,
    offset: u64,
    /// Plaintext bytes of an end-to-end range.
    e2e_length: u64,
    delivered: u64,
    progress: Option<Progress>,
    started: Instant,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("blob", &self.info().blob_id)
            .field("offset", &self.offset)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// The blob's metadata.
    pub fn info(&self) -> &pb::BlobInfo {
        self.opened
            .header
            .blob
            .as_ref()
            .expect("checked when the download opened")
    }

    /// The broker's header as received: the blob, the stored range it
    /// serves and `uses_remaining` on the credential presented (for
    /// callers that check what the broker announced, such as tests).
    pub fn header(&self) -> &pb::GetHeader {
        &self.opened.header
    }

    /// The plaintext bytes this download delivers: `(offset, length)`.
    pub fn range(&self) -> (u64, u64) {
        (self.offset, self.plaintext_len())
    }

    fn plaintext_len(&self) -> u64 {
        match &self.decoder.opener {
            Some(_) => self.e2e_length,
            None => self.decoder.expected,
        }
    }

    /// What was paid to open it.
    pub fn purchase(&self) -> Option<&Purchase> {
        self.opened.purchase.as_ref()
    }

    /// The next piece of plaintext, or `None` at the end once every check
    /// passed.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                self.delivered += piece.len() as u64;
                if let Some(progress) = &self.progress {
                    progress(piece.len() as u64);
                }
                return Ok(Some(piece));
            }
            match self.opened.stream.message().await? {
                Some(pb::GetResponse {
                    frame: Some(pb::get_response::Frame::Data(data)),
                }) => {
                    let mut out = Vec::new();
                    self.decoder.push(data, &mut out)?;
                    self.ready.extend(out);
                }
                Some(_) => {
                    return Err(ClientError::protocol(
                        "the broker sent a second header mid-download",
                    ));
                }
                None => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    }

    /// Writes the whole download into `out` and finishes it.
    pub async fn write_to(mut self, out: &mut (impl AsyncWrite + Unpin)) -> Result<Downloaded> {
        while let Some(piece) = self.next_chunk().await? {
            out.write_all(&piece)
                .await
                .map_err(|e| ClientError::io("writing the output failed", e))?;
        }
        out.flush()
            .await
            .map_err(|e| ClientError::io("writing the output failed", e))?;
        self.finish().await
    }

    /// After [`Download::next_chunk`] returned `None`: waits for a hold
    /// payment to settle and reports.
    pub async fn finish(mut self) -> Result<Downloaded> {
        self.opened.finish().await?;
        Ok(Downloaded {
            info: self.info().clone(),
            offset: self.offset,
            bytes: self.delivered,
            hash_verified: self.decoder.whole.is_some(),
            uses_remaining: self.opened.header.uses_remaining,
            purchase: self.opened.purchase,
            elapsed: self.started.elapsed(),
        })
    }

    /// Writes the download into `file` on a blocking thread (decrypting and
    /// checking there); the network side only queues frames.
    async fn write_file(mut self, file: std::fs::File) -> Result<Downloaded> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_FRAMES);
        let mut decoder = std::mem::replace(
            &mut self.decoder,
            Decoder {
                expected: 0,
                received: 0,
                whole: None,
                opener: None,
            },
        );
        let progress = self.progress.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<(Decoder, u64)> {
            use std::io::Write;
            let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
            let mut out = Vec::new();
            let mut written = 0u64;
            while let Some(data) = rx.blocking_recv() {
                decoder.push(data, &mut out)?;
                for piece in out.drain(..) {
                    file.write_all(&piece)
                        .map_err(|e| ClientError::io("writing the output failed", e))?;
                    written += piece.len() as u64;
                    if let Some(progress) = &progress {
                        progress(piece.len() as u64);
                    }
                }
            }
            decoder.finish()?;
            let file = file
                .into_inner()
                .map_err(|e| ClientError::io("writing the output failed", e.into_error()))?;
            file.sync_all()
                .map_err(|e| ClientError::io("writing the output failed", e))?;
            Ok((decoder, written))
        });
        let received = async {
            while let Some(message) = self.opened.stream.message().await? {
                let Some(pb::get_response::Frame::Data(data)) = message.frame else {
                    return Err(ClientError::protocol(
                        "the broker sent a second header mid-download",
                    ));
                };
                if tx.send(data).await.is_err() {
                    // The writer stopped; its result says why.
                    break;
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ClientError::protocol(format!("the file writer failed: {e}")))?;
        received?;
        let (decoder, written) = written?;
        self.decoder = decoder;
        self.delivered = written;
        self.finish().await
    }
}

impl Client {
    /// Opens a download of `blob_id`, paying if the options allow.
    pub async fn get(&self, blob_id: &str, options: &GetOptions) -> Result<Download> {
        let started = Instant::now();
        let e2e = match &options.file_key {
            Some(key) => {
                let manifest = self.manifest(blob_id).await?;
                let (offset, length) = options.range.unwrap_or((0, None));
                let range = E2eRange::of(&manifest, offset, length)?;
                Some((key.clone(), manifest, range))
            }
            None => None,
        };
        let range = match (&e2e, options.range) {
            (Some((_, _, r)), _) => Some(pb::ByteRange {
                offset: r.stored_offset,
                length: Some(r.stored_length),
            }),
            (None, Some((offset, length))) => Some(pb::ByteRange { offset, length }),
            (None, None) => None,
        };
        let request = pb::GetRequest {
            blob_id: blob_id.to_owned(),
            range,
            ..Default::default()
        };
        let opened = self.open_get(request, &options.payment).await?;
        let Some(blob) = opened.header.blob.clone() else {
            return Err(ClientError::protocol(
                "the broker's Get header names no blob",
            ));
        };
        let served = opened.header.range.unwrap_or_default();
        let whole = served.offset == 0 && served.length == blob.size_bytes;
        let is_e2e = blob.key_mode == pb::KeyMode::EndToEnd as i32;
        let (opener, offset, e2e_length) = match e2e {
            Some((key, manifest, range)) => {
                check_e2e_served(&manifest, &range, &served, &blob)?;
                let opener = ChunkOpener::new(key, &manifest, &range);
                (Some(opener), range.offset, range.length)
            }
            None if is_e2e => {
                return Err(ClientError::invalid(format!(
                    "blob {blob_id} is end-to-end encrypted: pass its file key to read it"
                )));
            }
            None => (None, served.offset, served.length),
        };
        Ok(Download {
            decoder: Decoder {
                expected: served.length,
                received: 0,
                whole: whole.then(|| (blake3::Hasher::new(), blob.content_hash.clone())),
                opener,
            },
            e2e_length,
            opened,
            ready: VecDeque::new(),
            offset,
            delivered: 0,
            progress: options.progress.clone(),
            started,
        })
    }

    /// Downloads into `path`: written as `path.part`, renamed when every
    /// check passed, removed otherwise.
    pub async fn get_to_file(
        &self,
        blob_id: &str,
        path: impl AsRef<Path>,
        options: &GetOptions,
    ) -> Result<Downloaded> {
        let path = path.as_ref();
        let download = self.get(blob_id, options).await?;
        let mut part = path.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        let file = std::fs::File::create(&part)
            .map_err(|e| ClientError::io(format!("cannot create {}", part.display()), e))?;
        match download.write_file(file).await {
            Ok(done) => {
                std::fs::rename(&part, path)
                    .map_err(|e| ClientError::io(format!("cannot write {}", path.display()), e))?;
                Ok(done)
            }
            Err(e) => {
                // An incomplete download must not look like a file.
                let _ = std::fs::remove_file(&part);
                Err(e)
            }
        }
    }

    /// Downloads the whole blob (or range) into memory.
    pub async fn get_bytes(&self, blob_id: &str, options: &GetOptions) -> Result<Vec<u8>> {
        let mut download = self.get(blob_id, options).await?;
        let mut out = Vec::new();
        while let Some(piece) = download.next_chunk().await? {
            out.extend_from_slice(&piece);
        }
        download.finish().await?;
        Ok(out)
    }
}

/// The broker must serve exactly the stored range the chunks need, of an
/// end-to-end blob whose stored size the manifest predicts.
fn check_e2e_served(
    manifest: &Manifest,
    range: &E2eRange,
    served: &pb::ServedRange,
    blob: &pb::BlobInfo,
) -> Result<()> {
    if blob.key_mode != pb::KeyMode::EndToEnd as i32 || manifest.key_mode() != KeyMode::EndToEnd {
        return Err(ClientError::invalid(
            "a file key was given but the blob is not end-to-end encrypted",
        ));
    }
    if served.offset != range.stored_offset || served.length != range.stored_length {
        return Err(ClientError::protocol(format!(
            "asked for stored bytes {}+{}, the broker serves {}+{}",
            range.stored_offset, range.stored_length, served.offset, served.length
        )));
    }
    Ok(())
}

/// Shared progress callback from a closure.
pub fn progress(f: impl Fn(u64) + Send + Sync + 'static) -> Progress {
    Arc::new(f)
}
