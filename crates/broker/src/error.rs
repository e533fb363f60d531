//! The one error type of the broker.
//!
//! Kinds say what the *caller* can do; `grpc_status.rs` turns each into a gRPC
//! status. Errors of the crates below (index, backends, core) are wrapped as
//! they are, so the mapping can look at their own kinds.

use shardgate_backends::BackendError;
use shardgate_core::CoreError;
use shardgate_index::IndexError;
use shardgate_payments::PaymentError;

/// Everything that can go wrong in the broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A request field is malformed or outside its bounds. Fix the request.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The request field (or config key) that was rejected.
        field: &'static str,
        /// What is wrong with it; shown to the client as is.
        reason: String,
    },
    /// A required key is missing or unknown.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No such blob, tenant or provider (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The name or id is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// A range starts at or past the end of the blob.
    #[error("{0}")]
    OutOfRange(String),
    /// The upload would exceed the tenant's quota.
    #[error(
        "quota exceeded: {used_bytes} of {quota_bytes} bytes in use, this upload needs {requested_bytes} more; delete blobs or ask the operator for a larger quota"
    )]
    QuotaExceeded {
        /// Bytes the tenant had stored when the upload was checked.
        used_bytes: u64,
        /// The tenant's quota in bytes.
        quota_bytes: u64,
        /// Bytes this upload adds (declared size, or bytes received so far
        /// when no size was declared).
        requested_bytes: u64,
    },
    /// A gRPC message exceeded the receive limit (common.proto: keep data
    /// frames at or below 1 MiB).
    #[error("{0}")]
    MessageTooLarge(String),
    /// The system is not in a state that allows this (too few providers,
    /// payments not enabled, ...). The message says what would change it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A blob has a price and this broker cannot take payments yet: it is
    /// refused, never served free.
    #[error(
        "blob {blob} has a download price ({flat_msat} msat flat + {per_mib_msat} msat/MiB) and this broker does not accept payments yet; priced blobs cannot be downloaded"
    )]
    PaymentsNotEnabled {
        /// Hex id of the priced blob.
        blob: String,
        /// The blob's flat price per download, in millisatoshi.
        flat_msat: u64,
        /// The blob's price per MiB of the requested range, in millisatoshi.
        per_mib_msat: u64,
    },
    /// A priced download without a usable credential: the status carries
    /// the challenge (a fresh invoice for the requested range) and the
    /// message says why the credential, if any, was refused.
    #[error("{reason}")]
    PaymentRequired {
        /// Why no credential was accepted (none sent, used up, invoice
        /// canceled, ...); becomes the status message.
        reason: String,
        /// `L402 macaroon="…", invoice="…"`, sent as `www-authenticate`.
        challenge: String,
        /// The invoice behind the challenge, for transports that show it
        /// (the HTTP gateway's JSON and QR code).
        invoice: Box<ChallengeInvoice>,
    },
    /// A share link that exists but serves nothing any more: `kind` is
    /// `expired`, `revoked`, `used_up` or `blob_deleted` (HTTP 410).
    #[error("{message}")]
    ShareGone {
        /// Machine-readable reason, shown to the page.
        kind: &'static str,
        /// What happened, for a person.
        message: String,
    },
    /// An abuse limit (a rate, an invoice budget, concurrent transfers)
    /// refused the request; retry after `retry_after_ms`.
    #[error("{what}; retry in {}", wait_text(*.retry_after_ms))]
    RateLimited {
        /// Which limit, in words (names the `[limits]` or `[gateway]` key).
        what: String,
        /// When the limit has room again, ms (at least 1).
        retry_after_ms: u64,
    },
    /// The broker is at its memory budget for transfers and the wait for
    /// room ran out (`memory_budget.rs`); retry after `retry_after_ms`.
    #[error("{what}; nothing was stored or charged, retry in {}", wait_text(*.retry_after_ms))]
    Overloaded {
        /// What waited, for how long, on which budget.
        what: String,
        /// A short back-off before retrying, ms.
        retry_after_ms: u64,
    },
    /// Another run of the same job is in progress; retry when it ends.
    #[error("{0}")]
    Aborted(String),
    /// Too few intact shards of some chunk could be read.
    #[error("{0}")]
    DataLoss(String),
    /// Providers or the index are unreachable; retry with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// This broker does not implement the feature yet.
    #[error("{0}")]
    Unimplemented(String),
    /// The client went away; nothing was committed.
    #[error("the call was cancelled by the client")]
    Cancelled,
    /// A broker bug or an inconsistency of its own state.
    #[error("internal error: {0}")]
    Internal(String),
    /// The broker configuration cannot be used (startup only).
    #[error("configuration: {0}")]
    Config(String),
    /// Binding or serving a socket failed (startup only).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// From the index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// From a storage provider.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// From payments: pricing bounds, credentials, the Lightning node.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// From the data path (formats, crypto, erasure coding).
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// What a payment challenge asks for, beside its header form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeInvoice {
    /// BOLT 11 payment request.
    pub payment_request: String,
    /// The L402 macaroon (base64) the payer presents with the preimage.
    pub macaroon: String,
    /// Hex payment hash of the invoice.
    pub payment_hash: String,
    /// Amount asked, msat.
    pub amount_msat: u64,
    /// When an unpaid invoice stops being payable, unix ms.
    pub expires_at_unix_ms: u64,
}

impl BrokerError {
    /// Shorthand for [`BrokerError::InvalidArgument`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        BrokerError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

/// "250 ms" below a second, whole seconds (rounded up) above.
fn wait_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{} s", ms.div_ceil(1000))
    }
}
