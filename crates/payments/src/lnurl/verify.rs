//! [`verify_invoice`]: the wallet-side checks LUD-06 requires before an
//! invoice handed out by a wallet service is paid.

use super::params::PayParams;
use crate::error::{LnurlFailure, PaymentError};
use crate::lnd::DecodedInvoice;

/// Checks what the node decoded from the callback's invoice against what
/// was asked: the amount must be exactly `amount_msat`, and the
/// description hash must be SHA-256 of the parameters' metadata (so the
/// invoice is bound to this address's service). A mismatch means the
/// service (or someone between us) handed out the wrong invoice: never pay
/// it.
pub fn verify_invoice(
    params: &PayParams,
    amount_msat: u64,
    decoded: &DecodedInvoice,
) -> Result<(), PaymentError> {
    let mismatch = |detail: String| PaymentError::Lnurl {
        address: params.address.to_string(),
        failure: LnurlFailure::InvoiceMismatch,
        detail: format!(
            "the wallet service at {} handed out an invoice that {detail}; it was not paid",
            params.address.domain()
        ),
    };
    if decoded.amount_msat != amount_msat {
        let asked = if decoded.amount_msat == 0 {
            "has no amount".to_string()
        } else {
            format!("asks {} msat", decoded.amount_msat)
        };
        return Err(mismatch(format!("{asked} instead of {amount_msat} msat")));
    }
    let expected = params.metadata_hash();
    match decoded.description_hash {
        Some(hash) if hash == expected => Ok(()),
        Some(hash) => Err(mismatch(format!(
            "commits to description hash {} instead of {} (sha256 of its metadata)",
            hex::encode(hash),
            hex::encode(expected)
        ))),
        None => Err(mismatch(
            "carries no description hash (LUD-06 requires sha256 of the metadata)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::l402::PaymentHash;
    use crate::lnurl::LightningAddress;

    fn params() -> PayParams {
        PayParams {
            address: LightningAddress::parse("dave@example.com").expect("valid"),
            callback: "https://example.com/cb".parse().expect("url"),
            min_sendable_msat: 1_000,
            max_sendable_msat: 10_000,
            metadata: r#"[["text/plain","dave"]]"#.into(),
            comment_allowed: None,
        }
    }

    fn decoded(amount_msat: u64, description_hash: Option<[u8; 32]>) -> DecodedInvoice {
        DecodedInvoice {
            payment_hash: PaymentHash([1; 32]),
            amount_msat,
            destination: "02".repeat(33),
            description: String::new(),
            description_hash,
            timestamp_unix: 1_700_000_000,
            expiry: Duration::from_secs(600),
            payment_addr: None,
        }
    }

    #[test]
    fn only_the_exact_amount_and_metadata_hash_pass() {
        let p = params();
        let good = Some(p.metadata_hash());
        verify_invoice(&p, 5_000, &decoded(5_000, good)).expect("matches");
        for wrong in [
            decoded(5_001, good),
            decoded(0, good),
            decoded(5_000, Some([9; 32])),
            decoded(5_000, None),
        ] {
            let err = verify_invoice(&p, 5_000, &wrong).expect_err("mismatch");
            assert!(matches!(
                err,
                PaymentError::Lnurl {
                    failure: LnurlFailure::InvoiceMismatch,
                    ..
                }
            ));
        }
    }
}
