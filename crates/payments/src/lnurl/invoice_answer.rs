//! Reading the callback's answer: `{"pr": "<bolt11>", "routes": []}`
//! (LUD-06), or the service's refusal.

use serde::Deserialize;

use super::address::LightningAddress;
use super::answer;
use crate::error::{LnurlFailure, PaymentError};

/// The fields we use; `routes` (always empty in LUD-06) and LUD-09's
/// `successAction` are ignored.
#[derive(Deserialize)]
struct InvoiceJson {
    pr: String,
}

/// The BOLT 11 string of a callback answer. Only its shape is checked
/// here; what it says is checked after the node decoded it
/// ([`super::verify_invoice`]).
pub(crate) fn parse(address: &LightningAddress, body: &[u8]) -> Result<String, PaymentError> {
    let bad = |detail: &str| PaymentError::Lnurl {
        address: address.to_string(),
        failure: LnurlFailure::BadResponse,
        detail: format!(
            "the wallet service at {} answered the invoice request without a usable invoice \
             ({detail}); the address cannot receive payouts until its provider fixes this",
            address.domain()
        ),
    };
    let value = answer::read(address, body)?;
    let json: InvoiceJson = serde_json::from_value(value).map_err(|_| bad("no \"pr\" string"))?;
    let pr = json.pr.trim();
    // Every BOLT 11 human-readable part starts with "ln"; anything else
    // (an LNURL, an on-chain address) is not an invoice.
    if !pr.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("ln")) {
        return Err(bad("\"pr\" is not a BOLT 11 invoice"));
    }
    Ok(pr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pr_or_refuses() {
        let address = LightningAddress::parse("carol@example.com").expect("valid");
        assert_eq!(
            parse(&address, br#"{"pr":"lnbcrt10n1xyz","routes":[]}"#).expect("invoice"),
            "lnbcrt10n1xyz"
        );
        for body in [
            &br#"{"routes":[]}"#[..],
            br#"{"pr":"bc1qxyz"}"#,
            br#"{"pr":7}"#,
        ] {
            let err = parse(&address, body).expect_err("no invoice");
            assert!(matches!(
                err,
                PaymentError::Lnurl {
                    failure: LnurlFailure::BadResponse,
                    ..
                }
            ));
        }
        let err = parse(&address, br#"{"status":"ERROR","reason":"amount too low"}"#)
            .expect_err("refusal");
        assert!(err.to_string().contains("amount too low"), "{err}");
    }
}
