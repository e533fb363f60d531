//! The L402 challenge as it arrives on a refused call: UNAUTHENTICATED
//! plus `www-authenticate: L402 macaroon="…", invoice="…"` (storage.proto,
//! "Paying for a download"), read before anything is decoded. Kept apart
//! from `challenge.rs` (which decodes and checks it) so that the error
//! type can carry a challenge without depending on the decoder.

use shardgate_payments::parse_www_authenticate;
use shardgate_proto::auth_metadata::WWW_AUTHENTICATE;
use tonic::{Code, Status};

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
