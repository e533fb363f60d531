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

/// Why paying out to a Lightning Address (LUD-16 over LNURL-pay, LUD-06)
/// failed; each maps to one [`PaymentErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LnurlFailure {
    /// The address is not a valid Lightning Address: the account holder
    /// must correct it (InvalidArgument).
    InvalidAddress,
    /// The amount is outside what the wallet service accepts (its
    /// `minSendable..=maxSendable`): pay out a different amount
    /// (InvalidArgument).
    AmountOutOfRange,
    /// The wallet service could not be reached, timed out or answered with
    /// an HTTP error: retry later (Unavailable).
    Unreachable,
    /// The wallet service answered `{"status":"ERROR"}`: it refuses this
    /// address or amount; its reason is in the detail (Rejected).
    Refused,
    /// The wallet service answered something that is not a valid
    /// LNURL-pay answer (wrong tag, bad JSON, too large, insecure callback):
    /// the address is unusable until its provider fixes it (Rejected).
    BadResponse,
    /// The invoice handed out does not match what was asked (amount,
    /// description hash): never pay it (Rejected).
    InvoiceMismatch,
}

impl LnurlFailure {
    /// What the caller can do about it.
    pub fn kind(self) -> PaymentErrorKind {
        match self {
            LnurlFailure::InvalidAddress | LnurlFailure::AmountOutOfRange => {
                PaymentErrorKind::InvalidArgument
            }
            LnurlFailure::Unreachable => PaymentErrorKind::Unavailable,
            LnurlFailure::Refused | LnurlFailure::BadResponse | LnurlFailure::InvoiceMismatch => {
                PaymentErrorKind::Rejected
            }
        }
    }
}

/// Every failure of pricing, credentials, the split and the LND client.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    // ---- pricing and split -------------------------------------------
    /// A price component is outside the broker's bounds.
    #[error("price {field} = {value} msat is out of bounds (allowed {min}..={max})")]
    PriceOutOfBounds {
        /// Which component: `flat_msat` or `per_mib_msat`.
        field: &'static str,
        /// The value given, msat.
        value: u64,
        /// Lowest allowed value, msat.
        min: u64,
        /// Highest allowed value, msat.
        max: u64,
    },
    /// A price component arrived negative (signed config or column).
    #[error("price {field} = {value} msat is negative")]
    NegativePrice {
        /// Which component: `flat_msat` or `per_mib_msat`.
        field: &'static str,
        /// The value given, msat.
        value: i64,
    },
    /// `uses` is outside `1..=max`.
    #[error("uses = {uses} is out of bounds (allowed 1..={max})")]
    UsesOutOfBounds {
        /// The number of downloads asked for.
        uses: u32,
        /// The configured maximum per invoice.
        max: u32,
    },
    /// An amount would not fit in a u64 msat.
    #[error("amount overflows u64 msat while computing {what}")]
    AmountOverflow {
        /// The quantity being computed (e.g. the price of a range).
        what: &'static str,
    },
    /// The pricing or split configuration itself is invalid.
    #[error("invalid payments configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, for the operator.
        reason: String,
    },
    /// Other malformed input (ranges, ids, memo lengths).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong, for the caller.
        reason: String,
    },

    // ---- L402 credentials (all Unauthenticated) ------------------------
    /// The `authorization` value is not `L402 <token>:<preimage>`.
    #[error("malformed L402 authorization: {reason}")]
    MalformedAuthorization {
        /// Which part of the header is wrong.
        reason: &'static str,
    },
    /// The `authorization` value is longer than any credential we mint.
    #[error("L402 authorization is {len} bytes, longer than the {max}-byte limit")]
    AuthorizationTooLong {
        /// Length of the value received, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// The preimage is not 64 hex characters.
    #[error("malformed L402 preimage: {reason}")]
    MalformedPreimage {
        /// What is wrong with it (length, non-hex character).
        reason: &'static str,
    },
    /// The token does not decode as one of our macaroons.
    #[error("malformed L402 token: {reason}")]
    MalformedToken {
        /// Which part does not decode.
        reason: &'static str,
    },
    /// The HMAC chain does not verify: the token was not minted by this
    /// broker's key, or its identifier or a caveat was altered.
    #[error("L402 token signature does not verify")]
    InvalidSignature,
    /// A caveat this broker does not understand (fail closed).
    #[error("L402 token carries an unknown caveat {key:?}")]
    UnknownCaveat {
        /// The caveat's key as found in the token.
        key: String,
    },
    /// A caveat whose value does not parse.
    #[error("L402 token caveat {key:?} has a malformed value")]
    MalformedCaveat {
        /// The caveat's key.
        key: String,
    },
    /// A caveat appended after an earlier one of the same kind tries to
    /// grant more than the earlier one did.
    #[error("L402 token caveat {key:?} tries to widen an earlier caveat")]
    WideningCaveat {
        /// The caveat's key.
        key: &'static str,
    },
    /// A caveat the broker always mints is missing.
    #[error("L402 token lacks the required {key:?} caveat")]
    MissingCaveat {
        /// The missing caveat's key.
        key: &'static str,
    },
    /// The credential's validity ended.
    #[error("L402 credential expired at unix time {expired_at_unix}")]
    CredentialExpired {
        /// When it expired, unix seconds.
        expired_at_unix: u64,
    },
    /// The credential is for another blob.
    #[error("L402 credential is for another blob")]
    WrongBlob,
    /// The credential was bought through a share link (at its price,
    /// within its download limit) and works only there.
    #[error("L402 credential was bought through a share link and works only through that link")]
    WrongShare,
    /// The requested range is not inside the paid range.
    #[error(
        "requested bytes {requested_offset}+{requested_length} are outside the paid range {paid_offset}+{paid_length}"
    )]
    RangeNotCovered {
        /// First byte requested (plaintext offset).
        requested_offset: u64,
        /// Number of bytes requested.
        requested_length: u64,
        /// First byte the credential paid for.
        paid_offset: u64,
        /// Number of bytes the credential paid for.
        paid_length: u64,
    },
    /// `sha256(preimage)` is not the token's payment hash.
    #[error("L402 preimage does not match the credential's payment hash")]
    PreimageMismatch,

    // ---- payment state (check.rs) ------------------------------------
    /// The invoice is still OPEN.
    #[error("invoice {payment_hash} is not paid yet; pay it and retry")]
    InvoiceNotPaid {
        /// The invoice's payment hash, hex.
        payment_hash: String,
    },
    /// The invoice was paid less than the price.
    #[error("invoice paid {paid_msat} msat, less than the price of {price_msat} msat")]
    Underpaid {
        /// What the invoice received, msat.
        paid_msat: u64,
        /// What the credential costs, msat.
        price_msat: u64,
    },
    /// The invoice was canceled (by the broker, or by the node because it
    /// expired unpaid): create a new one.
    #[error("invoice was {}; create a new invoice", if *.expired { "not paid before it expired" } else { "canceled" })]
    InvoiceCanceled {
        /// True when the node canceled it because it expired unpaid.
        expired: bool,
    },
    /// A settled invoice needs the preimage (the empty-preimage form is for
    /// ACCEPTED hold invoices only).
    #[error("this invoice is settled: send the preimage with the token")]
    PreimageRequired,

    // ---- Lightning node ------------------------------------------------
    /// The node could not be reached or the connection broke.
    #[error("Lightning node unavailable during {op}: {detail}")]
    LndUnavailable {
        /// The node call that failed (e.g. `lookup_invoice`).
        op: &'static str,
        /// The transport's or node's message.
        detail: String,
    },
    /// The node did not answer within the per-call timeout.
    #[error("Lightning node did not answer {op} within {after:?}")]
    LndTimeout {
        /// The node call that timed out.
        op: &'static str,
        /// The per-call timeout that elapsed.
        after: Duration,
    },
    /// The node refused our macaroon (or TLS identity).
    #[error("Lightning node refused our credentials during {op}: {detail}")]
    LndAuth {
        /// The node call that was refused.
        op: &'static str,
        /// The node's message.
        detail: String,
    },
    /// The node refused the operation in the invoice's current state.
    #[error("Lightning node rejected {op}: {detail}")]
    LndRejected {
        /// The node call that was rejected.
        op: &'static str,
        /// The node's message.
        detail: String,
    },
    /// The node does not know this invoice.
    #[error("Lightning node has no invoice {payment_hash}")]
    InvoiceNotFound {
        /// The payment hash asked for, hex.
        payment_hash: String,
    },
    /// The node answered something we cannot use (wrong hash length,
    /// unknown state): treated as unavailable, never as paid.
    #[error("Lightning node answered {op} with an unusable response: {detail}")]
    LndProtocol {
        /// The node call whose answer was unusable.
        op: &'static str,
        /// What was wrong with the answer.
        detail: String,
    },
    /// Connection settings (endpoint, certificate, macaroon) are unusable.
    #[error("Lightning node connection settings are invalid: {reason}")]
    LndConfig {
        /// What is wrong, for the operator.
        reason: String,
    },
    // ---- Lightning Address / LNURL-pay (payouts) -------------------------
    /// Paying out to a Lightning Address failed before any money moved: the
    /// address, its wallet service or the invoice it handed out is not
    /// usable. `failure` says whose move it is.
    #[error("Lightning Address {address}: {detail}")]
    Lnurl {
        /// The address (`user@domain`) as given, or as parsed.
        address: String,
        /// What kind of failure, for the caller's decision.
        failure: LnurlFailure,
        /// What happened and what to do about it, for a person.
        detail: String,
    },

    /// An outgoing payment failed (payer wallet).
    #[error("payment failed: {reason}")]
    PaymentFailed {
        /// The node's failure reason (e.g. no route, insufficient balance).
        reason: String,
    },
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
            | E::WrongShare
            | E::RangeNotCovered { .. }
            | E::PreimageMismatch
            | E::Underpaid { .. }
            | E::InvoiceCanceled { .. }
            | E::PreimageRequired => PaymentErrorKind::Unauthenticated,
            E::InvoiceNotPaid { .. } => PaymentErrorKind::FailedPrecondition,
            E::LndUnavailable { .. } | E::LndProtocol { .. } => PaymentErrorKind::Unavailable,
            E::LndTimeout { .. } => PaymentErrorKind::Timeout,
            E::LndRejected { .. } | E::PaymentFailed { .. } => PaymentErrorKind::Rejected,
            E::Lnurl { failure, .. } => failure.kind(),
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
