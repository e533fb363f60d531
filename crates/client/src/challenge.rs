//! The L402 challenge a broker answers an unpaid download with:
//! UNAUTHENTICATED plus `www-authenticate: L402 macaroon="…", invoice="…"`
//! (storage.proto, "Paying for a download").

use shardgate_payments::{Preimage, parse_authorization, parse_www_authenticate};
use shardgate_proto::auth_metadata::WWW_AUTHENTICATE;
use tonic::{Code, Status};

use crate::error::{ClientError, Result};
use crate::invoice::Invoice;

/// A decoded challenge: what to pay and the token the payment unlocks.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// Base64 macaroon, sent back with the preimage.
    pub token: String,
    /// The invoice to pay, decoded and checked against the token.
    pub invoice: Invoice,
}

/// The raw parts of a challenge, before the invoice is decoded.
#[derive(Clone, Debug)]
pub(crate) struct RawChallenge {
    pub(crate) token: String,
    pub(crate) invoice: String,
}

impl RawChallenge {
    /// The challenge of an UNAUTHENTICATED status, if it carries one.
    pub(crate) fn of(status: &Status) -> Option<RawChallenge> {
        if status.code() != Code::Unauthenticated {
            return None;
        }
        let value = status.metadata().get(WWW_AUTHENTICATE)?.to_str().ok()?;
        let challenge = parse_www_authenticate(value).ok()?;
        Some(RawChallenge {
            token: challenge.token,
            invoice: challenge.invoice,
        })
    }

    /// Decodes the invoice and checks that paying it unlocks the token:
    /// the token's payment hash must be the invoice's, or the preimage the
    /// wallet returns would be worthless.
    pub(crate) fn decode(&self) -> Result<Challenge> {
        let invoice = Invoice::decode(&self.invoice)?;
        let unreadable = |e: shardgate_payments::PaymentError| {
            ClientError::payment(format!("the broker's L402 token is unreadable: {e}"))
        };
        let credential =
            parse_authorization(&authorization(&self.token, None)).map_err(unreadable)?;
        let token_hash = credential.unverified_payment_hash().map_err(unreadable)?;
        if token_hash != invoice.payment_hash {
            return Err(ClientError::payment(format!(
                "the challenge's invoice (payment hash {}) does not belong to its token (payment hash {}); not paying",
                invoice.payment_hash, token_hash
            )));
        }
        Ok(Challenge {
            token: self.token.clone(),
            invoice,
        })
    }
}

/// The `authorization` value for `token`; `None` is the empty preimage of
/// an ACCEPTED hold invoice.
pub(crate) fn authorization(token: &str, preimage: Option<&Preimage>) -> String {
    shardgate_payments::l402::authorization(token, preimage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenged(value: &str) -> Status {
        let mut status = Status::unauthenticated("payment required");
        status
            .metadata_mut()
            .insert(WWW_AUTHENTICATE, value.parse().expect("ascii"));
        status
    }

    #[test]
    fn both_parameters_are_read_in_any_order() {
        let raw = RawChallenge::of(&challenged(
            "L402 macaroon=\"AgEDbG5k\", invoice=\"lnbcrt10n1xyz\"",
        ))
        .expect("challenge");
        assert_eq!(
            (raw.token.as_str(), raw.invoice.as_str()),
            ("AgEDbG5k", "lnbcrt10n1xyz")
        );
        let raw = RawChallenge::of(&challenged("L402 invoice=\"lnbc1\",macaroon=\"QQ==\""))
            .expect("challenge");
        assert_eq!(
            (raw.token.as_str(), raw.invoice.as_str()),
            ("QQ==", "lnbc1")
        );
    }

    #[test]
    fn other_statuses_and_schemes_carry_no_challenge() {
        assert!(RawChallenge::of(&challenged("Basic realm=\"x\"")).is_none());
        assert!(RawChallenge::of(&challenged("L402 macaroon=\"QQ==\"")).is_none());
        let mut status = Status::failed_precondition("open");
        status.metadata_mut().insert(
            WWW_AUTHENTICATE,
            "L402 macaroon=\"QQ==\", invoice=\"lnbc1\""
                .parse()
                .expect("ascii"),
        );
        assert!(RawChallenge::of(&status).is_none());
    }
}
