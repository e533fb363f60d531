//! Minting and verifying L402 tokens with the broker's root key.
//!
//! The root key is `HKDF-SHA256(ikm = master key, info = "shardgate/v1/l402")`,
//! so it is never stored: every broker replica with the same master key
//! verifies every replica's tokens. A token is the base64 (standard
//! alphabet, padded) of a v2 macaroon with location `shardgate`, the L402
//! identifier, and the four caveats of [`super::caveats`].
//!
//! Verification order: structure → signature (before any caveat is
//! believed) → caveats (unknown/malformed/widening) → expiry → blob →
//! range → preimage. Each failure is its own [`PaymentError`] variant, all
//! of kind `Unauthenticated`. Whether the invoice is paid, and how many
//! uses are left, is the broker's next step (LND and the index).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use sha2::Sha256;
use shardgate_core::{ContentId, MasterKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::caveats::{self, Conditions, PaidRange};
use super::header::L402Credential;
use super::identifier::{Identifier, TokenId};
use super::macaroon::Macaroon;
use super::{PaymentHash, Preimage};
use crate::error::PaymentError;

/// HKDF info for the L402 root key (domain separation from other keys).
pub const ROOT_KEY_INFO: &[u8] = b"shardgate/v1/l402";
/// HKDF info prefix for hold-invoice preimages (followed by the token id).
pub const HOLD_PREIMAGE_INFO: &[u8] = b"shardgate/v1/l402/hold-preimage";
/// Location field of our macaroons (not signed; informational).
pub const LOCATION: &[u8] = b"shardgate";

/// The broker's L402 root key. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct L402Keys {
    root_key: [u8; 32],
}

impl std::fmt::Debug for L402Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("L402Keys([REDACTED])")
    }
}

/// What a token grants, as minted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    /// The invoice that pays for the token.
    pub payment_hash: PaymentHash,
    /// The blob the token unlocks.
    pub blob: ContentId,
    /// The exact range the amount was computed on.
    pub range: PaidRange,
    /// Unix seconds; refused at or after.
    pub expires_at_unix: u64,
    /// Downloads bought, ≥ 1.
    pub uses: u32,
    /// The share link it is bought through, if any (then it works only
    /// there).
    pub share: Option<[u8; 16]>,
}

/// The request a credential is presented for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    /// The blob being downloaded.
    pub blob: ContentId,
    /// The served range (already shortened to the blob's end).
    pub range: PaidRange,
    /// Current time, unix seconds (passed in so tests control it).
    pub now_unix: u64,
    /// The share link the request comes through, if any.
    pub share: Option<[u8; 16]>,
}

/// How the credential proved payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentProof {
    /// `sha256(preimage) == payment_hash`: the invoice must be SETTLED.
    Preimage,
    /// Empty preimage: only a hold invoice in state ACCEPTED may be served
    /// (storage.proto); any other state must be refused by the caller.
    AwaitingHoldSettlement,
}

/// A credential whose signature, caveats and preimage checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The invoice whose state the caller must check.
    pub payment_hash: PaymentHash,
    /// The token's id (hold preimages are derived from it).
    pub token_id: TokenId,
    /// The blob the token unlocks.
    pub blob: ContentId,
    /// The narrowest range the caveats allow.
    pub paid_range: PaidRange,
    /// The earliest `expires_at` caveat, unix seconds; refused at or after.
    pub expires_at_unix: u64,
    /// Uses the token allows (the narrowest `uses` caveat); the index
    /// counts how many are spent.
    pub max_uses: u32,
    /// Whether payment was proven by a preimage or awaits hold settlement.
    pub proof: PaymentProof,
}

impl L402Keys {
    /// Derives the root key from the broker's master key.
    pub fn from_master(master: &MasterKey) -> L402Keys {
        let mut root_key = [0u8; 32];
        Hkdf::<Sha256>::new(None, master.expose_bytes())
            .expand(ROOT_KEY_INFO, &mut root_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        L402Keys { root_key }
    }

    /// The root key, for the other token kinds of this module.
    pub(super) fn root_key(&self) -> &[u8; 32] {
        &self.root_key
    }

    /// Uses `root_key` as is (tests and golden vectors).
    pub fn from_root_key(root_key: [u8; 32]) -> L402Keys {
        L402Keys { root_key }
    }

    /// The preimage of the hold invoice sold with token `token_id`:
    /// `HKDF-SHA256(ikm = root key, info = "shardgate/v1/l402/hold-preimage" ‖ token id)`.
    ///
    /// Deriving it means the broker stores no preimage: whichever replica
    /// serves the download recomputes it from the verified token id to
    /// settle the invoice, even after a restart. It stays secret because
    /// it is a PRF output under the root key; the token id is public.
    pub fn hold_preimage(&self, token_id: &TokenId) -> Preimage {
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(None, &self.root_key)
            .expand_multi_info(&[HOLD_PREIMAGE_INFO, &token_id.0], &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Preimage(out)
    }

    /// Mints a token with a fresh random token id; returns its base64.
    pub fn mint(&self, claims: &TokenClaims) -> Result<String, PaymentError> {
        self.mint_with_id(claims, TokenId::random())
    }

    /// Mints with a given token id (deterministic, for golden tests).
    pub fn mint_with_id(
        &self,
        claims: &TokenClaims,
        token_id: TokenId,
    ) -> Result<String, PaymentError> {
        if claims.uses == 0 {
            return Err(PaymentError::invalid("a token must allow at least 1 use"));
        }
        if claims.range.end().is_none() {
            return Err(PaymentError::invalid("token range end overflows u64"));
        }
        let identifier = Identifier {
            payment_hash: claims.payment_hash,
            token_id,
        };
        let mut macaroon = Macaroon::mint(&self.root_key, LOCATION, identifier.encode());
        let conditions = Conditions {
            blob: claims.blob,
            range: claims.range,
            expires_at_unix: claims.expires_at_unix,
            uses: claims.uses,
            share: claims.share,
        };
        for caveat in caveats::encode(&conditions) {
            macaroon.add_caveat(caveat);
        }
        Ok(STANDARD.encode(macaroon.encode()))
    }

    /// Verifies a parsed credential for `request`.
    pub fn verify(
        &self,
        credential: &L402Credential,
        request: &AccessRequest,
    ) -> Result<VerifiedCredential, PaymentError> {
        let macaroon = &credential.macaroon;
        let identifier = Identifier::decode(&macaroon.identifier)?;
        macaroon.verify(&self.root_key)?;
        let c = caveats::decode(&macaroon.caveats)?;
        if request.now_unix >= c.expires_at_unix {
            return Err(PaymentError::CredentialExpired {
                expired_at_unix: c.expires_at_unix,
            });
        }
        if request.blob != c.blob {
            return Err(PaymentError::WrongBlob);
        }
        if c.share.is_some() && c.share != request.share {
            return Err(PaymentError::WrongShare);
        }
        if !c.range.contains(&request.range) {
            return Err(PaymentError::RangeNotCovered {
                requested_offset: request.range.offset,
                requested_length: request.range.length,
                paid_offset: c.range.offset,
                paid_length: c.range.length,
            });
        }
        let proof = match &credential.preimage {
            Some(preimage) => {
                check_preimage(preimage, &identifier.payment_hash)?;
                PaymentProof::Preimage
            }
            None => PaymentProof::AwaitingHoldSettlement,
        };
        Ok(VerifiedCredential {
            payment_hash: identifier.payment_hash,
            token_id: identifier.token_id,
            blob: c.blob,
            paid_range: c.range,
            expires_at_unix: c.expires_at_unix,
            max_uses: c.uses,
            proof,
        })
    }
}

fn check_preimage(preimage: &Preimage, expected: &PaymentHash) -> Result<(), PaymentError> {
    // The hash is public (it is in the token and the invoice), so a plain
    // comparison leaks nothing worth a constant-time compare.
    if preimage.payment_hash() == *expected {
        Ok(())
    } else {
        Err(PaymentError::PreimageMismatch)
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
