#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod check;
mod error;
pub mod l402;
pub mod lnd;
pub mod lnurl;
pub mod pricing;
pub mod split;

pub use check::{PaymentGrant, check_payment};
pub use error::{LnurlFailure, PaymentError, PaymentErrorKind};
pub use l402::{
    AccessRequest, L402Challenge, L402Credential, L402Keys, PaidRange, PaymentHash, PaymentProof,
    Preimage, TokenClaims, TokenId, VerifiedCredential, VerifiedCredit, is_credit_credential,
    parse_authorization, parse_www_authenticate, www_authenticate,
};
pub use lnd::{
    DecodedInvoice, InvoiceState, InvoiceStatus, LightningNode, LndConfig, NewInvoice, PayoutUpdate,
};
pub use lnurl::{LightningAddress, LnurlClientConfig, LnurlPayClient, PayParams, verify_invoice};
pub use pricing::{MIB, Price, PricingLimits};
pub use split::{Account, AccountKind, Direction, Posting, Split, SplitConfig};
