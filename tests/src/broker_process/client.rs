//! Storage calls as a partner app makes them, through the SDK
//! (`shardgate_client::Client`), streaming: uploads read a [`Pattern`]
//! block by block as an `AsyncRead` and downloads are compared against it
//! chunk by chunk, so a 200 MiB blob never sits in test memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use shardgate_client::{Client, ClientError, GetOptions, PutOptions, pb};
use tokio::io::{AsyncRead, ReadBuf};

use super::pattern::Pattern;

/// Largest block one read of a [`PatternReader`] produces.
const BLOCK: usize = 1 << 20;

/// `client` acting as the tenant with `key`, or `client` itself (no key)
/// when `key` is `None`. `client` should be keyless (see
/// `BrokerProcess::client`).
pub fn as_tenant(client: &Client, key: Option<&str>) -> Client {
    match key {
        Some(key) => client
            .with_api_key(key)
            .unwrap_or_else(|e| panic!("API key {key:?}: {e}")),
        None => client.clone(),
    }
}

/// What to upload: the SDK's options and the size to declare.
#[derive(Clone, Debug)]
pub struct PutSpec {
    /// Name, chunk size, price, visibility…
    pub options: PutOptions,
    /// `declared_size_bytes` of the Put header.
    pub size: Option<u64>,
}

/// A blob called `name` declaring `size` bytes, optionally with a chunk size.
pub fn header(name: &str, size: u64, chunk_size: Option<u32>) -> PutSpec {
    let mut options = PutOptions::new(name);
    options.chunk_size = chunk_size;
    PutSpec {
        options,
        size: Some(size),
    }
}

/// The bytes of a [`Pattern`] as an `AsyncRead`, produced on demand.
#[derive(Debug)]
pub struct PatternReader {
    pattern: Pattern,
    offset: u64,
}

impl PatternReader {
    /// Reads `pattern` from its first byte.
    pub fn new(pattern: Pattern) -> PatternReader {
        PatternReader { pattern, offset: 0 }
    }
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let left = self.pattern.len() - self.offset;
        let n = (buf.remaining() as u64).min(left).min(BLOCK as u64) as usize;
        if n > 0 {
            let offset = self.offset;
            self.pattern.fill(offset, buf.initialize_unfilled_to(n));
            buf.advance(n);
            self.offset += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

/// Uploads `pattern` as the tenant `key`, streaming it through the SDK.
pub async fn put_pattern(
    client: &Client,
    key: Option<&str>,
    spec: PutSpec,
    pattern: Pattern,
) -> Result<pb::PutResponse, ClientError> {
    let uploaded = as_tenant(client, key)
        .put(PatternReader::new(pattern), spec.size, spec.options)
        .await?;
    Ok(uploaded.response)
}

/// What a download delivered, checked against the expected bytes.
#[derive(Debug)]
pub struct Downloaded {
    /// The first message of the Get stream (blob metadata and the range
    /// actually served).
    pub header: pb::GetHeader,
    /// Bytes received.
    pub len: u64,
    /// Offset (within the served range) of the first byte that differed
    /// from the pattern, if any.
    pub first_mismatch: Option<u64>,
}

/// Downloads `range` of a blob through the SDK (which checks the length
/// and, for a whole blob, the content hash) and compares every byte with
/// `pattern` at the served offsets.
pub async fn get_checked(
    client: &Client,
    key: Option<&str>,
    blob_id: &str,
    range: Option<pb::ByteRange>,
    pattern: Pattern,
) -> Result<Downloaded, ClientError> {
    let options = GetOptions {
        range: range.map(|r| (r.offset, r.length)),
        ..GetOptions::default()
    };
    let mut download = as_tenant(client, key).get(blob_id, &options).await?;
    let header = download.header().clone();
    let start = header.range.as_ref().map_or(0, |r| r.offset);
    let mut len = 0u64;
    let mut first_mismatch = None;
    let mut expected = Vec::with_capacity(BLOCK);
    while let Some(bytes) = download.next_chunk().await? {
        expected.resize(bytes.len(), 0);
        pattern.fill(start + len, &mut expected);
        if first_mismatch.is_none()
            && let Some(i) = bytes.iter().zip(&expected).position(|(a, b)| a != b)
        {
            first_mismatch = Some(len + i as u64);
        }
        len += bytes.len() as u64;
    }
    download.finish().await?;
    if first_mismatch.is_none() && start + len > pattern.len() {
        first_mismatch = Some(pattern.len().saturating_sub(start));
    }
    Ok(Downloaded {
        header,
        len,
        first_mismatch,
    })
}

/// Every blob the tenant `key` lists (all pages).
pub async fn list_all(client: &Client, key: &str) -> Result<Vec<pb::BlobInfo>, ClientError> {
    as_tenant(client, Some(key)).list_all("").await
}
