//! Uploads: `Storage.Put` from a file or any `AsyncRead`, in managed or
//! end-to-end mode.
//!
//! The input is read, (in end-to-end mode) sealed, and hashed ahead of the
//! network: a file on a blocking thread with positioned reads, so the
//! async workers only move frames, and a generic reader on its own task.
//! The frames queue (bounded) into the gRPC stream. If the input fails,
//! the call is dropped (a stream reset) while the queue is still open, so
//! the broker sees a hang-up and commits nothing — never a clean end of a
//! stream cut short.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shardgate_core::FileKey;
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::Client;
use crate::e2e::ChunkSealer;
use crate::error::{ClientError, ErrorKind, Result};

/// Frames queued between the input and the gRPC stream: enough to keep
/// the connection busy while the next chunk is read and sealed, small
/// enough to bound memory (frames are at most 1 MiB by default).
const QUEUED_FRAMES: usize = 16;
/// How much of the input one read asks for.
const READ_BLOCK: usize = 1 << 20;

/// A progress callback: called with the number of input bytes consumed.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// What to upload and how. `PutOptions::new(name)` then set what you need.
#[derive(Clone, Default)]
pub struct PutOptions {
    /// Display name (1..=1024 bytes).
    pub name: String,
    /// MIME type; empty means `application/octet-stream`.
    pub content_type: String,
    /// Encrypt on this side with a fresh file key that never leaves the
    /// client ([`Uploaded::file_key`]).
    pub end_to_end: bool,
    /// Plaintext chunk size; `None` takes the broker's default.
    pub chunk_size: Option<u32>,
    /// Erasure coding `k`/`m`; `None` takes the broker's defaults.
    pub redundancy: Option<pb::RedundancyPolicy>,
    /// Download price; `None` takes the broker's default.
    pub price: Option<pb::Price>,
    /// Anyone who pays may download (else only the owner).
    pub public: bool,
    /// Free-form metadata, visible to anyone who can stat the blob.
    pub metadata: HashMap<String, String>,
    /// Called as input is consumed.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for PutOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutOptions")
            .field("name", &self.name)
            .field("end_to_end", &self.end_to_end)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl PutOptions {
    /// Options for a blob called `name`, everything else by default.
    pub fn new(name: impl Into<String>) -> PutOptions {
        PutOptions {
            name: name.into(),
            ..PutOptions::default()
        }
    }

    /// End-to-end mode on.
    pub fn end_to_end(mut self) -> PutOptions {
        self.end_to_end = true;
        self
    }
}

/// A committed upload.
pub struct Uploaded {
    /// The broker's answer (blob id, sizes, redundancy).
    pub response: pb::PutResponse,
    /// In end-to-end mode: the file key. Keep it; nobody else has it, and
    /// without it the blob cannot be read.
    pub file_key: Option<FileKey>,
    /// Input bytes uploaded (plaintext length).
    pub input_bytes: u64,
    /// Wall time of the upload.
    pub elapsed: Duration,
}

impl std::fmt::Debug for Uploaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploaded")
            .field("response", &self.response)
            .field("file_key", &self.file_key.as_ref().map(|_| "…"))
            .field("input_bytes", &self.input_bytes)
            .finish()
    }
}

/// Turns input bytes into upload frames: seals (end-to-end), cuts to the
/// frame size, hashes what is sent.
struct Framer {
    frame: usize,
    sealer: Option<ChunkSealer>,
    hasher: blake3::Hasher,
    input_bytes: u64,
}

impl Framer {
    fn push(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<()> {
        self.input_bytes += data.len() as u64;
        match &mut self.sealer {
            None => out.push(data),
            Some(sealer) => sealer.push(&data, out)?,
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) -> Result<()> {
        if let Some(sealer) = self.sealer.take() {
            sealer.finish(out)?;
        }
        Ok(())
    }

    /// One block of input read (a short block is the end): the frames
    /// ready to send, and whether this was the end.
    fn block(&mut self, buf: Bytes) -> Result<(Vec<Bytes>, bool)> {
        let mut out = Vec::new();
        let end = buf.len() < READ_BLOCK;
        if !buf.is_empty() {
            self.push(buf, &mut out)?;
        }
        if end {
            self.finish(&mut out)?;
        }
        Ok((self.frames(out).collect(), end))
    }

    fn done(&self) -> (blake3::Hash, u64) {
        (self.hasher.finalize(), self.input_bytes)
    }

    /// Hashes `pieces` and cuts them into frames (no copies).
    fn frames(&mut self, pieces: Vec<Bytes>) -> impl Iterator<Item = Bytes> + use<> {
        let frame = self.frame;
        for piece in &pieces {
            self.hasher.update(piece);
        }
        pieces.into_iter().flat_map(move |piece| {
            (0..piece.len().div_ceil(frame))
                .map(move |i| piece.slice(i * frame..((i + 1) * frame).min(piece.len())))
        })
    }
}

fn data_frame(bytes: Bytes) -> pb::PutRequest {
    pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(bytes)),
    }
}

/// The producer's result: the hash of what was sent and the input length,
/// or the error with the queue still open (see the module comment).
type Produced =
    std::result::Result<(blake3::Hash, u64), (ClientError, mpsc::Sender<pb::PutRequest>)>;

impl Client {
    /// Uploads the file at `path`.
    pub async fn put_file(&self, path: impl AsRef<Path>, options: PutOptions) -> Result<Uploaded> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| ClientError::io(format!("cannot open {}", path.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        let size = meta.is_file().then_some(meta.len());
        self.upload(Input::File(file), size, options).await
    }

    /// Uploads everything `reader` yields. `size`, when known, lets the
    /// broker check the quota before any data and refuse a stream that
    /// ends early.
    pub async fn put(
        &self,
        reader: impl AsyncRead + Send + Unpin + 'static,
        size: Option<u64>,
        options: PutOptions,
    ) -> Result<Uploaded> {
        self.upload(Input::Reader(Box::new(reader)), size, options)
            .await
    }

    /// Uploads `bytes`.
    pub async fn put_bytes(
        &self,
        bytes: impl Into<Bytes>,
        options: PutOptions,
    ) -> Result<Uploaded> {
        let bytes = bytes.into();
        let size = bytes.len() as u64;
        let reader = std::io::Cursor::new(bytes);
        self.upload(Input::Reader(Box::new(reader)), Some(size), options)
            .await
    }

    async fn upload(
        &self,
        input: Input,
        size: Option<u64>,
        options: PutOptions,
    ) -> Result<Uploaded> {
        let started = Instant::now();
        let limits = self.upload_limits().await?;
        let frame = limits.frame;
        let chunk_size = options.chunk_size.unwrap_or(limits.default_chunk_size) as usize;
        let file_key = options.end_to_end.then(FileKey::generate);
        let header = header(&options, size, chunk_size, file_key.is_some());
        let framer = Framer {
            frame,
            sealer: file_key
                .as_ref()
                .map(|k| ChunkSealer::new(k.clone(), chunk_size.max(1))),
            hasher: blake3::Hasher::new(),
            input_bytes: 0,
        };
        let (tx, rx) = mpsc::channel(QUEUED_FRAMES);
        tx.send(pb::PutRequest {
            frame: Some(pb::put_request::Frame::Header(header)),
        })
        .await
        .map_err(|_| ClientError::protocol("upload stream closed"))?;
        let request = self.keyed(ReceiverStream::new(rx))?;
        let progress = options.progress.clone();
        let producer = match input {
            Input::File(file) => {
                tokio::task::spawn_blocking(move || produce_from_file(file, framer, tx, progress))
            }
            Input::Reader(reader) => {
                tokio::spawn(produce_from_reader(reader, framer, tx, progress))
            }
        };
        let mut storage = self.storage();
        let call = storage.put(request);
        tokio::pin!(producer, call);
        let (response, sent) = tokio::select! {
            produced = &mut producer => {
                let produced = produced.map_err(|e| {
                    ClientError::new(ErrorKind::Internal, format!("the upload reader failed: {e}"))
                })?;
                match produced {
                    Ok(sent) => (call.await?, Some(sent)),
                    // Dropping the call (with `_tx` still alive) resets
                    // the stream: nothing is committed.
                    Err((error, _tx)) => return Err(error),
                }
            }
            answered = &mut call => {
                producer.abort();
                (answered?, None)
            }
        };
        let response = response.into_inner();
        let input_bytes = match sent {
            Some((hash, input_bytes)) => {
                if hash.to_hex().as_str() != response.content_hash {
                    return Err(ClientError::integrity(format!(
                        "the broker's content hash {} differs from the BLAKE3 of the bytes sent {}",
                        response.content_hash,
                        hash.to_hex()
                    )));
                }
                input_bytes
            }
            None => 0,
        };
        Ok(Uploaded {
            response,
            file_key,
            input_bytes,
            elapsed: started.elapsed(),
        })
    }
}

/// Where an upload's bytes come from.
enum Input {
    File(std::fs::File),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

fn header(options: &PutOptions, size: Option<u64>, chunk_size: usize, e2e: bool) -> pb::PutHeader {
    pb::PutHeader {
        name: options.name.clone(),
        content_type: options.content_type.clone(),
        key_mode: if e2e {
            pb::KeyMode::EndToEnd
        } else {
            pb::KeyMode::Managed
        } as i32,
        // End-to-end: the broker cuts the ciphertext at this size + 16, so
        // it must be the one the client sealed with.
        chunk_size_bytes: if e2e {
            Some(chunk_size as u32)
        } else {
            options.chunk_size
        },
        redundancy: options.redundancy,
        price: options.price,
        visibility: if options.public {
            pb::Visibility::Public
        } else {
            pb::Visibility::Private
        } as i32,
        declared_size_bytes: size.map(|s| {
            if e2e {
                ChunkSealer::sealed_len(s, chunk_size)
            } else {
                s
            }
        }),
        metadata: options.metadata.clone(),
        end_to_end: e2e.then_some(pb::EndToEndParams {
            scheme: pb::EndToEndScheme::Aes256GcmHkdfSha256V1 as i32,
        }),
    }
}

/// Reads a file on this (blocking) thread: read, seal, hash, queue.
fn produce_from_file(
    mut file: std::fs::File,
    mut framer: Framer,
    tx: mpsc::Sender<pb::PutRequest>,
    progress: Option<Progress>,
) -> Produced {
    use std::io::Read;
    loop {
        // `read_to_end` reads into the Vec's spare capacity without
        // zero-filling it first (a `BytesMut::zeroed` block cost 9 % of
        // the client's CPU in a 1 GiB put), and retries `Interrupted`.
        let mut block = Vec::with_capacity(READ_BLOCK);
        if let Err(e) = (&mut file).take(READ_BLOCK as u64).read_to_end(&mut block) {
            return Err((read_failed(e), tx));
        }
        let filled = block.len();
        let (frames, end) = match framer.block(Bytes::from(block)) {
            Ok(step) => step,
            Err(e) => return Err((e, tx)),
        };
        for frame in frames {
            if tx.blocking_send(data_frame(frame)).is_err() {
                // The call ended first; its status says why.
                return Ok(framer.done());
            }
        }
        if let Some(progress) = &progress {
            progress(filled as u64);
        }
        if end {
            return Ok(framer.done());
        }
    }
}

/// As [`produce_from_file`] for any `AsyncRead`, on an async task.
async fn produce_from_reader(
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    mut framer: Framer,
    tx: mpsc::Sender<pb::PutRequest>,
    progress: Option<Progress>,
) -> Produced {
    loop {
        // `read_buf` fills the spare capacity, no zero-fill first.
        let mut buf = BytesMut::with_capacity(READ_BLOCK);
        while buf.len() < READ_BLOCK {
            match reader.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err((read_failed(e), tx)),
            }
        }
        let filled = buf.len();
        let buf = buf.freeze();
        let (frames, end) = match framer.block(buf) {
            Ok(step) => step,
            Err(e) => return Err((e, tx)),
        };
        for frame in frames {
            if tx.send(data_frame(frame)).await.is_err() {
                return Ok(framer.done());
            }
        }
        if let Some(progress) = &progress {
            progress(filled as u64);
        }
        if end {
            return Ok(framer.done());
        }
    }
}

fn read_failed(e: std::io::Error) -> ClientError {
    ClientError::io("reading the input failed; nothing was committed", e)
}
