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
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use shardgate_core::{FileKey, KeyMode, Manifest};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::broker_stream::{BrokerStream, GetMessage};
use crate::client::Client;
use crate::e2e::{ChunkOpener, E2eRange};
use crate::error::{ClientError, Result};
use crate::file_target::FileTarget;
use crate::payer::PaymentPolicy;
use crate::purchase::{GetStream, PaidFor, Purchase};
use crate::put::Progress;
use crate::write_behind::DurableWriter;
use crate::writer_thread::write_on_thread;

/// Broker frames (at most 1 MiB) queued between the network and the file
/// writer: two 4 MiB chunks absorb a slow write; 32 let the client's RSS
/// reach 90 MiB behind a busy disk.
const QUEUED_FRAMES: usize = 8;
/// Direct chunks (up to a chunk size each, 4 MiB by default) queued
/// between the providers and the file writer: with the chunks in flight
/// this bounds a direct download's memory to a few chunks.
const QUEUED_CHUNKS: usize = 2;

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

/// Checks (and in end-to-end mode opens) the stored bytes of a download,
/// wherever they come from (the broker's stream or the providers).
pub(crate) struct Decoder {
    expected: u64,
    received: u64,
    whole: Option<(blake3::Hasher, String)>,
    opener: Option<ChunkOpener>,
}

impl Decoder {
    /// For the stored range `served` of `blob`: the whole blob is checked
    /// against its content hash, an end-to-end range opened by `opener`.
    pub(crate) fn new(
        blob: &pb::BlobInfo,
        served: &pb::ServedRange,
        opener: Option<ChunkOpener>,
    ) -> Decoder {
        let whole = served.offset == 0 && served.length == blob.size_bytes;
        Decoder {
            expected: served.length,
            received: 0,
            whole: whole.then(|| (blake3::Hasher::new(), blob.content_hash.clone())),
            opener,
        }
    }

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

/// Where the stored bytes of a download come from.
pub(crate) enum Source {
    /// The broker's `Storage.Get` stream.
    Broker(Box<BrokerStream>),
    /// Chunks fetched straight from the providers, in order
    /// (`crate::direct`).
    Direct(BoxStream<'static, Result<Bytes>>),
}

impl Source {
    /// The next piece of stored bytes, `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>> {
        match self {
            Source::Broker(stream) => match stream.next().await? {
                Some(GetMessage::Data(data)) => Ok(Some(data)),
                Some(GetMessage::Header(_)) => Err(ClientError::protocol(
                    "the broker sent a second header mid-download",
                )),
                None => Ok(None),
            },
            Source::Direct(chunks) => chunks.next().await.transpose(),
        }
    }
}

/// An open download: read it with [`Download::next_chunk`] until `None`
/// (every check passed), or hand it to [`Download::write_to`].
pub struct Download {
    source: Source,
    paid: PaidFor,
    info: pb::BlobInfo,
    /// The broker's header (for direct downloads, the same facts from
    /// GetShardLocations).
    header: pb::GetHeader,
    decoder: Decoder,
    ready: VecDeque<Bytes>,
    offset: u64,
    /// Plaintext bytes of an end-to-end range.
    e2e_length: u64,
    delivered: u64,
    progress: Option<Progress>,
    started: Instant,
}

/// The parts [`Download::new`] puts together.
pub(crate) struct DownloadParts {
    pub(crate) source: Source,
    pub(crate) paid: PaidFor,
    pub(crate) info: pb::BlobInfo,
    pub(crate) header: pb::GetHeader,
    pub(crate) decoder: Decoder,
    /// Plaintext offset and, for end-to-end ranges, plaintext length.
    pub(crate) offset: u64,
    pub(crate) e2e_length: u64,
    pub(crate) progress: Option<Progress>,
    pub(crate) started: Instant,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("blob", &self.info.blob_id)
            .field("offset", &self.offset)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl Download {
    pub(crate) fn new(parts: DownloadParts) -> Download {
        Download {
            source: parts.source,
            paid: parts.paid,
            info: parts.info,
            header: parts.header,
            decoder: parts.decoder,
            ready: VecDeque::new(),
            offset: parts.offset,
            e2e_length: parts.e2e_length,
            delivered: 0,
            progress: parts.progress,
            started: parts.started,
        }
    }

    /// The blob's metadata.
    pub fn info(&self) -> &pb::BlobInfo {
        &self.info
    }

    /// The broker's header as received: the blob, the stored range it
    /// serves and `uses_remaining` on the credential presented (for
    /// callers that check what the broker announced, such as tests).
    pub fn header(&self) -> &pb::GetHeader {
        &self.header
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
        self.paid.purchase.as_ref()
    }

    /// Replaces the progress callback of [`GetOptions::progress`]: a caller
    /// that sizes its display from [`Download::range`] (known only once
    /// the download is open) attaches it here.
    pub fn set_progress(&mut self, progress: Option<Progress>) {
        self.progress = progress;
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
            match self.source.next().await? {
                Some(data) => {
                    let mut out = Vec::new();
                    self.decoder.push(data, &mut out)?;
                    self.ready.extend(out);
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
        self.paid.finish().await?;
        Ok(Downloaded {
            info: self.info,
            offset: self.offset,
            bytes: self.delivered,
            hash_verified: self.decoder.whole.is_some(),
            uses_remaining: self.header.uses_remaining,
            purchase: self.paid.purchase,
            elapsed: self.started.elapsed(),
        })
    }

    /// Writes the download into `path` as [`Client::get_to_file`] does:
    /// as `path.part`, renamed when every check passed, removed otherwise.
    /// An existing device or pipe (`/dev/null`, a FIFO) is written in place.
    /// The download is paid for already: to learn that the disk has no
    /// room before paying, make the file first with
    /// [`Client::prepare_file`] and use [`Download::save_to`].
    pub async fn save_to_file(self, path: impl AsRef<Path>) -> Result<Downloaded> {
        let target = FileTarget::create(path.as_ref(), Some(self.plaintext_len()))?;
        self.save_to(target).await
    }

    /// Writes the download into a file made ready by
    /// [`Client::prepare_file`] before the download was opened: renamed
    /// into place when every check passed, removed otherwise.
    pub async fn save_to(self, mut target: FileTarget) -> Result<Downloaded> {
        let Some(file) = target.writer.take() else {
            return Err(ClientError::new(
                crate::ErrorKind::Internal,
                "the output file was written already",
            ));
        };
        // Prepared without a known length: reserved now that it is known.
        if !target.reserved
            && let Err(e) = file.reserve(Some(self.plaintext_len()))
        {
            target.output.discard();
            return Err(ClientError::io("cannot write the output", e));
        }
        let written = self.write_file(file).await;
        match written.and_then(|done| target.output.commit().map(|()| done)) {
            Ok(done) => Ok(done),
            Err(e) => {
                target.output.discard();
                Err(e)
            }
        }
    }

    /// Writes the download into `file` on a blocking thread (decrypting and
    /// checking there); the network side only queues stored bytes.
    async fn write_file(mut self, mut file: DurableWriter) -> Result<Downloaded> {
        let depth = match self.source {
            Source::Broker(_) => QUEUED_FRAMES,
            Source::Direct(_) => QUEUED_CHUNKS,
        };
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
        let source = &mut self.source;
        let pieces = futures::stream::try_unfold(source, |source| async move {
            Ok(source.next().await?.map(|data| (data, source)))
        });
        let (decoder, written) = write_on_thread(pieces, depth, move |mut rx| {
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
            file.finish()
                .map_err(|e| ClientError::io("writing the output failed", e))?;
            Ok((decoder, written))
        })
        .await?;
        self.decoder = decoder;
        self.delivered = written;
        self.finish().await
    }
}

impl Client {
    /// Opens a download of `blob_id`, paying if the options allow.
    pub async fn get(&self, blob_id: &str, options: &GetOptions) -> Result<Download> {
        let started = Instant::now();
        let (e2e, range) = self.stored_range(blob_id, options).await?;
        let request = pb::GetRequest {
            blob_id: blob_id.to_owned(),
            range,
            ..Default::default()
        };
        let opened = self
            .open_get(request, &options.payment, e2e.is_some())
            .await?;
        let GetStream { stream, header } = opened.response;
        let Some(blob) = header.blob.clone() else {
            return Err(ClientError::protocol(
                "the broker's Get header names no blob",
            ));
        };
        let served = header.range.unwrap_or_default();
        let (opener, offset, e2e_length) = e2e_opener(blob_id, e2e, &served, &blob)?;
        Ok(Download::new(DownloadParts {
            source: Source::Broker(Box::new(stream)),
            paid: opened.paid,
            decoder: Decoder::new(&blob, &served, opener),
            info: blob,
            header,
            offset,
            e2e_length,
            progress: options.progress.clone(),
            started,
        }))
    }

    /// Downloads into `path`: written as `path.part`, renamed when every
    /// check passed, removed otherwise.
    pub async fn get_to_file(
        &self,
        blob_id: &str,
        path: impl AsRef<Path>,
        options: &GetOptions,
    ) -> Result<Downloaded> {
        let target = self.prepare_file(blob_id, path, options).await?;
        self.get(blob_id, options).await?.save_to(target).await
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

/// An end-to-end download's key, verified manifest and chunk range.
pub(crate) type E2ePlan = (FileKey, Arc<Manifest>, E2eRange);

impl Client {
    /// The stored range to ask the broker for: the plaintext range as it
    /// is (managed), or (end-to-end, `options.file_key` set) the whole
    /// chunks covering it, mapped on the manifest fetched and checked
    /// against the blob id.
    pub(crate) async fn stored_range(
        &self,
        blob_id: &str,
        options: &GetOptions,
    ) -> Result<(Option<E2ePlan>, Option<pb::ByteRange>)> {
        let e2e = match &options.file_key {
            Some(key) => {
                let manifest = self.verified_manifest(blob_id).await?;
                let (offset, length) = options.range.unwrap_or((0, None));
                let range = E2eRange::of(&manifest, offset, length)?;
                Some((key.clone(), manifest, range))
            }
            None => None,
        };
        let range = match (&e2e, options.range) {
            // An empty blob has no chunks: ask for all of it (0 bytes).
            (Some((_, manifest, _)), _) if manifest.total_len() == 0 => None,
            (Some((_, _, r)), _) if r.length == 0 => {
                return Err(ClientError::invalid(
                    "the range is empty: give a length of at least 1, or none to read to the end",
                ));
            }
            (Some((_, _, r)), _) => Some(pb::ByteRange {
                offset: r.stored_offset,
                length: Some(r.stored_length),
            }),
            (None, Some((offset, length))) => Some(pb::ByteRange { offset, length }),
            (None, None) => None,
        };
        Ok((e2e, range))
    }
}

/// For the stored range `served` of `blob`: the end-to-end opener (checked
/// against what was asked), the plaintext offset and the end-to-end
/// plaintext length.
pub(crate) fn e2e_opener(
    blob_id: &str,
    e2e: Option<E2ePlan>,
    served: &pb::ServedRange,
    blob: &pb::BlobInfo,
) -> Result<(Option<ChunkOpener>, u64, u64)> {
    match e2e {
        Some((key, manifest, range)) => {
            check_e2e_served(&manifest, &range, served, blob)?;
            let opener = ChunkOpener::new(key, &manifest, &range);
            Ok((Some(opener), range.offset, range.length))
        }
        None if blob.key_mode == pb::KeyMode::EndToEnd as i32 => Err(ClientError::invalid(
            format!("blob {blob_id} is end-to-end encrypted: pass its file key to read it"),
        )),
        None => Ok((None, served.offset, served.length)),
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
