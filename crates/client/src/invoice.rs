//! What a BOLT 11 invoice asks for, read before paying it.
//!
//! The amount is taken from the invoice itself, not from the broker's word:
//! it is exactly what the wallet will send, so the price cap is checked
//! against the real figure. Decoding uses LDK's parser
//! (`lightning-invoice`, maintained with rust-lightning): it reads invoices
//! of every network, verifies the signature, and refuses what BOLT 11 calls
//! invalid (no payment secret, bad features).

use lightning_invoice::Bolt11Invoice;
use shardgate_payments::PaymentHash;

use crate::error::{ClientError, Result};

/// The fields of an invoice the SDK checks before paying.
#[derive(Clone, Debug)]
pub struct Invoice {
    /// The payment request as given (what is paid).
    pub text: String,
    /// Amount asked, millisatoshi.
    pub amount_msat: u64,
    /// The hash whose preimage the payment reveals.
    pub payment_hash: PaymentHash,
    /// Unix second after which it can no longer be paid.
    pub expires_at_unix: u64,
}

impl Invoice {
    /// Decodes `text`; an invoice without an amount is refused (the SDK
    /// never chooses an amount for the payee).
    pub fn decode(text: &str) -> Result<Invoice> {
        let text = text.trim();
        let invoice: Bolt11Invoice = text
            .parse()
            .map_err(|e| ClientError::payment(format!("not a valid BOLT 11 invoice: {e}")))?;
        let Some(amount_msat) = invoice.amount_milli_satoshis() else {
            return Err(ClientError::payment(
                "the invoice names no amount; refusing to pay an amount it does not state",
            ));
        };
        let hash: &[u8] = invoice.payment_hash().as_ref();
        let payment_hash = PaymentHash::from_slice(hash)
            .ok_or_else(|| ClientError::payment("the invoice's payment hash is not 32 bytes"))?;
        // Timestamp (35 bits) plus expiry can exceed `Duration`: such an
        // invoice never expires in practice.
        let expires_at_unix = invoice.expires_at().map_or(u64::MAX, |at| at.as_secs());
        Ok(Invoice {
            text: text.to_owned(),
            amount_msat,
            payment_hash,
            expires_at_unix,
        })
    }

    /// Short form for messages: `lnbcrt250u1pj…x7k2` (first 16, last 4).
    pub fn short(&self) -> String {
        let text = &self.text;
        if text.len() <= 24 || !text.is_ascii() {
            return text.clone();
        }
        format!("{}…{}", &text[..16], &text[text.len() - 4..])
    }

    /// True once the invoice can no longer be paid.
    pub fn is_expired(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.expires_at_unix <= now
    }
}

/// A lowercase 64-hex payment hash from user input.
pub fn parse_payment_hash(text: &str) -> Result<PaymentHash> {
    PaymentHash::from_hex(&text.trim().to_ascii_lowercase())
        .map_err(|_| ClientError::invalid("a payment hash is 64 hex characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_amountless_text_is_refused() {
        let err = Invoice::decode("lnbcrt10n1xyz").expect_err("not bech32");
        assert!(
            err.to_string().contains("not a valid BOLT 11 invoice"),
            "{err}"
        );
        assert!(parse_payment_hash("abc").is_err());
        assert!(parse_payment_hash(&"ab".repeat(32)).is_ok());
    }

    /// Invoices issued by lnd-sim (the node behind dev mode and the tests)
    /// read the same with LDK's parser as with the simulator's own decoder
    /// and as the issuing node reports them: amount, hash, expiry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lnd_sim_invoices_decode_to_the_fields_the_node_issued() {
        use std::time::Duration;

        use shardgate_lnd_sim::{PaymentRequest, SimNetwork, SimNode, SimNodeConfig};
        use shardgate_payments::LightningNode;
        use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};

        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let sim = SimNode::start(&network, SimNodeConfig::new("issuer", dir.path()))
            .await
            .expect("sim node");
        let node = LightningNode::connect(&LndConfig::new(
            sim.grpc_socket(),
            TlsCertSource::File(sim.tls_cert_path().to_path_buf()),
            MacaroonSource::File(sim.macaroon_path().to_path_buf()),
        ))
        .await
        .expect("connect");

        // 1 msat, a whole sat, an amount that is no whole sat (the `p`
        // multiplier), 21 BTC; default and short expiries; both kinds.
        let cases = [
            (1, Duration::from_secs(3600), false),
            (12_000, Duration::from_secs(600), false),
            (12_345_678, Duration::from_secs(86_400), false),
            (2_100_000_000_000, Duration::from_secs(60), false),
            (7_000, Duration::from_secs(900), true),
        ];
        for (i, (amount_msat, expiry, hold)) in cases.into_iter().enumerate() {
            let issued = if hold {
                let hash = PaymentHash([i as u8 + 1; 32]);
                node.add_hold_invoice(&hash, amount_msat, "shardgate download", expiry)
                    .await
            } else {
                node.add_invoice(amount_msat, "shardgate download", expiry)
                    .await
            }
            .expect("invoice");
            let text = &issued.payment_request;

            let ours = Invoice::decode(text).expect("LDK decodes an lnd-sim invoice");
            let sim_view = PaymentRequest::decode(text).expect("sim decodes its own invoice");
            let status = node
                .lookup_invoice(&issued.payment_hash)
                .await
                .expect("lookup");

            assert_eq!(ours.text, *text);
            assert_eq!(ours.amount_msat, amount_msat, "{text}");
            assert_eq!(ours.amount_msat, sim_view.amount_msat.expect("amount"));
            assert_eq!(ours.payment_hash, issued.payment_hash);
            assert_eq!(ours.payment_hash.0, sim_view.payment_hash);
            assert_eq!(ours.expires_at_unix, sim_view.expires_at());
            assert_eq!(ours.expires_at_unix, status.expires_at_unix());
        }
        sim.shutdown().await.expect("shutdown");
    }
}
