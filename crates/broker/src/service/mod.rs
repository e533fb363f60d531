//! The gRPC services. Each handler authenticates, does its work through the
//! broker's pipelines and index, and returns errors through [`reply`] (and
//! so through `grpc_status.rs`).

pub(crate) mod admin;
pub(crate) mod get_route;
pub(crate) mod listing;
mod money_out;
pub(crate) mod payments;
pub(crate) mod providers;
pub(crate) mod shares;
pub(crate) mod storage;

use std::borrow::Cow;

use shardgate_proto::auth_metadata::AUTHORIZATION;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use crate::error::BrokerError;
use crate::metrics;

/// The payment credential a request carries, as the payment gate takes it:
/// the transport stops here. Bytes that are not UTF-8 are replaced, so the
/// gate still sees (and refuses) a value that is not ASCII.
pub(crate) fn payment_credential(metadata: &MetadataMap) -> Option<Cow<'_, str>> {
    metadata
        .get(AUTHORIZATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
}

/// The client's address for the per-address limits: as the request layer
/// named it (behind trusted proxies, the forwarded one), else the TCP peer.
pub(crate) fn peer_of<T>(request: &tonic::Request<T>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<crate::limits::ClientAddress>()
        .map(|client| client.0)
        .or_else(|| request.remote_addr().map(|addr| addr.ip()))
}

/// Maps a handler's result, counting errors by code.
pub(crate) fn reply<T>(result: Result<T, BrokerError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(|e| {
        let status = Status::from(e);
        metrics::rpc_error(status.code());
        status
    })
}
