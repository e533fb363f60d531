//! AWS Signature Version 4 for the few admin requests the harness sends to
//! S3 peers (bucket creation). s3s-fs checks signatures, so even the harness
//! must sign; product code signs through opendal.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";

/// What a request is signed with.
pub(crate) struct SigningKey<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// Headers to add to a request (`x-amz-date`, `x-amz-content-sha256`,
/// `authorization`). `path` must already be URI-encoded and `query` empty or
/// already canonical (sorted `k=v` pairs joined by `&`).
pub(crate) fn sign(
    key: &SigningKey<'_>,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let amz_date = amz_date(now);
    let day = &amz_date[..8];
    let payload_hash = hex::encode(Sha256::digest(body));
    // Header names sorted, lowercase: the canonical form SigV4 hashes.
    let canonical_headers =
        format!("host:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n");
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request =
        format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let scope = format!("{day}/{}/{SERVICE}/aws4_request", key.region);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut signing_key = hmac(format!("AWS4{}", key.secret_key).as_bytes(), day.as_bytes());
    for part in [key.region, SERVICE, "aws4_request"] {
        signing_key = hmac(&signing_key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&signing_key, string_to_sign.as_bytes()));
    vec![
        ("x-amz-date", amz_date.clone()),
        ("x-amz-content-sha256", payload_hash),
        (
            "authorization",
            format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                key.access_key
            ),
        ),
    ]
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` in UTC: RFC 3339 without its separators.
fn amz_date(now: SystemTime) -> String {
    let now = now.max(UNIX_EPOCH);
    humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_format_in_utc() {
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        // 2000-02-29 12:34:56 UTC: a leap day in a century leap year.
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "20000229T123456Z"
        );
        // 2026-11-20 22:38:35 UTC
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(1_795_214_315)),
            "20261120T223835Z"
        );
    }

    /// Credentials and date of the AWS SigV4 documentation's examples, with
    /// the headers this signer sends; the expected signature was computed
    /// separately with Python's hmac/hashlib. (That s3s-fs accepts the
    /// signature, and rejects a wrong secret, is checked in peers_smoke.)
    #[test]
    fn signature_matches_independent_computation() {
        let key = SigningKey {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let headers = sign(
            &key,
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            "",
            b"",
            at,
        );
        assert_eq!(headers[0], ("x-amz-date", "20130524T000000Z".to_owned()));
        assert_eq!(
            headers[1].1,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let auth = &headers[2].1;
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
        ));
        assert_eq!(auth.rsplit('=').next(), Some(EXPECTED_SIGNATURE));
    }

    const EXPECTED_SIGNATURE: &str =
        "df548e2ce037944d03f3e68682813b093763996d597cf890ca3d9037fd231eb4";
}
