//! The one error type of the SDK.
//!
//! Every failure is a [`ClientError`] with an [`ErrorKind`] a caller can
//! branch on (pay and retry, fix the request, retry later, give up) and a
//! message that says what to do. A broker refusal keeps the broker's message
//! and its gRPC code; an unpaid download carries the L402 challenge so the
//! caller can pay it with any wallet.

use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};

use crate::raw_challenge::RawChallenge;

/// What kind of failure, i.e. what the caller can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The download needs a payment: [`ClientError::challenge`] holds the
    /// invoice and token. Pay it (or configure a payer) and retry.
    Unpaid,
    /// No such blob, invoice or account (or one this key may not see).
    NotFound,
    /// The request is malformed or out of bounds; the message says which
    /// field. Retrying the same request fails again.
    InvalidArgument,
    /// The key is missing or unknown, or a credential was refused.
    Unauthenticated,
    /// The key is valid but may not do this.
    PermissionDenied,
    /// A quota or a size limit; the message says which. Retrying the same
    /// call fails again until something changes (delete blobs, a larger
    /// quota, smaller frames).
    ResourceExhausted,
    /// The broker refuses this for now: a rate limit, an invoice budget or
    /// a limit on transfers in flight (the message names it).
    /// [`ClientError::retry_after`] says when to retry.
    Throttled,
    /// The broker cannot do it in its current state (too few providers,
    /// an invoice not paid yet); retrying later may help.
    FailedPrecondition,
    /// The broker, a provider or the network is unreachable or overloaded;
    /// retrying later may help.
    Unavailable,
    /// The call was cut off (deadline, a concurrent change); retry.
    Aborted,
    /// Data failed a check: wrong file key, a tampered shard or manifest, a
    /// truncated or reordered stream, a content hash mismatch. No plaintext
    /// from the failed part was handed out.
    Integrity,
    /// Paying failed or was refused locally (expired invoice, a challenge
    /// that does not add up, the payer node's error).
    Payment,
    /// The invoice asks more than the caller's price cap;
    /// [`ClientError::asked_msat`] says how much. Nothing was paid.
    PriceAboveCap,
    /// Reading the input or writing the output failed.
    Io,
    /// The broker broke the protocol or failed internally.
    Internal,
    /// A share link that serves nothing any more: expired, revoked by its
    /// owner, used up, or its file deleted; the message says which.
    Gone,
}

impl ErrorKind {
    /// True when the same call may succeed if retried later unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable
                | ErrorKind::Aborted
                | ErrorKind::FailedPrecondition
                | ErrorKind::Throttled
        )
    }
}

/// An SDK failure: a kind, a message for people, and (for broker refusals)
/// the gRPC code.
#[derive(Debug, thiserror::Error)]
pub struct ClientError {
    kind: ErrorKind,
    message: String,
    code: Option<Code>,
    challenge: Option<Box<RawChallenge>>,
    asked_msat: Option<u64>,
    retry_after: Option<Duration>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = self.code {
            write!(f, " ({})", code_name(code))?;
        }
        Ok(())
    }
}

impl ClientError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ClientError {
        ClientError {
            kind,
            message: one_line(&message.into()),
            code: None,
            challenge: None,
            asked_msat: None,
            retry_after: None,
            source: None,
        }
    }

    /// A [`ErrorKind::Throttled`] refusal, to be retried after `wait`.
    pub(crate) fn throttled(message: impl Into<String>, wait: Duration) -> ClientError {
        let mut error = ClientError::new(ErrorKind::Throttled, message);
        error.retry_after = Some(wait);
        error
    }

    /// Attaches the underlying error (kept as `source()`).
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ClientError {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the code suffix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The broker's gRPC code, when the broker refused the call.
    pub fn code(&self) -> Option<Code> {
        self.code
    }

    /// The L402 challenge of an [`ErrorKind::Unpaid`] download: the BOLT 11
    /// invoice to pay and the token that, with the preimage, is the
    /// credential (`TOKEN:PREIMAGE`).
    pub fn challenge(&self) -> Option<(&str, &str)> {
        self.challenge
            .as_deref()
            .map(|c| (c.invoice.as_str(), c.token.as_str()))
    }

    /// How long to wait before retrying, for [`ErrorKind::Throttled`]
    /// (the broker's `retry-after-ms`, or the gateway's `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// What the invoice asked, for [`ErrorKind::PriceAboveCap`].
    pub fn asked_msat(&self) -> Option<u64> {
        self.asked_msat
    }

    /// The same error with `context: ` in front of the message.
    pub fn context(mut self, context: impl fmt::Display) -> ClientError {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub(crate) fn io(what: impl fmt::Display, error: std::io::Error) -> ClientError {
        ClientError::new(ErrorKind::Io, format!("{what}: {error}")).with_source(error)
    }

    pub(crate) fn integrity(message: impl Into<String>) -> ClientError {
        ClientError::new(ErrorKind::Integrity, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ClientError {
        ClientError::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> ClientError {
        ClientError::new(ErrorKind::Internal, message)
    }

    pub(crate) fn payment(message: impl Into<String>) -> ClientError {
        ClientError::new(ErrorKind::Payment, message)
    }

    pub(crate) fn above_cap(asked_msat: u64, cap_msat: u64) -> ClientError {
        let mut error = ClientError::new(
            ErrorKind::PriceAboveCap,
            format!(
                "the invoice asks {asked_msat} msat, more than the price cap of {cap_msat} msat"
            ),
        );
        error.asked_msat = Some(asked_msat);
        error
    }

    /// An unpaid download: the broker's challenge, with how to pay it.
    pub(crate) fn unpaid(status: &Status, challenge: RawChallenge, message: String) -> ClientError {
        ClientError {
            kind: ErrorKind::Unpaid,
            message: one_line(&message),
            code: Some(status.code()),
            challenge: Some(Box::new(challenge)),
            asked_msat: None,
            retry_after: None,
            source: None,
        }
    }
}

impl From<Status> for ClientError {
    fn from(status: Status) -> ClientError {
        let kind = match status.code() {
            Code::NotFound => ErrorKind::NotFound,
            Code::InvalidArgument | Code::OutOfRange | Code::AlreadyExists => {
                ErrorKind::InvalidArgument
            }
            Code::Unauthenticated => ErrorKind::Unauthenticated,
            Code::PermissionDenied => ErrorKind::PermissionDenied,
            Code::ResourceExhausted => ErrorKind::ResourceExhausted,
            Code::FailedPrecondition => ErrorKind::FailedPrecondition,
            Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
            Code::Aborted | Code::Cancelled => ErrorKind::Aborted,
            Code::DataLoss => ErrorKind::Integrity,
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal => ErrorKind::Internal,
        };
        if let Some(challenge) = RawChallenge::of(&status) {
            let message = format!("payment required: {}", status.message().trim());
            return ClientError::unpaid(&status, challenge, message);
        }
        let message = status.message().trim();
        let message = if message.is_empty() {
            status.code().description().to_owned()
        } else {
            message.to_owned()
        };
        // A limit that says when to come back is "later", not "never".
        let retry_after = retry_after_of(&status);
        let kind = match (kind, retry_after) {
            (ErrorKind::ResourceExhausted, Some(_)) => ErrorKind::Throttled,
            (kind, _) => kind,
        };
        ClientError {
            kind,
            message: one_line(&message),
            code: Some(status.code()),
            challenge: None,
            asked_msat: None,
            retry_after,
            source: Some(Box::new(status)),
        }
    }
}

impl From<shardgate_core::CoreError> for ClientError {
    fn from(error: shardgate_core::CoreError) -> ClientError {
        let kind = match error.kind() {
            shardgate_core::CoreErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
            shardgate_core::CoreErrorKind::Io => ErrorKind::Io,
            _ => ErrorKind::Integrity,
        };
        ClientError::new(kind, error.to_string()).with_source(error)
    }
}

/// The canonical name of a code, as the proto comments spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The broker's retry hint on a RESOURCE_EXHAUSTED status.
fn retry_after_of(status: &Status) -> Option<Duration> {
    let value = status
        .metadata()
        .get(shardgate_proto::auth_metadata::RETRY_AFTER_MS)?;
    let ms: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// Newlines and runs of spaces folded, so messages stay one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Shorthand for SDK results.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_keeps_its_message_and_code_and_gets_a_kind() {
        let err = ClientError::from(Status::not_found("no blob\nwith that id"));
        assert_eq!(err.to_string(), "no blob with that id (NOT_FOUND)");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = ClientError::from(Status::new(Code::Unavailable, ""));
        assert!(err.to_string().ends_with("(UNAVAILABLE)"), "{err}");
        assert!(err.kind().is_retryable());
    }

    #[test]
    fn a_limit_with_a_retry_hint_is_throttled_a_quota_is_not() {
        let mut status = Status::resource_exhausted("too many calls; retry in 250 ms");
        status.metadata_mut().insert(
            shardgate_proto::auth_metadata::RETRY_AFTER_MS,
            "250".parse().expect("ascii"),
        );
        let err = ClientError::from(status);
        assert_eq!(err.kind(), ErrorKind::Throttled);
        assert!(err.kind().is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
        assert_eq!(err.code(), Some(Code::ResourceExhausted));
        let quota = ClientError::from(Status::resource_exhausted("quota exceeded"));
        assert_eq!(quota.kind(), ErrorKind::ResourceExhausted);
        assert!(!quota.kind().is_retryable());
        assert_eq!(quota.retry_after(), None);
    }

    #[test]
    fn a_challenge_makes_an_unpaid_error_that_carries_it() {
        let mut status = Status::unauthenticated("blob costs 1 sat");
        status.metadata_mut().insert(
            shardgate_proto::auth_metadata::WWW_AUTHENTICATE,
            "L402 macaroon=\"AgEDbG5k\", invoice=\"lnbcrt10n1xyz\""
                .parse()
                .expect("ascii"),
        );
        let err = ClientError::from(status);
        assert_eq!(err.kind(), ErrorKind::Unpaid);
        assert_eq!(err.challenge(), Some(("lnbcrt10n1xyz", "AgEDbG5k")));
    }
}
