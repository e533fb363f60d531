//! Every error a gRPC caller can receive, worded and coded as LND words and
//! codes them. This is the one place that builds a `tonic::Status`.
//!
//! LND returns most errors as plain Go errors, which grpc-go sends with code
//! UNKNOWN and the error text as message; only a few paths pick a code
//! (NOT_FOUND for unknown invoices, ALREADY_EXISTS for repeated payments).

use tonic::{Code, Status};

use crate::gotime;

/// An LND-shaped RPC failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LndStatus {
    /// Missing or repeated `macaroon` metadata.
    #[error("expected 1 macaroon, got {0}")]
    MacaroonCount(usize),
    /// The `macaroon` value is not hex (Go's `encoding/hex` wording).
    #[error("{0}")]
    MacaroonNotHex(String),
    /// A well-formed value that is not this node's macaroon.
    #[error("verification failed: signature mismatch after caveat verification")]
    MacaroonMismatch,
    #[error("payment hash must be exactly 32 bytes, is instead {0}")]
    HashLength(usize),
    #[error("payment preimage must be exactly 32 bytes, is instead {0}")]
    PreimageLength(usize),
    #[error("there are no existing invoices")]
    NoInvoicesCreated,
    #[error("unable to locate invoice")]
    InvoiceNotFound,
    #[error("invoice with payment hash already exists")]
    DuplicateInvoice,
    #[error("invoice still open")]
    InvoiceStillOpen,
    #[error("invoice already settled")]
    InvoiceAlreadySettled,
    #[error("invoice already canceled")]
    InvoiceAlreadyCanceled,
    #[error("value and value_msat are mutually exclusive")]
    ValueMutuallyExclusive,
    #[error("amt and amt_msat are mutually exclusive")]
    AmtMutuallyExclusive,
    /// LND's `lnrpc.ErrSatMsatMutualExclusive` (e.g. `fee_limit_sat` and
    /// `fee_limit_msat` both set).
    #[error("sat and msat arguments are mutually exclusive")]
    SatMsatMutuallyExclusive,
    #[error("amount must be non-negative")]
    NegativeAmount,
    #[error("expiry must be non-negative")]
    NegativeExpiry,
    #[error("payment of {0} msat is too large, max payment allowed is {max} msat", max = crate::issuer::MAX_AMOUNT_MSAT)]
    AmountTooLarge(u64),
    #[error("description hash is {0} bytes, must be 32")]
    DescriptionHashLength(usize),
    #[error("memo too large: {0} bytes (maxsize=1024)")]
    MemoTooLarge(usize),
    /// LND passes the invoice decoder's error text through unchanged.
    #[error("{0}")]
    BadPaymentRequest(String),
    #[error("invoice expired. Valid until {}", gotime::format_utc(*.0))]
    InvoiceExpired(u64),
    #[error("amount must be specified when paying a zero amount invoice")]
    AmountRequired,
    #[error("amount must not be specified when paying a non-zero amount invoice")]
    AmountNotAllowed,
    #[error("no self-payments allowed for payment hash {0}")]
    SelfPayment(String),
    #[error("payment request or dest, amt and payment_hash must be set")]
    MissingPaymentTarget,
    #[error("invoice is already paid")]
    AlreadyPaid,
    #[error("payment is in transition")]
    PaymentInFlight,
    #[error("payment isn't initiated")]
    PaymentNotInitiated,
    #[error("lookup by payment_addr/set_id is not supported by this node")]
    UnsupportedLookup,
    #[error("server is shutting down")]
    ShuttingDown,
}

impl LndStatus {
    fn code(&self) -> Code {
        match self {
            LndStatus::InvoiceNotFound | LndStatus::NoInvoicesCreated => Code::NotFound,
            LndStatus::AlreadyPaid | LndStatus::PaymentInFlight => Code::AlreadyExists,
            LndStatus::PaymentNotInitiated => Code::NotFound,
            LndStatus::UnsupportedLookup => Code::Unimplemented,
            LndStatus::ShuttingDown => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl From<LndStatus> for Status {
    fn from(err: LndStatus) -> Self {
        Status::new(err.code(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_match_lnd() {
        let status = Status::from(LndStatus::MacaroonCount(0));
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.message(), "expected 1 macaroon, got 0");

        let status = Status::from(LndStatus::InvoiceExpired(1_717_854_316));
        assert_eq!(
            status.message(),
            "invoice expired. Valid until 2024-06-08 13:45:16 +0000 UTC"
        );
        assert_eq!(
            Status::from(LndStatus::AlreadyPaid).code(),
            Code::AlreadyExists
        );
        assert_eq!(
            Status::from(LndStatus::InvoiceNotFound).code(),
            Code::NotFound
        );
    }
}
