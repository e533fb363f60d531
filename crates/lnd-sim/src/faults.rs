//! Per-node fault injection: what a test can make a node do wrong.

use std::time::Duration;

use crate::proto::lnrpc::PaymentFailureReason;

/// Why an outgoing payment of a faulty node fails. Each maps to the LND
/// `PaymentFailureReason` a client sees on the FAILED payment update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentFailure {
    /// `FAILURE_REASON_TIMEOUT`
    Timeout,
    /// `FAILURE_REASON_NO_ROUTE`
    NoRoute,
    /// `FAILURE_REASON_ERROR`
    Error,
    /// `FAILURE_REASON_INCORRECT_PAYMENT_DETAILS`
    IncorrectPaymentDetails,
    /// `FAILURE_REASON_INSUFFICIENT_BALANCE`
    InsufficientBalance,
}

impl PaymentFailure {
    pub(crate) fn reason(self) -> PaymentFailureReason {
        match self {
            PaymentFailure::Timeout => PaymentFailureReason::FailureReasonTimeout,
            PaymentFailure::NoRoute => PaymentFailureReason::FailureReasonNoRoute,
            PaymentFailure::Error => PaymentFailureReason::FailureReasonError,
            PaymentFailure::IncorrectPaymentDetails => {
                PaymentFailureReason::FailureReasonIncorrectPaymentDetails
            }
            PaymentFailure::InsufficientBalance => {
                PaymentFailureReason::FailureReasonInsufficientBalance
            }
        }
    }
}

/// Faults that leave the node serving. (Taking a node down entirely is
/// `SimNode::set_down`, because it closes the listening socket.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Added before every RPC answers (and before a stream's first message).
    pub latency: Duration,
    /// Every outgoing payment fails with this reason, without moving funds.
    pub payment_failure: Option<PaymentFailure>,
}
