//! Raw gRPC access to a broker, for what no well-behaved client sends.
//!
//! Everything a partner app does goes through the SDK
//! (`shardgate_client::Client`), and so do the tests of normal behaviour.
//! Some tests exist to show how the broker copes with requests the SDK
//! would never produce: frames in the wrong order, a missing or garbage
//! `x-api-key`, malformed `authorization` values, out-of-range fields, a
//! stream cut off mid-upload. Those need the generated stubs and hand-made
//! metadata; this module is the one place they come from, so the rest of
//! the harness has a single client. (GetShardLocations, which the SDK does
//! not wrap yet, is also called through [`storage`].)

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use shardgate_client::ClientError;
use shardgate_proto::auth_metadata;
use shardgate_proto::auth_metadata::AUTHORIZATION;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::admin_client::AdminClient;
use shardgate_proto::v1::payments_client::PaymentsClient;
use shardgate_proto::v1::providers_client::ProvidersClient;
use shardgate_proto::v1::shares_client::SharesClient;
use shardgate_proto::v1::storage_client::StorageClient;
use tonic::codegen::Service;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Download frames are at most 1 MiB; leave room for framing.
const MAX_MESSAGE: usize = 8 << 20;

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("the broker URL is valid")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the broker at {url}: {e}"))
}

/// A raw Storage stub on a fresh connection to `url`.
pub async fn storage(url: &str) -> StorageClient<Channel> {
    StorageClient::new(channel(url).await)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// A raw Admin stub on a fresh connection to `url`.
pub async fn admin(url: &str) -> AdminClient<Channel> {
    AdminClient::new(channel(url).await)
}

/// A raw Providers stub on a fresh connection to `url`.
pub async fn providers(url: &str) -> ProvidersClient<Channel> {
    ProvidersClient::new(channel(url).await)
}

/// A raw Payments stub on a fresh connection to `url`.
pub async fn payments(url: &str) -> PaymentsClient<Channel> {
    PaymentsClient::new(channel(url).await)
}

/// A raw Shares stub on a fresh connection to `url`.
pub async fn shares(url: &str) -> SharesClient<Channel> {
    SharesClient::new(channel(url).await)
}

/// A request with `x-api-key` (none if `key` is `None`, the key dropped if
/// it is not valid metadata — both are cases the broker must refuse).
pub fn with_key<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key
        && let Ok(value) = key.parse()
    {
        request.metadata_mut().insert(auth_metadata::API_KEY, value);
    }
    request
}

/// A request carrying `authorization: value` verbatim (malformed schemes,
/// oversize values) and, if given, `x-api-key`. Panics if `value` is not
/// valid ASCII metadata (the tests choose it).
pub fn authorized<T>(message: T, value: &str, key: Option<&str>) -> Request<T> {
    let mut request = with_key(message, key);
    request.metadata_mut().insert(
        AUTHORIZATION,
        value
            .parse()
            .expect("test authorization values are printable ASCII"),
    );
    request
}

/// Sends exactly these messages as one Put (for malformed streams).
pub async fn put_messages(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    messages: Vec<pb::PutRequest>,
) -> Result<pb::PutResponse, ClientError> {
    Ok(client
        .put(with_key(tokio_stream::iter(messages), key))
        .await?
        .into_inner())
}

/// What one Get delivered before it ended, frame by frame (the SDK's
/// downloads and raw ones report alike; see `lightning::Fetched`).
pub async fn fetch(
    client: &mut StorageClient<Channel>,
    request: Request<pb::GetRequest>,
) -> crate::lightning::Fetched {
    let mut fetched = crate::lightning::Fetched::default();
    let mut stream = match client.get(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            fetched.end = Err(status.into());
            return fetched;
        }
    };
    loop {
        match stream.message().await {
            Ok(None) => return fetched,
            Ok(Some(pb::GetResponse { frame })) => match frame {
                Some(pb::get_response::Frame::Header(h)) => fetched.header = Some(h),
                Some(pb::get_response::Frame::Data(d)) => {
                    fetched.data_frames += 1;
                    fetched.data.extend_from_slice(&d);
                }
                None => {}
            },
            Err(status) => {
                fetched.end = Err(status.into());
                return fetched;
            }
        }
    }
}

/// One gRPC length-prefixed message: flag 0, big-endian length, bytes.
pub fn frame(message: &[u8]) -> BytesMut {
    framed_as(message.len(), message)
}

/// A frame whose prefix announces `len` bytes, followed by `bytes` (a lie
/// when they differ: frames cut short, oversize announcements).
pub fn framed_as(len: usize, bytes: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(5 + bytes.len());
    out.put_u8(0);
    out.put_u32(len as u32);
    out.put_slice(bytes);
    out
}

/// Sends `body` (gRPC frames made by hand) as the whole request of
/// `shardgate.v1.Storage/<method>` with `x-api-key: key`, and returns the
/// status the broker answered, from the headers (trailers-only) or the
/// trailers.
pub async fn raw_call(url: &str, method: &str, key: &str, body: BytesMut) -> Status {
    let mut channel = channel(url).await;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/shardgate.v1.Storage/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-api-key", key)
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .expect("request");
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .expect("ready");
    let response = channel.call(request).await.expect("an HTTP response");
    assert_eq!(response.status(), http::StatusCode::OK, "gRPC answers 200");
    if let Some(status) = Status::from_header_map(response.headers()) {
        return status;
    }
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().expect("trailers");
    Status::from_header_map(&trailers).expect("grpc-status in the trailers")
}
