//! The crate's error type for its Rust API (starting and steering nodes).
//! What gRPC callers see is shaped in `lnd_status.rs` instead.

use std::path::PathBuf;

/// Why a simulated node could not be started or reconfigured.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Writing `tls.cert` / `admin.macaroon` failed: check the directory.
    #[error("cannot write {path}: {source}")]
    Files {
        /// The file that could not be written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The listening socket could not be bound (or re-bound after `set_down`).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The `host:port` the node tried to listen on.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Certificate generation failed (a bug, not an environment problem).
    #[error("cannot generate the TLS certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The gRPC server rejected its configuration.
    #[error("gRPC server error: {0}")]
    Server(#[from] tonic::transport::Error),
    /// `resolve_stalled` named a payment that is not stalled on this node
    /// (never sent, sent before `stall_payments(true)`, or already resolved).
    #[error("no stalled payment {payment_hash} on this node")]
    NotStalled {
        /// The payment hash asked for, hex.
        payment_hash: String,
    },
}
