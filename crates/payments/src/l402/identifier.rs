//! The L402 macaroon identifier (bLIP-26, version 0): it binds the token to
//! one invoice's payment hash and gives it a unique id.
//!
//! ```text
//! offset  len  field
//!      0    2  version, u16 big-endian = 0
//!      2   32  payment hash (SHA-256 of the preimage)
//!     34   32  token id (random)
//! ```
//!
//! The identifier is the first message of the signature chain, so none of
//! it can be changed without the root key.

use std::fmt;

use super::PaymentHash;
use crate::error::PaymentError;

/// The only identifier version we mint and accept.
pub const IDENTIFIER_VERSION: u16 = 0;
/// Encoded identifier length: 2 + 32 + 32.
pub const IDENTIFIER_LEN: usize = 66;

/// A token's random id: tells two tokens for one invoice apart and keys
/// nothing secret (it is readable by anyone holding the token).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; 32]);

impl TokenId {
    /// A fresh id from the thread-local CSPRNG, one per minted token.
    pub fn random() -> TokenId {
        TokenId(rand::random())
    }

    /// Lowercase hex of the 32 bytes (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", &self.to_hex()[..16])
    }
}

/// A decoded identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identifier {
    /// The invoice this token is the credential for.
    pub payment_hash: PaymentHash,
    /// The token's own random id.
    pub token_id: TokenId,
}

impl Identifier {
    /// The [`IDENTIFIER_LEN`]-byte form: version (big-endian u16), payment
    /// hash, token id.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IDENTIFIER_LEN);
        out.extend_from_slice(&IDENTIFIER_VERSION.to_be_bytes());
        out.extend_from_slice(&self.payment_hash.0);
        out.extend_from_slice(&self.token_id.0);
        out
    }

    /// Parses [`Identifier::encode`]'s output. `MalformedToken` for a wrong
    /// length or an unknown version.
    pub fn decode(bytes: &[u8]) -> Result<Identifier, PaymentError> {
        if bytes.len() != IDENTIFIER_LEN {
            return Err(PaymentError::MalformedToken {
                reason: "identifier is not 66 bytes",
            });
        }
        let (version, rest) = bytes.split_at(2);
        if version != IDENTIFIER_VERSION.to_be_bytes() {
            return Err(PaymentError::MalformedToken {
                reason: "unsupported identifier version",
            });
        }
        let (hash, id) = rest.split_at(32);
        let mut payment_hash = [0u8; 32];
        payment_hash.copy_from_slice(hash);
        let mut token_id = [0u8; 32];
        token_id.copy_from_slice(id);
        Ok(Identifier {
            payment_hash: PaymentHash(payment_hash),
            token_id: TokenId(token_id),
        })
    }
}
