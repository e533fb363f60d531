//! Turning what the LND client returns into [`PaymentError`], at the
//! boundary, so nothing of the transport crosses into the broker.
//!
//! Connection failures carry our own [`ConnectFailure`] in the status'
//! `source()` chain (tonic reports them as UNAVAILABLE): a refused TLS
//! handshake is a settings problem, anything else an outage. LND reports
//! most of its own failures as plain Go errors, i.e. gRPC code UNKNOWN
//! with a message, so beyond the code we classify by LND's well-known
//! texts. Anything we do not recognise as a business refusal is treated as
//! *unavailable*: the broker then fails closed and serves nothing.

use std::error::Error as _;

use tonic::Code;

use super::channel::ConnectFailure;
use crate::error::PaymentError;

/// The status message plus every `source()` below it, for classification
/// and for an operator-readable detail.
fn chain_text(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = status.source();
    let mut depth = 0;
    while let Some(err) = source {
        // Bounded: a chain is a handful of levels; never loop on a cycle.
        if depth == 8 {
            break;
        }
        // Wrappers often repeat their cause's text: keep each text once.
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = err.source();
        depth += 1;
    }
    text
}

/// Texts LND (and its macaroon service) answer when our macaroon is wrong.
const AUTH_TEXTS: &[&str] = &[
    "verification failed",
    "expected 1 macaroon",
    "macaroon",
    "encoding/hex",
    "permission denied",
    "cannot determine data integrity",
];

/// Texts of transport failures: the node is not there (or went away).
const TRANSPORT_TEXTS: &[&str] = &[
    "client error",
    "transport error",
    "connection",
    "connect",
    "broken pipe",
    "h2 protocol",
    "stream closed",
    "operation timed out",
    "dns error",
];

/// Our connector's failure, if the call failed while connecting.
fn connect_failure(status: &tonic::Status) -> Option<&ConnectFailure> {
    let mut source = status.source();
    // Bounded like `chain_text`.
    for _ in 0..8 {
        let err = source?;
        if let Some(failure) = err.downcast_ref::<ConnectFailure>() {
            return Some(failure);
        }
        source = err.source();
    }
    None
}

/// Classifies a failed call `op`.
pub(crate) fn map_status(op: &'static str, status: tonic::Status) -> PaymentError {
    let detail = chain_text(&status);
    match connect_failure(&status) {
        Some(ConnectFailure::Untrusted(_)) => {
            return PaymentError::LndAuth {
                op,
                detail: format!("TLS: {detail} (is tls_cert the node's certificate?)"),
            };
        }
        Some(ConnectFailure::Unreachable(_)) => {
            return PaymentError::LndUnavailable { op, detail };
        }
        None => {}
    }
    let lower = detail.to_ascii_lowercase();
    let has = |texts: &[&str]| texts.iter().any(|t| lower.contains(t));
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => PaymentError::LndAuth { op, detail },
        Code::DeadlineExceeded => PaymentError::LndUnavailable { op, detail },
        Code::Unavailable | Code::Cancelled | Code::ResourceExhausted | Code::Aborted => {
            PaymentError::LndUnavailable { op, detail }
        }
        Code::NotFound => PaymentError::LndRejected { op, detail },
        Code::Unimplemented | Code::DataLoss | Code::Internal => {
            PaymentError::LndProtocol { op, detail }
        }
        Code::Unknown if has(AUTH_TEXTS) => PaymentError::LndAuth { op, detail },
        Code::Unknown if has(TRANSPORT_TEXTS) => PaymentError::LndUnavailable { op, detail },
        // LND's business refusals: "invoice expired", "invoice already
        // settled", "invoice with payment hash already exists", …
        Code::Unknown
        | Code::InvalidArgument
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::OutOfRange => PaymentError::LndRejected { op, detail },
        Code::Ok => PaymentError::LndProtocol {
            op,
            detail: "error status with code OK".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PaymentErrorKind;

    #[test]
    fn lnd_texts_classify_as_the_caller_needs() {
        let cases = [
            (
                tonic::Status::unknown(
                    "verification failed: signature mismatch after caveat verification",
                ),
                PaymentErrorKind::Misconfigured,
            ),
            (
                tonic::Status::unknown("client error (Connect)"),
                PaymentErrorKind::Unavailable,
            ),
            (
                tonic::Status::unknown("invoice expired. Valid until 2026-01-01"),
                PaymentErrorKind::Rejected,
            ),
            (
                tonic::Status::already_exists("invoice is already paid"),
                PaymentErrorKind::Rejected,
            ),
            (
                tonic::Status::unavailable("shutting down"),
                PaymentErrorKind::Unavailable,
            ),
            (
                tonic::Status::unimplemented("no"),
                PaymentErrorKind::Unavailable,
            ),
            (
                tonic::Status::permission_denied("nope"),
                PaymentErrorKind::Misconfigured,
            ),
        ];
        for (status, kind) in cases {
            let text = status.message().to_string();
            assert_eq!(map_status("Test", status).kind(), kind, "{text}");
        }
    }
}
