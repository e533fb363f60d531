//! Prepaid credit records: an invoice that buys a credit balance bound to
//! an L402 credential rather than to a blob. The balance itself lives in
//! the ledger (account `Credit`, id = the payment hash), so a download's
//! debit and its authorization are one ledger transaction, and the index's
//! never-below-zero rule is what stops concurrent downloads overspending.

use crate::payments::PaymentHash;

/// One credit invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditRecord {
    /// The invoice's payment hash; also the credit account's id.
    pub payment_hash: PaymentHash,
    /// The L402 token id of the credential sold with it.
    pub token_id: [u8; 32],
    /// What the invoice asks and the credit holds once paid, msat.
    pub amount_msat: u64,
    /// The BOLT 11 invoice.
    pub payment_request: String,
    /// When it was issued, unix milliseconds.
    pub created_at_unix_ms: u64,
    /// Payable until, unix milliseconds.
    pub expires_at_unix_ms: u64,
    /// The credential works until, unix milliseconds.
    pub credential_expires_at_unix_ms: u64,
    /// Set once the broker saw the invoice settled and booked the purchase
    /// (Lightning → credit). Maintained by `fund_credit`; false on insert.
    pub funded_at_unix_ms: Option<u64>,
}
