//! L402 credentials: macaroons that bind a Lightning payment hash, with
//! first-party caveats for blob, byte range, expiry and uses.
//!
//! * [`macaroon`]: the libmacaroons v2 binary format and the HMAC-SHA256
//!   signature chain.
//! * [`identifier`]: the L402 identifier (version, payment hash, token id).
//! * [`caveats`]: our caveats and the rule that later caveats may only
//!   narrow earlier ones.
//! * [`token`]: minting and verifying with the broker's root key.
//! * [`credit`]: prepaid credit tokens (a balance, not a blob).
//! * [`header`]: the `authorization` and `www-authenticate` values.
//!
//! The byte layout is documented in the crate README.

pub mod caveats;
pub mod credit;
pub mod header;
pub mod identifier;
pub mod macaroon;
pub mod token;

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use caveats::PaidRange;
pub use credit::{VerifiedCredit, is_credit_credential};
pub use header::{
    L402Challenge, L402Credential, authorization, parse_authorization, parse_www_authenticate,
    www_authenticate,
};
pub use identifier::TokenId;
pub use token::{AccessRequest, L402Keys, PaymentProof, TokenClaims, VerifiedCredential};

use crate::error::PaymentError;

/// SHA-256 of a payment preimage: names an invoice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentHash(pub [u8; 32]);

impl PaymentHash {
    /// From raw bytes of any length (e.g. LND's `r_hash`): exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<PaymentHash> {
        bytes.try_into().ok().map(PaymentHash)
    }

    /// Lowercase hex, as the API shows it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex characters (the API's id convention).
    pub fn from_hex(text: &str) -> Result<PaymentHash, PaymentError> {
        let bytes = strict_hex32(text)
            .map_err(|reason| PaymentError::invalid(format!("payment hash: {reason}")))?;
        Ok(PaymentHash(bytes))
    }
}

impl fmt::Display for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentHash({})", &self.to_hex()[..16])
    }
}

/// A payment preimage: the secret whose SHA-256 is the payment hash. It is
/// the proof of payment, so it is zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Preimage(pub [u8; 32]);

impl Preimage {
    /// 32 fresh random bytes (for hold invoices the broker makes its own).
    pub fn random() -> Preimage {
        Preimage(rand::random())
    }

    /// The payment hash this preimage unlocks.
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(Sha256::digest(self.0).into())
    }

    /// From raw bytes (e.g. LND's `r_preimage`): exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Preimage> {
        bytes.try_into().ok().map(Preimage)
    }

    /// Lowercase hex, as it goes into an `authorization` value.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage([REDACTED])")
    }
}

/// 64 lowercase hex characters → 32 bytes; the reason on failure is static
/// so no input is echoed.
pub(crate) fn strict_hex32(text: &str) -> Result<[u8; 32], &'static str> {
    if text.len() != 64 {
        return Err("must be 64 hex characters");
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("must be lowercase hex");
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| "must be lowercase hex")?;
    Ok(out)
}
