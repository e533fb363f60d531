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
    ToolsMissing {
        /// The tool's name (e.g. `moto`).
        tool: &'static str,
        /// Where the harness looked for it, under `SHARDGATE_TOOLS`.
        path: PathBuf,
    },

    /// The process could not be spawned at all.
    #[error("could not spawn {peer}: {source}")]
    Spawn {
        /// Which peer (or `shardgate serve`) was being started.
        peer: &'static str,
        /// The error from spawning the process.
        #[source]
        source: std::io::Error,
    },

    /// The process exited before it answered HTTP.
    #[error("{peer} exited during start-up ({status}); log tail:\n{log_tail}")]
    Exited {
        /// Which peer exited.
        peer: &'static str,
        /// Its exit status, as displayed by the OS (code or signal).
        status: String,
        /// The last lines of its output; usually names the cause (e.g. a
        /// port already in use).
        log_tail: String,
    },

    /// The process kept running but never answered HTTP in time.
    #[error("{peer} did not answer HTTP within {seconds} s; log tail:\n{log_tail}")]
    NotReady {
        /// Which peer did not become ready.
        peer: &'static str,
        /// How long the harness waited, in seconds.
        seconds: u64,
        /// The last lines of its output so far.
        log_tail: String,
    },

    /// A socket or file operation of the harness itself failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing (e.g. which file or address).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A peer sent something that is not HTTP/1.x as this harness knows it.
    #[error("malformed HTTP from {peer}: {reason}")]
    Protocol {
        /// The peer (or provider name) that sent it.
        peer: String,
        /// What was wrong with the response.
        reason: String,
    },

    /// A peer answered an administrative request (e.g. bucket creation) with an error.
    #[error("{operation} on {endpoint} failed with HTTP {status}: {body}")]
    Rejected {
        /// The request that failed (e.g. `create bucket x`).
        operation: String,
        /// Base URL of the peer.
        endpoint: String,
        /// The HTTP status code it answered with.
        status: u16,
        /// The response body, which usually holds the peer's reason.
        body: String,
    },

    /// Bucket names are limited to what both S3 and GCS accept.
    #[error("invalid bucket name {0:?}: use 3-63 of a-z, 0-9, '-' and '.'")]
    InvalidBucketName(String),

    /// `SHARDGATE_PROVIDER_KINDS` names a kind that does not exist.
    #[error(
        "unknown provider kind `{0}` in SHARDGATE_PROVIDER_KINDS (known: memory, fs, s3, gcs, b2, azure)"
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
