//! Decoding a BOLT 11 payment request with the node (`DecodePayReq`), so
//! that an invoice someone else handed us (a payout's Lightning Address
//! service) is read by the same code that will pay it.

use std::time::Duration;

use lnd_grpc_rust::lnrpc;

use super::LightningNode;
use crate::error::PaymentError;
use crate::l402::{PaymentHash, strict_hex32};

const OP: &str = "DecodePayReq";

/// What an invoice says, as the node decoded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedInvoice {
    /// The hash the payment locks to.
    pub payment_hash: PaymentHash,
    /// The amount asked for, msat; 0 for an "any amount" invoice.
    pub amount_msat: u64,
    /// The payee's identity key, hex (33 bytes compressed).
    pub destination: String,
    /// The `d` field: a short description, often empty when a description
    /// hash is given instead.
    pub description: String,
    /// The `h` field: SHA-256 of a longer description (LNURL-pay's
    /// metadata), if the invoice commits to one.
    pub description_hash: Option<[u8; 32]>,
    /// When the invoice was created, unix seconds.
    pub timestamp_unix: u64,
    /// How long after `timestamp_unix` it can be paid.
    pub expiry: Duration,
    /// The payment secret (`s` field), if any.
    pub payment_addr: Option<[u8; 32]>,
}

impl DecodedInvoice {
    /// The last unix second the invoice can be paid.
    pub fn expires_at_unix(&self) -> u64 {
        self.timestamp_unix.saturating_add(self.expiry.as_secs())
    }
}

impl LightningNode {
    /// Decodes `payment_request` with the node. A string that is not a
    /// valid invoice for the node's network is refused by LND and comes
    /// back as [`PaymentError::LndRejected`].
    pub async fn decode_payment_request(
        &self,
        payment_request: &str,
    ) -> Result<DecodedInvoice, PaymentError> {
        let mut client = self.client.clone();
        let decoded = self
            .call(
                OP,
                client.lightning().decode_pay_req(lnrpc::PayReqString {
                    pay_req: payment_request.to_string(),
                }),
            )
            .await?;
        decoded_from(decoded)
    }
}

/// Checks LND's answer field by field: anything malformed is the node's
/// fault, never a reason to pay.
fn decoded_from(req: lnrpc::PayReq) -> Result<DecodedInvoice, PaymentError> {
    let unusable = |detail: &str| PaymentError::LndProtocol {
        op: OP,
        detail: detail.to_string(),
    };
    let payment_hash = strict_hex32(&req.payment_hash)
        .map(PaymentHash)
        .map_err(|_| unusable("payment_hash is not 64 hex characters"))?;
    let amount_msat = u64::try_from(req.num_msat).map_err(|_| unusable("num_msat is negative"))?;
    let description_hash = match req.description_hash.as_str() {
        "" => None,
        hex => Some(
            strict_hex32(hex).map_err(|_| unusable("description_hash is not 64 hex characters"))?,
        ),
    };
    let timestamp_unix =
        u64::try_from(req.timestamp).map_err(|_| unusable("timestamp is negative"))?;
    let expiry = u64::try_from(req.expiry).map_err(|_| unusable("expiry is negative"))?;
    let payment_addr = match req.payment_addr.len() {
        0 => None,
        _ => Some(
            <[u8; 32]>::try_from(req.payment_addr.as_slice())
                .map_err(|_| unusable("payment_addr is not 32 bytes"))?,
        ),
    };
    Ok(DecodedInvoice {
        payment_hash,
        amount_msat,
        destination: req.destination,
        description: req.description,
        description_hash,
        timestamp_unix,
        expiry: Duration::from_secs(expiry),
        payment_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> lnrpc::PayReq {
        lnrpc::PayReq {
            destination: "02".repeat(33),
            payment_hash: "ab".repeat(32),
            num_satoshis: 2,
            timestamp: 1_700_000_000,
            expiry: 3600,
            description_hash: "cd".repeat(32),
            num_msat: 2_500,
            payment_addr: vec![7; 32],
            ..Default::default()
        }
    }

    #[test]
    fn reads_every_field() {
        let decoded = decoded_from(answer()).expect("valid");
        assert_eq!(decoded.payment_hash, PaymentHash([0xab; 32]));
        assert_eq!(decoded.amount_msat, 2_500, "msat, not the rounded sat");
        assert_eq!(decoded.description_hash, Some([0xcd; 32]));
        assert_eq!(decoded.expires_at_unix(), 1_700_003_600);
        assert_eq!(decoded.payment_addr, Some([7; 32]));
    }

    #[test]
    fn malformed_answers_are_protocol_errors() {
        let cases = [
            lnrpc::PayReq {
                payment_hash: "ab".into(),
                ..answer()
            },
            lnrpc::PayReq {
                num_msat: -1,
                ..answer()
            },
            lnrpc::PayReq {
                description_hash: "zz".repeat(32),
                ..answer()
            },
            lnrpc::PayReq {
                payment_addr: vec![1; 5],
                ..answer()
            },
        ];
        for case in cases {
            let err = decoded_from(case).expect_err("refused");
            assert!(matches!(err, PaymentError::LndProtocol { .. }), "{err}");
        }
    }
}
