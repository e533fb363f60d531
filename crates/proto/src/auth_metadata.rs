//! The gRPC metadata names of the API's credentials, challenges and retry
//! hints, as
//! `common.proto` and `storage.proto` define them. Broker, CLI and tests
//! use these constants, never the literals, so a rename happens here once.
//!
//! gRPC metadata keys are lowercase ASCII; each value below is a valid
//! `tonic::metadata::AsciiMetadataKey`.

/// `x-api-key: <tenant API key>`: identifies a tenant.
pub const API_KEY: &str = "x-api-key";

/// `x-admin-key: <admin key>`: authorizes the Providers and Admin services
/// and the operator's view of Payments.
pub const ADMIN_KEY: &str = "x-admin-key";

/// `authorization: L402 <macaroon>:<preimage>`: proves payment for a
/// download.
pub const AUTHORIZATION: &str = "authorization";

/// `www-authenticate: L402 macaroon="…", invoice="…"`: the payment
/// challenge on an UNAUTHENTICATED status of a paid download.
pub const WWW_AUTHENTICATE: &str = "www-authenticate";

/// `retry-after-ms: <milliseconds>`: on a RESOURCE_EXHAUSTED status from
/// an abuse limit (rates, invoice budgets, concurrent transfers), how long
/// to wait before retrying; the message names the limit.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_valid_metadata_key() {
        for name in [
            API_KEY,
            ADMIN_KEY,
            AUTHORIZATION,
            WWW_AUTHENTICATE,
            RETRY_AFTER_MS,
        ] {
            let key = tonic::metadata::AsciiMetadataKey::from_static(name);
            assert_eq!(key.as_str(), name);
        }
    }
}
