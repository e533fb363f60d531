//! Metrics of the calls to the Lightning node, through the `metrics` facade
//! (the broker installs the Prometheus recorder). Labels are a small fixed
//! set: the LND method and the outcome — never a payment hash or amount.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `shardgate_lnd_calls_total` | counter | op (e.g. `LookupInvoice`), outcome |
//! | `shardgate_lnd_call_duration_seconds` | histogram | op, outcome |
//!
//! `outcome` is `ok` or the error kind: `unavailable`, `timeout`,
//! `rejected`, `not_found`, `misconfigured`, `invalid_argument`,
//! `unauthenticated`, `failed_precondition`.

use std::time::Duration;

use crate::error::{PaymentError, PaymentErrorKind};

/// Counter: finished calls to the node.
pub const CALLS_TOTAL: &str = "shardgate_lnd_calls_total";
/// Histogram: call latency in seconds.
pub const CALL_DURATION_SECONDS: &str = "shardgate_lnd_call_duration_seconds";

/// The `outcome` label of a finished call.
pub fn outcome_label<T>(result: &Result<T, PaymentError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => match e.kind() {
            PaymentErrorKind::InvalidArgument => "invalid_argument",
            PaymentErrorKind::Unauthenticated => "unauthenticated",
            PaymentErrorKind::FailedPrecondition => "failed_precondition",
            PaymentErrorKind::Unavailable => "unavailable",
            PaymentErrorKind::Timeout => "timeout",
            PaymentErrorKind::Rejected => "rejected",
            PaymentErrorKind::NotFound => "not_found",
            PaymentErrorKind::Misconfigured => "misconfigured",
        },
    }
}

/// Records one finished call.
pub(crate) fn record<T>(op: &'static str, result: &Result<T, PaymentError>, took: Duration) {
    let outcome = outcome_label(result);
    ::metrics::counter!(CALLS_TOTAL, "op" => op, "outcome" => outcome).increment(1);
    ::metrics::histogram!(CALL_DURATION_SECONDS, "op" => op, "outcome" => outcome)
        .record(took.as_secs_f64());
}
