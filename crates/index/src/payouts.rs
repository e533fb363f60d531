//! Payout records: money leaving the broker's Lightning node for an
//! account holder's invoice. The record is the idempotency key (the
//! invoice's payment hash: one invoice is paid at most once) and the
//! reconciliation work list after a restart (every `InFlight` record is
//! asked of LND with TrackPaymentV2).
//!
//! Money moves only through ledger entries written in the same
//! transaction as the record's state change (see `Index::start_payout`,
//! `Index::finish_payout`).

use crate::payments::{LedgerAccount, PaymentHash};

/// Longest failure reason kept, bytes.
pub const MAX_PAYOUT_REASON_LEN: usize = 512;

/// One payout to a BOLT 11 invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRecord {
    /// The invoice's payment hash: the payout's key.
    pub payment_hash: PaymentHash,
    /// The account paid out of (owner, provider or broker).
    pub account: LedgerAccount,
    /// What the payee receives, msat.
    pub amount_msat: u64,
    /// Most routing fee the payout may cost, msat; taken from the account
    /// with the amount, the unused part goes back when the payment succeeds.
    pub fee_reserve_msat: u64,
    /// The BOLT 11 invoice paid.
    pub payment_request: String,
    /// 1 for the first try; a failed payout may be tried again with the same
    /// invoice, which makes a new attempt (and new ledger entry ids).
    pub attempt: u32,
    /// Why this payout was made: a withdrawal, or an automatic payout to a
    /// Lightning Address.
    pub origin: PayoutOrigin,
    /// When this attempt started, unix milliseconds.
    pub started_at_unix_ms: u64,
    /// When it became final, unix milliseconds.
    pub finished_at_unix_ms: Option<u64>,
    /// Where it is.
    pub state: PayoutState,
}

/// Who asked for a payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayoutOrigin {
    /// `Payments.Withdraw`, to an invoice the account holder brought.
    Withdrawal,
    /// The schedule, to an invoice fetched from the account's Lightning Address.
    LightningAddress,
}

/// The life of a payout attempt: InFlight → Succeeded | Failed, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutState {
    /// Money taken from the account; LND may be paying.
    InFlight,
    /// Paid: the payee has the amount, `fee_msat` went to routing nodes.
    Succeeded {
        /// The routing fee LND reported, at most the reserve.
        fee_msat: u64,
        /// Proof of payment.
        preimage: [u8; 32],
    },
    /// Not paid: everything went back to the account.
    Failed {
        /// LND's failure reason or the broker's, for the account holder.
        reason: String,
    },
}

impl PayoutState {
    /// Succeeded or Failed.
    pub fn is_final(&self) -> bool {
        !matches!(self, PayoutState::InFlight)
    }
}

/// What `start_payout` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutStart {
    /// The attempt is recorded and the money taken: pay it now.
    Started(PayoutRecord),
    /// This invoice already has a payout in flight or paid: nothing was
    /// written; the record as it is now.
    Existing(PayoutRecord),
}

/// Longest Lightning Address kept, bytes.
pub const MAX_LIGHTNING_ADDRESS_LEN: usize = 320;

/// An account's standing order: pay its balance to a Lightning Address
/// (LUD-16) whenever it reaches `threshold_msat`. The schedule's state —
/// failures in a row and when to try next — lives here too, so a restart
/// or another replica keeps the backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutAddressRecord {
    /// The account paid out of (owner, provider or broker).
    pub account: LedgerAccount,
    /// `user@domain`.
    pub address: String,
    /// Pay out once the balance is at least this, msat.
    pub threshold_msat: u64,
    /// Failed attempts since the last success (0 after one).
    pub failures: u32,
    /// Not before this, unix milliseconds (backoff after failures).
    pub next_attempt_at_unix_ms: u64,
    /// What went wrong last, for the account holder.
    pub last_error: Option<String>,
    /// When the holder last set it, unix milliseconds.
    pub updated_at_unix_ms: u64,
}
