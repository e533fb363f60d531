//! The gRPC services. Each handler authenticates, does its work through the
//! broker's pipelines and index, and returns errors through [`reply`] (and
//! so through `grpc_status.rs`).

pub mod admin;
pub mod listing;
pub mod payments;
pub mod provider_config;
pub mod providers;
pub mod storage;

use tonic::{Response, Status};

use crate::error::BrokerError;
use crate::metrics;

/// Maps a handler's result, counting errors by code.
pub fn reply<T>(result: Result<T, BrokerError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(|e| {
        let status = Status::from(e);
        metrics::rpc_error(status.code());
        status
    })
}
