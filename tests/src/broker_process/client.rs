//! Storage calls as a partner app makes them, streaming: uploads are
//! produced frame by frame from a [`Pattern`] and downloads are compared
//! against it frame by frame, so a 200 MiB blob never sits in test memory.

use shardgate_proto::auth_metadata;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::storage_client::StorageClient;
use tonic::transport::Channel;
use tonic::{Request, Status};

use super::pattern::Pattern;

/// Upload frame size: the default `max_data_frame_bytes`.
pub const FRAME: usize = 1 << 20;

/// A request with `x-api-key` (none if `key` is `None`).
pub fn with_key<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key
        && let Ok(value) = key.parse()
    {
        request.metadata_mut().insert(auth_metadata::API_KEY, value);
    }
    request
}

/// A header with a name, the declared size and optionally a chunk size.
pub fn header(name: &str, size: u64, chunk_size: Option<u32>) -> pb::PutHeader {
    pb::PutHeader {
        name: name.into(),
        declared_size_bytes: Some(size),
        chunk_size_bytes: chunk_size,
        ..Default::default()
    }
}

fn data(bytes: Vec<u8>) -> pb::PutRequest {
    pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(bytes.into())),
    }
}

/// Uploads `pattern` after `header`, generating 1 MiB frames on demand.
pub async fn put_pattern(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    header: pb::PutHeader,
    pattern: Pattern,
) -> Result<pb::PutResponse, Status> {
    let first = pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(header)),
    };
    let frames = (0..pattern.len().div_ceil(FRAME as u64))
        .map(move |i| data(pattern.bytes(i * FRAME as u64, FRAME as u64)));
    let stream = tokio_stream::iter(std::iter::once(first).chain(frames));
    client
        .put(with_key(stream, key))
        .await
        .map(tonic::Response::into_inner)
}

/// Sends exactly these messages as one Put (for malformed streams).
pub async fn put_messages(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    messages: Vec<pb::PutRequest>,
) -> Result<pb::PutResponse, Status> {
    client
        .put(with_key(tokio_stream::iter(messages), key))
        .await
        .map(tonic::Response::into_inner)
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

/// Downloads `range` of a blob and compares every byte with `pattern`
/// at the served offsets.
pub async fn get_checked(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    blob_id: &str,
    range: Option<pb::ByteRange>,
    pattern: Pattern,
) -> Result<Downloaded, Status> {
    let request = pb::GetRequest {
        blob_id: blob_id.into(),
        range,
        ..Default::default()
    };
    let mut stream = client.get(with_key(request, key)).await?.into_inner();
    let header = match stream.message().await? {
        Some(pb::GetResponse {
            frame: Some(pb::get_response::Frame::Header(h)),
        }) => h,
        other => {
            return Err(Status::internal(format!(
                "first Get frame not a header: {other:?}"
            )));
        }
    };
    let start = header.range.as_ref().map_or(0, |r| r.offset);
    let mut len = 0u64;
    let mut first_mismatch = None;
    let mut expected = Vec::with_capacity(FRAME);
    while let Some(message) = stream.message().await? {
        let Some(pb::get_response::Frame::Data(bytes)) = message.frame else {
            return Err(Status::internal("a Get frame after the first is not data"));
        };
        expected.resize(bytes.len(), 0);
        pattern.fill(start + len, &mut expected);
        if first_mismatch.is_none()
            && let Some(i) = bytes.iter().zip(&expected).position(|(a, b)| a != b)
        {
            first_mismatch = Some(len + i as u64);
        }
        len += bytes.len() as u64;
    }
    if first_mismatch.is_none() && start + len > pattern.len() {
        first_mismatch = Some(pattern.len().saturating_sub(start));
    }
    Ok(Downloaded {
        header,
        len,
        first_mismatch,
    })
}

/// Every blob the tenant lists (all pages).
pub async fn list_all(
    client: &mut StorageClient<Channel>,
    key: &str,
) -> Result<Vec<pb::BlobInfo>, Status> {
    let mut blobs = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list(with_key(
                pb::ListBlobsRequest {
                    page_size: 1000,
                    page_token: page_token.clone(),
                    name_prefix: String::new(),
                },
                Some(key),
            ))
            .await?
            .into_inner();
        blobs.extend(page.blobs);
        if page.next_page_token.is_empty() {
            return Ok(blobs);
        }
        page_token = page.next_page_token;
    }
}
