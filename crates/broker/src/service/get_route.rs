//! `Storage.Get` on the wire without tonic's encode copy.
//!
//! tonic encodes every response message into its own buffer, so each
//! 1 MiB data frame of a download was copied once more after the chunk was
//! decrypted: 14–16 % of the broker's CPU on a Get (docs/performance.md,
//! "Client path against rclone"). [`GetRoute`] stands in for the generated
//! `StorageServer`: it serves `/shardgate.v1.Storage/Get` itself and hands
//! every other method to the generated server. The Get handler is the same
//! (`Storage::get`: the caller, the limits, the payment gate, the stream);
//! only the last step differs — each data frame goes out as the few bytes
//! of framing (gRPC's 5-byte prefix, the field's tag and length:
//! `shardgate_proto::get_wire`, which the SDK reads with) followed by a
//! slice of the decrypted chunk, not a copy of it. The bytes on the
//! wire are exactly what tonic would send: the same message, the same
//! headers, the same trailers (`Status::add_header`, `Status::into_http`).
//!
//! The request is decoded as tonic decodes a unary request, with the
//! statuses `wire_status.rs` gives bad input: over the receive limit is
//! RESOURCE_EXHAUSTED, a frame that is cut short, compressed (the broker
//! accepts no compression) or not a `GetRequest` is INVALID_ARGUMENT.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use prost::Message;
use shardgate_proto::get_wire::{GET_PATH, PREFIX_LEN, data_framing, message_frame};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::storage_server::{Storage, StorageServer};
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower_service::Service;

use crate::error::BrokerError;
use crate::service::storage::StorageService;
use crate::wire_status::MAX_MESSAGE_BYTES;

/// The Storage service, with Get served without the encode copy.
#[derive(Clone)]
pub(crate) struct GetRoute {
    generated: StorageServer<StorageService>,
    service: StorageService,
}

impl GetRoute {
    pub(crate) fn new(service: StorageService) -> Self {
        Self {
            generated: StorageServer::new(service.clone()),
            service,
        }
    }
}

impl NamedService for GetRoute {
    const NAME: &'static str = <StorageServer<StorageService> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for GetRoute {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<http::Request<Body>>::poll_ready(&mut self.generated, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != GET_PATH {
            return Box::pin(self.generated.call(request));
        }
        let service = self.service.clone();
        Box::pin(async move { Ok(serve_get(service, request).await) })
    }
}

/// Decodes the request, runs the Get handler, and streams its answer.
async fn serve_get(service: StorageService, request: http::Request<Body>) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    let message = match read_request(&parts.headers, body).await {
        Ok(message) => message,
        Err(status) => return status.into_http(),
    };
    let request = tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers),
        parts.extensions,
        message,
    );
    match service.get(request).await {
        Ok(response) => {
            let (metadata, stream, _) = response.into_parts();
            let mut http = http::Response::new(Body::new(GetBody {
                stream,
                pending: None,
                ended: false,
            }));
            *http.headers_mut() = metadata.into_headers();
            http.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            http
        }
        Err(status) => status.into_http(),
    }
}

/// The one `GetRequest` of a unary call, decoded as tonic would decode it.
async fn read_request(headers: &HeaderMap, body: Body) -> Result<pb::GetRequest, Status> {
    if let Some(encoding) = headers.get("grpc-encoding")
        && encoding != "identity"
    {
        return Err(Status::new(
            Code::Unimplemented,
            format!(
                "the request is compressed with {encoding:?}; the broker accepts uncompressed messages only"
            ),
        ));
    }
    let bytes = match Limited::new(body, PREFIX_LEN + MAX_MESSAGE_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Status::from(BrokerError::MessageTooLarge(format!(
                "the GetRequest exceeded the broker's {} MiB receive limit",
                MAX_MESSAGE_BYTES >> 20
            ))));
        }
        // The client reset the stream or the connection broke.
        Err(e) => {
            return Err(Status::cancelled(format!(
                "the request did not arrive: {e}"
            )));
        }
    };
    let malformed = |why: &str| {
        Status::from(BrokerError::invalid(
            "message",
            format!(
                "a gRPC message could not be decoded ({why}); send complete, valid protobuf messages"
            ),
        ))
    };
    let Some((prefix, message)) = bytes.split_at_checked(PREFIX_LEN) else {
        return Err(malformed("the call carries no GetRequest message"));
    };
    if prefix[0] != 0 {
        return Err(malformed(
            "the message is flagged compressed, and the broker accepts no compression",
        ));
    }
    let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if message.len() != length {
        return Err(malformed(&format!(
            "a unary call carries one message of {length} bytes; {} bytes followed the prefix",
            message.len()
        )));
    }
    pb::GetRequest::decode(message)
        .map_err(|e| malformed(&format!("failed to decode Protobuf message: {e}")))
}

/// The response body: each message of the Get stream as gRPC frames, data
/// frames without a copy, then the status as trailers.
struct GetBody<S> {
    stream: S,
    /// The bytes of a data frame whose framing went out first.
    pending: Option<Bytes>,
    ended: bool,
}

impl<S> http_body::Body for GetBody<S>
where
    S: Stream<Item = Result<pb::GetResponse, Status>> + Unpin,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(data) = self.pending.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        let next = match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        let frame = match next {
            Some(Ok(pb::GetResponse {
                frame: Some(pb::get_response::Frame::Data(data)),
            })) => {
                let framing = data_framing(data.len());
                if !data.is_empty() {
                    self.pending = Some(data);
                }
                Frame::data(framing)
            }
            Some(Ok(message)) => Frame::data(message_frame(&message)),
            Some(Err(status)) => {
                self.ended = true;
                Frame::trailers(trailers(&status))
            }
            None => {
                self.ended = true;
                Frame::trailers(trailers(&Status::ok("")))
            }
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.pending.is_none()
    }
}

/// `grpc-status`, `grpc-message` and the status's metadata, as trailers.
fn trailers(status: &Status) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    if status.add_header(&mut trailers).is_err() {
        // Only a message that cannot be a header value gets here.
        trailers.insert("grpc-status", HeaderValue::from(Code::Internal as i32));
    }
    trailers
}
