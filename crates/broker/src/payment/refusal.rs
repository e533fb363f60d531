//! The message of a refused credential: what is wrong, in terms a partner
//! developer can act on (contract C2). The challenge that goes with it is
//! built by the gate.

use shardgate_payments::l402::caveats;
use shardgate_payments::{AccessRequest, L402Credential, PaymentError};

/// Why `credential` does not open `access`, from the verification error.
pub(super) fn refusal_reason(
    err: &PaymentError,
    credential: &L402Credential,
    access: &AccessRequest,
) -> String {
    match err {
        PaymentError::InvalidSignature => {
            "invalid credential signature: not minted by this broker, or altered".to_owned()
        }
        PaymentError::CredentialExpired { expired_at_unix } => format!(
            "credential expired at unix time {expired_at_unix} (now {}); buy a new one",
            access.now_unix
        ),
        PaymentError::WrongBlob => {
            // The signature verified before the blob was compared, so the
            // caveats are the broker's own.
            match caveats::decode(&credential.macaroon.caveats) {
                Ok(c) => format!("credential is for blob {}, not {}", c.blob, access.blob),
                Err(_) => format!("credential is for another blob, not {}", access.blob),
            }
        }
        PaymentError::RangeNotCovered {
            requested_offset,
            requested_length,
            paid_offset,
            paid_length,
        } => format!(
            "range {requested_offset}+{requested_length} not covered by paid range {paid_offset}+{paid_length}"
        ),
        PaymentError::WrongShare => {
            "credential was bought through a share link (at its price, within its download limit) and works only through that link".to_owned()
        }
        PaymentError::PreimageMismatch => {
            "preimage does not match the payment hash of the credential".to_owned()
        }
        other => other.to_string(),
    }
}
