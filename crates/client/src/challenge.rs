//! The L402 challenge a broker answers an unpaid download with:
//! UNAUTHENTICATED plus `www-authenticate: L402 macaroon="…", invoice="…"`
//! (storage.proto, "Paying for a download").

use shardgate_payments::{Preimage, parse_authorization};

use crate::error::{ClientError, Result};
use crate::invoice::Invoice;
pub(crate) use crate::raw_challenge::RawChallenge;

/// A decoded challenge: what to pay and the token the payment unlocks.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// Base64 macaroon, sent back with the preimage.
    pub token: String,
    /// The invoice to pay, decoded and checked against the token.
    pub invoice: Invoice,
}

impl RawChallenge {
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
