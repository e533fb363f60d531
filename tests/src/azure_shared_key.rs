//! Azure Storage shared-key signatures for the one admin request the
//! harness sends to azurite (container creation). azurite checks
//! signatures, so even the harness must sign; product code signs through
//! opendal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::PeerError;

/// The REST API version the harness's requests ask for. azurite is started
/// with `--skipApiVersionCheck`, so any version opendal sends works too.
const API_VERSION: &str = "2021-08-06";

/// What a request is signed with.
pub(crate) struct SharedKey<'a> {
    pub account: &'a str,
    /// The account key, base64 as published.
    pub key: &'a str,
}

/// Headers to add to a body-less request (`x-ms-date`, `x-ms-version`,
/// `authorization`). `path` is the URL path as sent (for azurite it starts
/// with `/<account>`), `query` the `(name, value)` pairs of its query,
/// neither percent-encoded (the harness only sends plain names).
pub(crate) fn sign(
    key: &SharedKey<'_>,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    now: SystemTime,
) -> Result<Vec<(&'static str, String)>, PeerError> {
    let date = http_date(now);
    let string_to_sign = string_to_sign(key.account, method, path, query, &date);
    let secret = BASE64.decode(key.key).map_err(|err| PeerError::Protocol {
        peer: key.account.to_owned(),
        reason: format!("account key is not base64: {err}"),
    })?;
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&secret).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    Ok(vec![
        ("x-ms-date", date),
        ("x-ms-version", API_VERSION.to_owned()),
        (
            "authorization",
            format!("SharedKey {}:{signature}", key.account),
        ),
    ])
}

/// The shared-key string to sign (Blob service, versions since 2015-02-21):
/// the verb, eleven standard headers (all empty for a body-less request
/// without conditions, Content-Length included), the `x-ms-` headers sorted,
/// then `/<account><path>` and the query as sorted `\nname:value` lines.
fn string_to_sign(
    account: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    date: &str,
) -> String {
    let mut query: Vec<_> = query
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), *value))
        .collect();
    query.sort();
    let mut resource = format!("/{account}{path}");
    for (name, value) in query {
        resource.push_str(&format!("\n{name}:{value}"));
    }
    format!(
        "{method}\n{}x-ms-date:{date}\nx-ms-version:{API_VERSION}\n{resource}",
        "\n".repeat(11)
    )
}

/// RFC 1123 in GMT, e.g. `Sat, 05 Dec 2026 07:03:20 GMT` (what `x-ms-date` takes).
fn http_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[(since_epoch.as_secs() / 86_400 % 7) as usize];
    // `YYYY-MM-DDTHH:MM:SSZ`: reuse humantime's calendar arithmetic.
    let rfc3339 = humantime::format_rfc3339_seconds(UNIX_EPOCH + since_epoch).to_string();
    let month: usize = rfc3339[5..7].parse().expect("two-digit month");
    format!(
        "{weekday}, {} {} {} {} GMT",
        &rfc3339[8..10],
        MONTHS[month - 1],
        &rfc3339[..4],
        &rfc3339[11..19]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_rfc_1123() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        // 2000-02-29 12:34:56 UTC: a leap day in a century leap year.
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "Tue, 29 Feb 2000 12:34:56 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(1_795_214_315)),
            "Fri, 20 Nov 2026 22:38:35 GMT"
        );
    }

    #[test]
    fn the_string_to_sign_has_the_documented_layout() {
        let s = string_to_sign(
            "acct",
            "PUT",
            "/acct/box",
            &[("restype", "container")],
            "Fri, 20 Nov 2026 22:38:35 GMT",
        );
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 20 Nov 2026 22:38:35 GMT\n\
             x-ms-version:2021-08-06\n/acct/acct/box\nrestype:container"
        );
    }

    /// The expected signature was computed separately with Python's
    /// hmac/hashlib/base64 over the string above. (That azurite accepts it,
    /// and rejects a wrong key, is checked in peers_smoke.)
    #[test]
    fn signature_matches_independent_computation() {
        let key = SharedKey {
            account: "devstoreaccount1",
            key: crate::peers::AZURITE_ACCOUNT_KEY,
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_795_214_315);
        let headers = sign(
            &key,
            "PUT",
            "/devstoreaccount1/box",
            &[("restype", "container")],
            at,
        )
        .expect("valid key");
        assert_eq!(
            headers[2].1,
            format!("SharedKey devstoreaccount1:{EXPECTED_SIGNATURE}")
        );
    }

    const EXPECTED_SIGNATURE: &str = "jzdosp+6odFHE9xqiTIKTTX/kSDVAzjI1WDinyojpNc=";

    #[test]
    fn a_key_that_is_not_base64_is_an_error() {
        let key = SharedKey {
            account: "a",
            key: "not base64!",
        };
        assert!(sign(&key, "PUT", "/a/b", &[], UNIX_EPOCH).is_err());
    }
}
