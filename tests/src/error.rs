//! The one error type of the test harness.

use std::path::PathBuf;

/// Everything that can go wrong while starting, driving or stopping a peer.
///
/// Each variant says what the person running the tests should do next.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The install script has not run (or ran into another tools directory).
    #[error(
        "test peer tool `{tool}` not found at {path}: run scripts/install-test-peers.sh \
         (or set SHARDGATE_TOOLS to the directory it installed into)"
    )]
    ToolsMissing { tool: &'static str, path: PathBuf },

    /// The process could not be spawned at all.
    #[error("could not spawn {peer}: {source}")]
    Spawn {
        peer: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The process exited before it answered HTTP.
    #[error("{peer} exited during start-up ({status}); log tail:\n{log_tail}")]
    Exited {
        peer: &'static str,
        status: String,
        log_tail: String,
    },

    /// The process kept running but never answered HTTP in time.
    #[error("{peer} did not answer HTTP within {seconds} s; log tail:\n{log_tail}")]
    NotReady {
        peer: &'static str,
        seconds: u64,
        log_tail: String,
    },

    /// A socket or file operation of the harness itself failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A peer sent something that is not HTTP/1.x as this harness knows it.
    #[error("malformed HTTP from {peer}: {reason}")]
    Protocol { peer: String, reason: String },

    /// A peer answered an administrative request (e.g. bucket creation) with an error.
    #[error("{operation} on {endpoint} failed with HTTP {status}: {body}")]
    Rejected {
        operation: String,
        endpoint: String,
        status: u16,
        body: String,
    },

    /// Bucket names are limited to what both S3 and GCS accept.
    #[error("invalid bucket name {0:?}: use 3-63 of a-z, 0-9, '-' and '.'")]
    InvalidBucketName(String),

    /// `SHARDGATE_PROVIDER_KINDS` names a kind that does not exist.
    #[error(
        "unknown provider kind `{0}` in SHARDGATE_PROVIDER_KINDS (known: memory, fs, s3, gcs, b2)"
    )]
    UnknownProviderKind(String),
}

impl PeerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PeerError::Io {
            context: context.into(),
            source,
        }
    }
}
