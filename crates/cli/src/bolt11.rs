//! What a BOLT 11 invoice asks for, read before paying it.
//!
//! The amount is taken from the invoice itself, not from the broker's word:
//! it is exactly what the wallet will send, so the `--max-price-msat` cap
//! is checked against the real figure. Decoding uses the workspace's BOLT 11
//! decoder (in `shardgate-lnd-sim`, checked against the specification's test
//! vector); it reads invoices of every network and verifies the signature.

use anyhow::{Context, bail};
use shardgate_lnd_sim::PaymentRequest;
use shardgate_payments::PaymentHash;

use crate::human;

/// The fields of an invoice the CLI shows and checks.
#[derive(Clone, Debug)]
pub struct Bolt11 {
    /// The payment request as given (what is paid).
    pub text: String,
    pub amount_msat: u64,
    pub payment_hash: PaymentHash,
    /// Unix second after which it can no longer be paid.
    pub expires_at_unix: u64,
}

impl Bolt11 {
    /// Decodes `text`; an invoice without an amount is refused (the CLI
    /// never chooses an amount for the payee).
    pub fn decode(text: &str) -> anyhow::Result<Bolt11> {
        let text = text.trim();
        let request = PaymentRequest::decode(text)
            .map_err(|e| anyhow::anyhow!("not a valid BOLT 11 invoice: {e}"))?;
        let Some(amount_msat) = request.amount_msat else {
            bail!("the invoice names no amount; refusing to pay an amount it does not state");
        };
        Ok(Bolt11 {
            text: text.to_owned(),
            amount_msat,
            payment_hash: PaymentHash(request.payment_hash),
            expires_at_unix: request.expires_at(),
        })
    }

    /// Short form for messages: `lnbcrt250u1pj…x7k2` (first 16, last 4).
    pub fn short(&self) -> String {
        human::shorten(&self.text, 16)
    }
}

/// Lowercase 64-hex payment hash from user input.
pub fn parse_hash(text: &str) -> anyhow::Result<PaymentHash> {
    PaymentHash::from_hex(&text.trim().to_ascii_lowercase())
        .ok()
        .context("a payment hash is 64 hex characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_amountless_text_is_refused() {
        let err = Bolt11::decode("lnbcrt10n1xyz").expect_err("not bech32");
        assert!(
            err.to_string().contains("not a valid BOLT 11 invoice"),
            "{err}"
        );
        assert!(parse_hash("abc").is_err());
        assert!(parse_hash(&"ab".repeat(32)).is_ok());
    }
}
