//! Reading any LNURL answer body: a JSON object, unless the service said
//! `{"status":"ERROR","reason":"…"}` (LUD-06), which is its refusal.

use serde_json::Value;

use super::address::LightningAddress;
use crate::error::{LnurlFailure, PaymentError};

/// Longest refusal reason we repeat in an error (services write free text;
/// keep our messages and logs bounded).
const MAX_REASON_CHARS: usize = 200;

/// The body as a JSON object, or the service's refusal as an error.
pub(crate) fn read(address: &LightningAddress, body: &[u8]) -> Result<Value, PaymentError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PaymentError::Lnurl {
        address: address.to_string(),
        failure: LnurlFailure::BadResponse,
        detail: format!(
            "the wallet service at {} did not answer with JSON ({e}); \
             the address cannot receive payouts until its provider fixes this",
            address.domain()
        ),
    })?;
    if let Some(reason) = refusal(&value) {
        return Err(PaymentError::Lnurl {
            address: address.to_string(),
            failure: LnurlFailure::Refused,
            detail: format!(
                "the wallet service at {} refused: {reason:?}; \
                 the account holder should check the address with their wallet provider",
                address.domain()
            ),
        });
    }
    Ok(value)
}

/// The reason of an `{"status":"ERROR"}` answer, if it is one.
fn refusal(value: &Value) -> Option<String> {
    let status = value.get("status")?.as_str()?;
    if !status.eq_ignore_ascii_case("ERROR") {
        return None;
    }
    let reason = value
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    Some(reason.chars().take(MAX_REASON_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_is_a_refusal_with_its_reason() {
        let address = LightningAddress::parse("bob@example.com").expect("valid");
        let err =
            read(&address, br#"{"status":"ERROR","reason":"user unknown"}"#).expect_err("refusal");
        assert!(err.to_string().contains("user unknown"), "{err}");
        assert!(matches!(
            err,
            PaymentError::Lnurl {
                failure: LnurlFailure::Refused,
                ..
            }
        ));
        let long = format!(r#"{{"status":"ERROR","reason":"{}"}}"#, "x".repeat(5000));
        let err = read(&address, long.as_bytes()).expect_err("refusal");
        assert!(err.to_string().len() < 600, "reason is bounded");

        let ok = read(&address, br#"{"status":"OK","pr":"lnbc1"}"#).expect("not a refusal");
        assert_eq!(ok["pr"], "lnbc1");
    }
}
