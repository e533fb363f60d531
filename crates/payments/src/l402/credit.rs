//! Prepaid credit credentials: an L402 token bound to a credit balance
//! instead of one blob. Its caveats are `scope=credit` (always first, so a
//! blob token can never be turned into one: blob tokens refuse the unknown
//! `scope` key) and `expires_at`; a holder may append a narrower
//! `expires_at`, nothing else. What it may spend is the balance of the
//! ledger account named by its payment hash, kept by the broker's index.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::PaymentHash;
use super::caveats::KEY_EXPIRES;
use super::header::L402Credential;
use super::identifier::{Identifier, TokenId};
use super::macaroon::Macaroon;
use super::token::{L402Keys, LOCATION};
use crate::error::PaymentError;

/// Caveat key of the token's scope.
pub const KEY_SCOPE: &str = "scope";
/// The one scope value: a credit balance.
pub const SCOPE_CREDIT: &str = "credit";

/// A credit credential whose signature, caveats and preimage checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedCredit {
    /// The credit invoice: the ledger account `credit:<hash>`.
    pub payment_hash: PaymentHash,
    /// The token's id.
    pub token_id: TokenId,
    /// The earliest `expires_at` caveat, unix seconds.
    pub expires_at_unix: u64,
}

/// True when the (unverified) credential claims credit scope: the caller
/// then verifies it with [`L402Keys::verify_credit`], otherwise as a blob
/// token. Claiming it gains nothing: the signature decides.
pub fn is_credit_credential(credential: &L402Credential) -> bool {
    let scope = format!("{KEY_SCOPE}={SCOPE_CREDIT}");
    credential
        .macaroon
        .caveats
        .first()
        .is_some_and(|c| c.as_slice() == scope.as_bytes())
}

impl L402Keys {
    /// Mints a credit token for the invoice `payment_hash`, valid until
    /// `expires_at_unix`; returns its base64 and its token id.
    pub fn mint_credit(
        &self,
        payment_hash: PaymentHash,
        expires_at_unix: u64,
    ) -> (String, TokenId) {
        let token_id = TokenId::random();
        let identifier = Identifier {
            payment_hash,
            token_id,
        };
        let mut macaroon = Macaroon::mint(self.root_key(), LOCATION, identifier.encode());
        macaroon.add_caveat(format!("{KEY_SCOPE}={SCOPE_CREDIT}").into_bytes());
        macaroon.add_caveat(format!("{KEY_EXPIRES}={expires_at_unix}").into_bytes());
        (STANDARD.encode(macaroon.encode()), token_id)
    }

    /// Verifies a credit credential at `now_unix`: signature, caveats
    /// (`scope=credit` first, then only narrowing `expires_at`), expiry and
    /// the preimage, which is required (credit is never a hold invoice).
    pub fn verify_credit(
        &self,
        credential: &L402Credential,
        now_unix: u64,
    ) -> Result<VerifiedCredit, PaymentError> {
        let macaroon = &credential.macaroon;
        let identifier = Identifier::decode(&macaroon.identifier)?;
        macaroon.verify(self.root_key())?;
        if !is_credit_credential(credential) {
            return Err(PaymentError::MissingCaveat { key: KEY_SCOPE });
        }
        let mut expires: Option<u64> = None;
        for raw in &macaroon.caveats[1..] {
            let text = std::str::from_utf8(raw).unwrap_or("");
            let (key, value) = text.split_once('=').unwrap_or((text, ""));
            if key != KEY_EXPIRES {
                return Err(PaymentError::UnknownCaveat {
                    key: key.chars().take(32).collect(),
                });
            }
            let at = (!value.is_empty()
                && value.len() <= 20
                && value.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.parse::<u64>().ok())
            .flatten()
            .ok_or(PaymentError::MalformedCaveat {
                key: KEY_EXPIRES.to_owned(),
            })?;
            expires = Some(expires.map_or(at, |old| old.min(at)));
        }
        let expires_at_unix = expires.ok_or(PaymentError::MissingCaveat { key: KEY_EXPIRES })?;
        if now_unix >= expires_at_unix {
            return Err(PaymentError::CredentialExpired {
                expired_at_unix: expires_at_unix,
            });
        }
        let preimage = credential
            .preimage
            .as_ref()
            .ok_or(PaymentError::PreimageRequired)?;
        if preimage.payment_hash() != identifier.payment_hash {
            return Err(PaymentError::PreimageMismatch);
        }
        Ok(VerifiedCredit {
            payment_hash: identifier.payment_hash,
            token_id: identifier.token_id,
            expires_at_unix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l402::{Preimage, authorization, parse_authorization};

    fn keys() -> L402Keys {
        L402Keys::from_root_key([7; 32])
    }

    #[test]
    fn a_credit_token_verifies_with_its_preimage_until_it_expires() {
        let preimage = Preimage([5; 32]);
        let (token, _) = keys().mint_credit(preimage.payment_hash(), 1_000);
        let credential = parse_authorization(&authorization(&token, Some(&preimage))).unwrap();
        assert!(is_credit_credential(&credential));
        let verified = keys().verify_credit(&credential, 999).unwrap();
        assert_eq!(verified.payment_hash, preimage.payment_hash());
        assert_eq!(verified.expires_at_unix, 1_000);
        assert!(matches!(
            keys().verify_credit(&credential, 1_000),
            Err(PaymentError::CredentialExpired { .. })
        ));
        let wrong = parse_authorization(&authorization(&token, Some(&Preimage([6; 32])))).unwrap();
        assert!(matches!(
            keys().verify_credit(&wrong, 1),
            Err(PaymentError::PreimageMismatch)
        ));
        let none = parse_authorization(&authorization(&token, None)).unwrap();
        assert!(matches!(
            keys().verify_credit(&none, 1),
            Err(PaymentError::PreimageRequired)
        ));
        assert!(matches!(
            L402Keys::from_root_key([8; 32]).verify_credit(&credential, 1),
            Err(PaymentError::InvalidSignature)
        ));
    }

    #[test]
    fn a_blob_token_is_not_credit_and_a_credit_token_opens_no_blob() {
        use crate::l402::{AccessRequest, PaidRange, TokenClaims};
        use shardgate_core::ContentId;
        let preimage = Preimage([5; 32]);
        let blob = ContentId::of(b"blob");
        let range = PaidRange {
            offset: 0,
            length: 10,
        };
        let blob_token = keys()
            .mint(&TokenClaims {
                payment_hash: preimage.payment_hash(),
                blob,
                range,
                expires_at_unix: 1_000,
                uses: 1,
                share: None,
            })
            .unwrap();
        let blob_credential =
            parse_authorization(&authorization(&blob_token, Some(&preimage))).unwrap();
        assert!(!is_credit_credential(&blob_credential));
        assert!(keys().verify_credit(&blob_credential, 1).is_err());

        let (credit_token, _) = keys().mint_credit(preimage.payment_hash(), 1_000);
        let credit_credential =
            parse_authorization(&authorization(&credit_token, Some(&preimage))).unwrap();
        let access = AccessRequest {
            blob,
            range,
            now_unix: 1,
            share: None,
        };
        assert!(matches!(
            keys().verify(&credit_credential, &access),
            Err(PaymentError::UnknownCaveat { .. })
        ));
    }
}
