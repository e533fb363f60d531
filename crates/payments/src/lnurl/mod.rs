//! Paying out to a Lightning Address: LUD-16 addresses over LNURL-pay
//! (LUD-06).
//!
//! A payout to `alice@example.com` goes:
//!
//! 1. [`LightningAddress::parse`] — the address, and the URL of its
//!    parameters (`https://example.com/.well-known/lnurlp/alice`);
//! 2. [`LnurlPayClient::pay_params`] — what the wallet service accepts
//!    ([`PayParams`]: amount range, metadata, callback);
//! 3. [`LnurlPayClient::invoice`] — a BOLT 11 invoice for the amount from
//!    the callback;
//! 4. [`crate::LightningNode::decode_payment_request`] then
//!    [`verify_invoice`] — the invoice asks exactly that amount and commits
//!    to the metadata (description hash);
//! 5. paying it (`SendPaymentV2`) — only then does money move.
//!
//! Every failure is a [`crate::PaymentError::Lnurl`] whose
//! [`crate::LnurlFailure`] says whether to fix the address, retry later, or
//! give up on the invoice. Nothing here moves money.

mod address;
mod answer;
mod client;
mod invoice_answer;
mod params;
mod verify;

pub use address::LightningAddress;
pub use client::{LnurlClientConfig, LnurlPayClient};
pub use params::PayParams;
pub use verify::verify_invoice;
