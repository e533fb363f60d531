//! The one place where errors become gRPC statuses, and HTTP statuses for
//! the gateway (derived from the gRPC code, so both transports agree).
//!
//! Codes follow the error model of `proto/shardgate/v1/common.proto`;
//! messages say what to change or whether to retry, and never carry keys,
//! request URLs or stored bytes.

use shardgate_backends::{BackendError, BackendErrorKind};
use shardgate_core::{CoreError, CoreErrorKind};
use shardgate_index::IndexError;
use shardgate_payments::{PaymentError, PaymentErrorKind};
use shardgate_proto::auth_metadata::{RETRY_AFTER_MS, WWW_AUTHENTICATE};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::error::BrokerError;

impl From<BrokerError> for Status {
    fn from(err: BrokerError) -> Status {
        let code = code_of(&err);
        if code == Code::Internal {
            // Bugs get logged with detail; the client gets a pointer to that.
            tracing::error!(error = %err, "internal error");
        }
        if let BrokerError::Payment(e) = &err
            && e.kind() == PaymentErrorKind::Misconfigured
        {
            // Nothing a client can fix: the operator must see it.
            tracing::error!(error = %e, "payments are misconfigured");
        }
        let mut status = Status::new(code, message_of(&err));
        if let BrokerError::PaymentRequired { challenge, .. } = &err {
            match MetadataValue::try_from(challenge.as_str()) {
                Ok(value) => {
                    status.metadata_mut().insert(WWW_AUTHENTICATE, value);
                }
                // Tokens are base64 and invoices bech32: always ASCII.
                Err(_) => tracing::error!("L402 challenge is not valid metadata"),
            }
        }
        if let Some(retry_after_ms) = retry_after_ms_of(&err) {
            // A number is always valid metadata.
            if let Ok(value) = MetadataValue::try_from(retry_after_ms.to_string()) {
                status.metadata_mut().insert(RETRY_AFTER_MS, value);
            }
        }
        status
    }
}

/// The gRPC code of an error.
pub(crate) fn code_of(err: &BrokerError) -> Code {
    match err {
        BrokerError::InvalidArgument { .. } => Code::InvalidArgument,
        BrokerError::Unauthenticated(_) | BrokerError::PaymentRequired { .. } => {
            Code::Unauthenticated
        }
        BrokerError::PermissionDenied(_) => Code::PermissionDenied,
        BrokerError::NotFound(_) => Code::NotFound,
        BrokerError::AlreadyExists(_) => Code::AlreadyExists,
        BrokerError::OutOfRange(_) => Code::OutOfRange,
        BrokerError::QuotaExceeded { .. }
        | BrokerError::MessageTooLarge(_)
        | BrokerError::RateLimited { .. }
        | BrokerError::Overloaded { .. } => Code::ResourceExhausted,
        BrokerError::FailedPrecondition(_)
        | BrokerError::PaymentsNotEnabled { .. }
        | BrokerError::ShareGone { .. } => Code::FailedPrecondition,
        BrokerError::Aborted(_) => Code::Aborted,
        BrokerError::DataLoss(_) => Code::DataLoss,
        BrokerError::Unavailable(_) => Code::Unavailable,
        BrokerError::Cancelled => Code::Cancelled,
        BrokerError::Unimplemented(_) => Code::Unimplemented,
        BrokerError::Internal(_) | BrokerError::Config(_) | BrokerError::Io(_) => Code::Internal,
        BrokerError::Index(e) => index_code(e),
        BrokerError::Backend(e) => backend_code(e),
        BrokerError::Core(e) => core_code(e),
        BrokerError::Payment(e) => payment_code(e),
    }
}

/// The message a client sees (the same over gRPC and HTTP).
pub(crate) fn message_of(err: &BrokerError) -> String {
    match err {
        BrokerError::Index(IndexError::QuotaExceeded {
            used,
            quota,
            requested,
        }) => BrokerError::QuotaExceeded {
            used_bytes: *used,
            quota_bytes: *quota,
            requested_bytes: *requested,
        }
        .to_string(),
        BrokerError::Index(IndexError::Storage { .. }) => {
            "the index is temporarily unavailable; nothing was committed, retry with backoff"
                .to_owned()
        }
        BrokerError::Index(IndexError::Conflict { .. }) => {
            "a concurrent change (garbage collection) raced this request; nothing was committed, retry it"
                .to_owned()
        }
        BrokerError::Index(IndexError::Corrupt { .. }) => {
            "the broker's index is damaged; report this to the operator with the time and RPC name"
                .to_owned()
        }
        BrokerError::Backend(e) if e.is_temporary() => format!(
            "storage provider `{}` is unavailable; nothing was committed, retry with backoff",
            e.provider()
        ),
        BrokerError::Backend(e) if *e.kind() == BackendErrorKind::InsufficientProviders => {
            format!(
                "not enough healthy storage providers: {e}; retry later, lower k+m, or allow reduced redundancy"
            )
        }
        BrokerError::Internal(_) | BrokerError::Config(_) | BrokerError::Io(_) => {
            "internal broker error; report it with the time and the RPC name".to_owned()
        }
        BrokerError::Payment(e) if e.is_temporary() => format!(
            "the broker's Lightning node is unavailable ({e}); nothing was served or charged, retry with backoff"
        ),
        BrokerError::Payment(e) if e.kind() == PaymentErrorKind::Misconfigured => {
            "the broker cannot use its Lightning node (operator configuration); nothing was served or charged, retry later"
                .to_owned()
        }
        BrokerError::Payment(e) if e.kind() == PaymentErrorKind::Rejected => format!(
            "the broker's Lightning node refused an operation ({e}); nothing was served, retry later"
        ),
        BrokerError::Backend(e) if backend_code(e) == Code::Internal => {
            "internal broker error talking to a storage provider; report it with the time and the RPC name"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// The HTTP status of an error on the gateway: the gRPC code's usual HTTP
/// twin (google.rpc.Code's mapping), except where HTTP has a word of its
/// own: 402 for a challenge, 410 for a share that is gone, 416 for a range
/// past the end.
pub(crate) fn http_status_of(err: &BrokerError) -> http::StatusCode {
    use http::StatusCode as H;
    match err {
        BrokerError::PaymentRequired { .. } => return H::PAYMENT_REQUIRED,
        BrokerError::ShareGone { .. } => return H::GONE,
        BrokerError::OutOfRange(_) => return H::RANGE_NOT_SATISFIABLE,
        BrokerError::MessageTooLarge(_) => return H::PAYLOAD_TOO_LARGE,
        // Not the caller's rate: the whole broker is busy.
        BrokerError::Overloaded { .. } => return H::SERVICE_UNAVAILABLE,
        _ => {}
    }
    match code_of(err) {
        Code::Ok => H::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => H::BAD_REQUEST,
        Code::Unauthenticated => H::UNAUTHORIZED,
        Code::PermissionDenied => H::FORBIDDEN,
        Code::NotFound => H::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => H::CONFLICT,
        Code::ResourceExhausted => H::TOO_MANY_REQUESTS,
        Code::Unimplemented => H::NOT_IMPLEMENTED,
        Code::Unavailable => H::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        Code::Cancelled | Code::Unknown | Code::DataLoss | Code::Internal => {
            H::INTERNAL_SERVER_ERROR
        }
    }
}

/// Milliseconds a refused caller should wait before retrying, for the
/// errors that say so (gRPC `retry-after-ms`, HTTP `Retry-After`).
pub(crate) fn retry_after_ms_of(err: &BrokerError) -> Option<u64> {
    match err {
        BrokerError::RateLimited { retry_after_ms, .. }
        | BrokerError::Overloaded { retry_after_ms, .. } => Some(*retry_after_ms),
        _ => None,
    }
}

/// The `error` field of the gateway's JSON errors: the gRPC code in
/// snake case, or the share's own reason.
pub(crate) fn error_kind_of(err: &BrokerError) -> &'static str {
    match err {
        BrokerError::PaymentRequired { .. } => return "payment_required",
        BrokerError::ShareGone { kind, .. } => return kind,
        _ => {}
    }
    match code_of(err) {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

fn index_code(err: &IndexError) -> Code {
    match err {
        IndexError::NotFound { .. } => Code::NotFound,
        IndexError::AlreadyExists { .. } => Code::AlreadyExists,
        IndexError::QuotaExceeded { .. } => Code::ResourceExhausted,
        // A commit lost a race with GC: safe to retry from scratch.
        IndexError::Conflict { .. } => Code::Aborted,
        // The gate answers this with a challenge; elsewhere it is the same.
        IndexError::UsesExhausted { .. } => Code::Unauthenticated,
        IndexError::Invalid { .. } => Code::InvalidArgument,
        IndexError::Storage { .. } => Code::Unavailable,
        // The gateway answers it as the share's own 410 (share_access.rs).
        IndexError::ShareUnavailable { .. } => Code::FailedPrecondition,
        // A payout or credit larger than the balance; nothing moved.
        IndexError::InsufficientBalance { .. } => Code::FailedPrecondition,
        _ => Code::Internal,
    }
}

/// The one mapping of `shardgate_payments::PaymentErrorKind` (crates/payments README).
fn payment_code(err: &PaymentError) -> Code {
    match err.kind() {
        PaymentErrorKind::InvalidArgument => Code::InvalidArgument,
        PaymentErrorKind::Unauthenticated => Code::Unauthenticated,
        PaymentErrorKind::FailedPrecondition => Code::FailedPrecondition,
        // Fail closed: nothing served, the client retries with backoff.
        PaymentErrorKind::Unavailable
        | PaymentErrorKind::Timeout
        | PaymentErrorKind::Rejected
        | PaymentErrorKind::Misconfigured => Code::Unavailable,
        PaymentErrorKind::NotFound => Code::NotFound,
    }
}

fn backend_code(err: &BackendError) -> Code {
    match err.kind() {
        BackendErrorKind::Unavailable | BackendErrorKind::Timeout => Code::Unavailable,
        BackendErrorKind::InsufficientProviders => Code::FailedPrecondition,
        BackendErrorKind::UnknownProvider => Code::NotFound,
        BackendErrorKind::AlreadyExists => Code::AlreadyExists,
        BackendErrorKind::InvalidConfig { .. } => Code::InvalidArgument,
        // A shard that is missing or corrupt on its own is data at risk.
        BackendErrorKind::NotFound | BackendErrorKind::Corrupt => Code::DataLoss,
        BackendErrorKind::PermissionDenied => Code::Unavailable,
        _ => Code::Internal,
    }
}

fn core_code(err: &CoreError) -> Code {
    match err.kind() {
        CoreErrorKind::InvalidArgument => Code::InvalidArgument,
        CoreErrorKind::InsufficientShards | CoreErrorKind::Corrupt => Code::DataLoss,
        _ => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(err: BrokerError) -> Status {
        err.into()
    }

    #[test]
    fn quota_from_the_index_reads_like_the_broker_s_own() {
        let s = status(BrokerError::Index(IndexError::QuotaExceeded {
            used: 10,
            quota: 12,
            requested: 5,
        }));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("10 of 12"), "{}", s.message());
        assert!(s.message().contains("larger quota"), "{}", s.message());
    }

    #[test]
    fn codes_follow_the_proto_error_model() {
        let cases = [
            (BrokerError::invalid("name", "empty"), Code::InvalidArgument),
            (
                BrokerError::Unauthenticated("x".into()),
                Code::Unauthenticated,
            ),
            (BrokerError::OutOfRange("x".into()), Code::OutOfRange),
            (BrokerError::DataLoss("x".into()), Code::DataLoss),
            (
                BrokerError::PaymentsNotEnabled {
                    blob: "b".into(),
                    flat_msat: 1,
                    per_mib_msat: 0,
                },
                Code::FailedPrecondition,
            ),
            (
                BrokerError::Index(IndexError::Storage { what: "io".into() }),
                Code::Unavailable,
            ),
            (
                BrokerError::Backend(BackendError::new(
                    BackendErrorKind::Timeout,
                    "p1",
                    "get",
                    "slow",
                )),
                Code::Unavailable,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(status(err).code(), code);
        }
    }

    #[test]
    fn payment_refusals_carry_the_challenge_and_lnd_outages_are_unavailable() {
        let s = status(BrokerError::PaymentRequired {
            reason: "credential used up: 1 of 1 uses spent".into(),
            challenge: "L402 macaroon=\"AgE=\", invoice=\"lnbcrt1\"".into(),
            invoice: Box::new(crate::error::ChallengeInvoice {
                payment_request: "lnbcrt1".into(),
                macaroon: "AgE=".into(),
                payment_hash: "00".repeat(32),
                amount_msat: 1000,
                expires_at_unix_ms: 0,
            }),
        });
        assert_eq!(s.code(), Code::Unauthenticated);
        assert_eq!(s.message(), "credential used up: 1 of 1 uses spent");
        let value = s.metadata().get(WWW_AUTHENTICATE).expect("challenge");
        assert!(value.to_str().expect("ascii").starts_with("L402 macaroon="));

        let s = status(BrokerError::Payment(PaymentError::LndTimeout {
            op: "LookupInvoice",
            after: std::time::Duration::from_secs(5),
        }));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.metadata().get(WWW_AUTHENTICATE).is_none());
        let s = status(BrokerError::Payment(PaymentError::InvoiceNotPaid {
            payment_hash: "ab".into(),
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        let s = status(BrokerError::Payment(PaymentError::UsesOutOfBounds {
            uses: 101,
            max: 100,
        }));
        assert_eq!(s.code(), Code::InvalidArgument);
        let s = status(BrokerError::Payment(PaymentError::LndAuth {
            op: "GetInfo",
            detail: "verification failed".into(),
        }));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(!s.message().contains("verification"), "{}", s.message());
    }

    #[test]
    fn rate_limits_say_which_and_when_in_message_and_metadata() {
        let s = status(BrokerError::RateLimited {
            what: "too many calls (limits.requests_per_second_per_address)".into(),
            retry_after_ms: 250,
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(
            s.message().contains("requests_per_second_per_address"),
            "{}",
            s.message()
        );
        assert!(s.message().contains("retry in 250 ms"), "{}", s.message());
        let value = s.metadata().get(RETRY_AFTER_MS).expect("retry-after-ms");
        assert_eq!(value.to_str().expect("ascii"), "250");
        let s = status(BrokerError::RateLimited {
            what: "x".into(),
            retry_after_ms: 1_500,
        });
        assert!(s.message().ends_with("retry in 2 s"), "{}", s.message());
    }

    #[test]
    fn internal_errors_hide_details() {
        let s = status(BrokerError::Internal("secret path /x/y".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/x/y"));
    }
}
