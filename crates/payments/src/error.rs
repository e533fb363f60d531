//! [`PaymentError`]: the one error type of this crate, and [`PaymentErrorKind`],
//! what the caller should do about it.
//!
//! The broker maps [`PaymentErrorKind`] to a gRPC status in its one mapping place;
//! the variants carry enough context for a message a partner developer can
//! act on. No variant ever carries a key, a preimage or a whole credential.

use std::time::Duration;

/// What the caller can do about a [`PaymentError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentErrorKind {
    /// A request value is malformed or out of its bounds: fix the request,
    /// never retry unchanged (INVALID_ARGUMENT).
    InvalidArgument,
    /// The L402 credential is missing, malformed, forged or does not cover
    /// the request: answer with a fresh challenge (UNAUTHENTICATED).
    Unauthenticated,
    /// The credential is valid but its invoice is not paid yet (OPEN): wait
    /// for payment and retry (FAILED_PRECONDITION).
    FailedPrecondition,
    /// The Lightning node cannot be reached (or answered garbage): fail
    /// closed, serve nothing, retry with backoff (UNAVAILABLE).
    Unavailable,
    /// The Lightning node did not answer within the per-call timeout: same
    /// handling as `Unavailable`.
    Timeout,
    /// The Lightning node refused the operation in its current state (e.g.
    /// settling a canceled invoice, paying an invoice twice, no route).
    Rejected,
    /// The Lightning node has no such invoice.
    NotFound,
    /// The operator's configuration is wrong (pricing bounds, split shares,
    /// TLS certificate, macaroon): nothing a client can fix.
    Misconfigured,
}

/// Every failure of pricing, credentials, the split and the LND client.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    // ---- pricing and split -------------------------------------------
    /// A price component is outside the broker's bounds.
    #[error("price {field} = {value} msat is out of bounds (allowed {min}..={max})")]
    PriceOutOfBounds {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    /// A price component arrived negative (signed config or column).
    #[error("price {field} = {value} msat is negative")]
    NegativePrice { field: &'static str, value: i64 },
    /// `uses` is outside `1..=max`.
    #[error("uses = {uses} is out of bounds (allowed 1..={max})")]
    UsesOutOfBounds { uses: u32, max: u32 },
    /// An amount would not fit in a u64 msat.
    #[error("amount overflows u64 msat while computing {what}")]
    AmountOverflow { what: &'static str },
    /// The pricing or split configuration itself is invalid.
    #[error("invalid payments configuration: {reason}")]
    InvalidConfig { reason: String },
    /// Other malformed input (ranges, ids, memo lengths).
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },

    // ---- L402 credentials (all Unauthenticated) ------------------------
    /// The `authorization` value is not `L402 <token>:<preimage>`.
    #[error("malformed L402 authorization: {reason}")]
    MalformedAuthorization { reason: &'static str },
    /// The `authorization` value is longer than any credential we mint.
    #[error("L402 authorization is {len} bytes, longer than the {max}-byte limit")]
    AuthorizationTooLong { len: usize, max: usize },
    /// The preimage is not 64 hex characters.
    #[error("malformed L402 preimage: {reason}")]
    MalformedPreimage { reason: &'static str },
    /// The token does not decode as one of our macaroons.
    #[error("malformed L402 token: {reason}")]
    MalformedToken { reason: &'static str },
    /// The HMAC chain does not verify: the token was not minted by this
    /// broker's key, or its identifier or a caveat was altered.
    #[error("L402 token signature does not verify")]
    InvalidSignature,
    /// A caveat this broker does not understand (fail closed).
    #[error("L402 token carries an unknown caveat {key:?}")]
    UnknownCaveat { key: String },
    /// A caveat whose value does not parse.
    #[error("L402 token caveat {key:?} has a malformed value")]
    MalformedCaveat { key: String },
    /// A caveat appended after an earlier one of the same kind tries to
    /// grant more than the earlier one did.
    #[error("L402 token caveat {key:?} tries to widen an earlier caveat")]
    WideningCaveat { key: &'static str },
    /// A caveat the broker always mints is missing.
    #[error("L402 token lacks the required {key:?} caveat")]
    MissingCaveat { key: &'static str },
    /// The credential's validity ended.
    #[error("L402 credential expired at unix time {expired_at_unix}")]
    CredentialExpired { expired_at_unix: u64 },
    /// The credential is for another blob.
    #[error("L402 credential is for another blob")]
    WrongBlob,
    /// The requested range is not inside the paid range.
    #[error(
        "requested bytes {requested_offset}+{requested_length} are outside the paid range {paid_offset}+{paid_length}"
    )]
    RangeNotCovered {
        requested_offset: u64,
        requested_length: u64,
        paid_offset: u64,
        paid_length: u64,
    },
    /// `sha256(preimage)` is not the token's payment hash.
    #[error("L402 preimage does not match the credential's payment hash")]
    PreimageMismatch,

    // ---- payment state (check.rs) ------------------------------------
    /// The invoice is still OPEN.
    #[error("invoice {payment_hash} is not paid yet; pay it and retry")]
    InvoiceNotPaid { payment_hash: String },
    /// The invoice was paid less than the price.
    #[error("invoice paid {paid_msat} msat, less than the price of {price_msat} msat")]
    Underpaid { paid_msat: u64, price_msat: u64 },
    /// The invoice was canceled (by the broker, or by the node because it
    /// expired unpaid): create a new one.
    #[error("invoice was {}; create a new invoice", if *.expired { "not paid before it expired" } else { "canceled" })]
    InvoiceCanceled { expired: bool },
    /// A settled invoice needs the preimage (the empty-preimage form is for
    /// ACCEPTED hold invoices only).
    #[error("this invoice is settled: send the preimage with the token")]
    PreimageRequired,

    // ---- Lightning node ------------------------------------------------
    /// The node could not be reached or the connection broke.
    #[error("Lightning node unavailable during {op}: {detail}")]
    LndUnavailable { op: &'static str, detail: String },
    /// The node did not answer within the per-call timeout.
    #[error("Lightning node did not answer {op} within {after:?}")]
    LndTimeout { op: &'static str, after: Duration },
    /// The node refused our macaroon (or TLS identity).
    #[error("Lightning node refused our credentials during {op}: {detail}")]
    LndAuth { op: &'static str, detail: String },
    /// The node refused the operation in the invoice's current state.
    #[error("Lightning node rejected {op}: {detail}")]
    LndRejected { op: &'static str, detail: String },
    /// The node does not know this invoice.
    #[error("Lightning node has no invoice {payment_hash}")]
    InvoiceNotFound { payment_hash: String },
    /// The node answered something we cannot use (wrong hash length,
    /// unknown state): treated as unavailable, never as paid.
    #[error("Lightning node answered {op} with an unusable response: {detail}")]
    LndProtocol { op: &'static str, detail: String },
    /// Connection settings (endpoint, certificate, macaroon) are unusable.
    #[error("Lightning node connection settings are invalid: {reason}")]
    LndConfig { reason: String },
    /// An outgoing payment failed (payer wallet).
    #[error("payment failed: {reason}")]
    PaymentFailed { reason: String },
}

impl PaymentError {
    /// What the caller should do.
    pub fn kind(&self) -> PaymentErrorKind {
        use PaymentError as E;
        match self {
            E::PriceOutOfBounds { .. }
            | E::NegativePrice { .. }
            | E::UsesOutOfBounds { .. }
            | E::AmountOverflow { .. }
            | E::InvalidArgument { .. } => PaymentErrorKind::InvalidArgument,
            E::InvalidConfig { .. } | E::LndConfig { .. } | E::LndAuth { .. } => {
                PaymentErrorKind::Misconfigured
            }
            E::MalformedAuthorization { .. }
            | E::AuthorizationTooLong { .. }
            | E::MalformedPreimage { .. }
            | E::MalformedToken { .. }
            | E::InvalidSignature
            | E::UnknownCaveat { .. }
            | E::MalformedCaveat { .. }
            | E::WideningCaveat { .. }
            | E::MissingCaveat { .. }
            | E::CredentialExpired { .. }
            | E::WrongBlob
            | E::RangeNotCovered { .. }
            | E::PreimageMismatch
            | E::Underpaid { .. }
            | E::InvoiceCanceled { .. }
            | E::PreimageRequired => PaymentErrorKind::Unauthenticated,
            E::InvoiceNotPaid { .. } => PaymentErrorKind::FailedPrecondition,
            E::LndUnavailable { .. } | E::LndProtocol { .. } => PaymentErrorKind::Unavailable,
            E::LndTimeout { .. } => PaymentErrorKind::Timeout,
            E::LndRejected { .. } | E::PaymentFailed { .. } => PaymentErrorKind::Rejected,
            E::InvoiceNotFound { .. } => PaymentErrorKind::NotFound,
        }
    }

    /// True when retrying the same call later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind(),
            PaymentErrorKind::Unavailable | PaymentErrorKind::Timeout
        )
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        PaymentError::InvalidArgument {
            reason: reason.into(),
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        PaymentError::InvalidConfig {
            reason: reason.into(),
        }
    }
}
