//! Statuses for bad input on the wire: what tonic's decoder reports becomes
//! the code common.proto documents, for streams (read by the handlers) and
//! for unary calls (decoded before any handler runs, so rewritten by a
//! layer around every service).
//!
//! tonic answers a message over the receive limit with OUT_OF_RANGE and a
//! frame it cannot decode (bad protobuf, a frame cut short by END_STREAM, a
//! bad compression flag, a unary call with no message) with INTERNAL. Both are the client's input, not a
//! range or a broker bug: common.proto promises RESOURCE_EXHAUSTED for the
//! first and INVALID_ARGUMENT for the second.

use std::task::{Context, Poll};

use futures::TryFutureExt;
use futures::future::MapOk;
use tonic::{Code, Status};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::BrokerError;

/// The broker's receive limit for one gRPC message (tonic's default).
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Largest request metadata accepted (HTTP/2 header list). hyper's 16 KiB
/// default answered a longer header with a bare HTTP 431 that clients
/// surface as UNKNOWN; up to this bound the auth layer and the payment gate
/// refuse an over-long key or credential with a real status instead. Past
/// it h2 still answers 431 before any layer runs (there is no hook to add a
/// grpc-status there); grpc-go's own default is far larger (16 MiB), so
/// 256 KiB per request is a bound on abuse, not a limit a client meets.
pub(crate) const MAX_HEADER_LIST_BYTES: u32 = 256 << 10;

/// What was wrong with a message as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireFault {
    /// Over the receive limit: RESOURCE_EXHAUSTED.
    TooLarge,
    /// Not a decodable gRPC message: INVALID_ARGUMENT.
    Malformed,
}

/// tonic's decoder messages for input it could not take (tonic 0.14).
const TOO_LARGE_PREFIX: &str = "Error, decoded message length too large";
const MALFORMED_PREFIXES: &[&str] = &[
    "failed to decode Protobuf message",
    "Unexpected EOF decoding stream",
    "protocol error: received message with",
    // A unary call whose body holds no message at all.
    "Missing request message",
];

/// Classifies a status produced by tonic's decoder; `None` for anything
/// else (a client reset, a broken connection, a handler's own status).
pub(crate) fn wire_fault(status: &Status) -> Option<WireFault> {
    let message = status.message();
    match status.code() {
        // Only tonic's own decoder text: the broker's own RESOURCE_EXHAUSTED
        // answers (rate limits, the memory budget) carry their own message
        // and retry hint and must reach the client unchanged.
        Code::ResourceExhausted | Code::OutOfRange if message.starts_with(TOO_LARGE_PREFIX) => {
            Some(WireFault::TooLarge)
        }
        Code::Internal if MALFORMED_PREFIXES.iter().any(|p| message.starts_with(p)) => {
            Some(WireFault::Malformed)
        }
        _ => None,
    }
}

/// The error for a failed read of a request stream: bad input gets the
/// code that tells the client what to fix; anything else means the client
/// or its connection went away.
pub(crate) fn stream_error(status: &Status) -> BrokerError {
    match wire_fault(status) {
        Some(WireFault::TooLarge) => BrokerError::MessageTooLarge(format!(
            "a gRPC message exceeded the broker's {} MiB receive limit ({}); keep data frames at or below Limits.max_data_frame_bytes",
            MAX_MESSAGE_BYTES >> 20,
            status.message()
        )),
        Some(WireFault::Malformed) => BrokerError::invalid(
            "message",
            format!(
                "a gRPC message could not be decoded ({}); send complete, valid protobuf messages",
                status.message()
            ),
        ),
        None => BrokerError::Cancelled,
    }
}

/// The status a client should see instead of `status`, if it is a wire
/// fault reported by tonic itself.
fn corrected(status: &Status) -> Option<Status> {
    wire_fault(status).map(|_| Status::from(stream_error(status)))
}

/// Wraps every service: a trailers-only answer carrying a decoder status
/// (a unary request tonic could not decode) gets the documented code.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WireStatusLayer;

impl<S> Layer<S> for WireStatusLayer {
    type Service = WireStatusService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WireStatusService { inner }
    }
}

/// See [`WireStatusLayer`].
#[derive(Debug, Clone)]
pub(crate) struct WireStatusService<S> {
    inner: S,
}

type Fix<B> = fn(http::Response<B>) -> http::Response<B>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for WireStatusService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = MapOk<S::Future, Fix<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        self.inner
            .call(request)
            .map_ok(fix_trailers_only as Fix<ResBody>)
    }
}

fn fix_trailers_only<B>(mut response: http::Response<B>) -> http::Response<B> {
    if let Some(fixed) = Status::from_header_map(response.headers()).and_then(|s| corrected(&s))
        && fixed.add_header(response.headers_mut()).is_err()
    {
        tracing::error!("could not rewrite a decoder status");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_statuses_become_documented_codes() {
        let oversize = Status::out_of_range(
            "Error, decoded message length too large: found 5242880 bytes, the limit is: 4194304 bytes",
        );
        assert_eq!(
            Status::from(stream_error(&oversize)).code(),
            Code::ResourceExhausted
        );
        let bad = Status::internal("failed to decode Protobuf message: invalid wire type");
        assert_eq!(
            Status::from(stream_error(&bad)).code(),
            Code::InvalidArgument
        );
        let cut = Status::internal("Unexpected EOF decoding stream.");
        assert_eq!(
            Status::from(stream_error(&cut)).code(),
            Code::InvalidArgument
        );
        let reset = Status::cancelled("h2 reset");
        assert_eq!(Status::from(stream_error(&reset)).code(), Code::Cancelled);
        // A handler's own OUT_OF_RANGE (a byte range) is left alone.
        assert!(corrected(&Status::out_of_range("offset 9 is past the end")).is_none());
    }

    #[test]
    fn trailers_only_answers_are_rewritten() {
        let status = Status::out_of_range(format!("{TOO_LARGE_PREFIX}: found 5 bytes"));
        let response = fix_trailers_only(status.into_http::<()>());
        let seen = Status::from_header_map(response.headers()).expect("status");
        assert_eq!(seen.code(), Code::ResourceExhausted);
        let ok = fix_trailers_only(http::Response::new(()));
        assert!(Status::from_header_map(ok.headers()).is_none());
    }

    /// Found by the payments benchmark: a unary call refused by the
    /// invoice limits came back as "a gRPC message exceeded the broker's
    /// 4 MiB receive limit". The broker's own RESOURCE_EXHAUSTED is left
    /// as it is, message and retry hint included.
    #[test]
    fn the_brokers_own_resource_exhausted_is_left_alone() {
        let mut own = Status::resource_exhausted(
            "too many invoices requested from your address; retry in 8 ms",
        );
        own.metadata_mut()
            .insert("retry-after-ms", "8".parse().expect("ascii"));
        assert!(corrected(&own).is_none());
        let response = fix_trailers_only(own.into_http::<()>());
        let seen = Status::from_header_map(response.headers()).expect("status");
        assert!(seen.message().starts_with("too many invoices"), "{seen:?}");
        assert_eq!(
            response
                .headers()
                .get("retry-after-ms")
                .map(|v| v.as_bytes()),
            Some(&b"8"[..])
        );
    }
}
