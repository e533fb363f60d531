//! Formats unix seconds the way Go's `time.Time.String()` prints a UTC time,
//! because LND's error messages embed such values (e.g. "invoice expired.
//! Valid until 2024-06-08 13:45:16 +0000 UTC") and clients match on them.

use std::time::{Duration, UNIX_EPOCH};

/// `2006-01-02 15:04:05 +0000 UTC` for the given unix second (clamped to
/// year 9999, past which neither Go nor humantime print four-digit years).
pub(crate) fn format_utc(unix_secs: u64) -> String {
    let secs = unix_secs.min(253_402_300_799);
    let rfc3339 = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs));
    // "2006-01-02T15:04:05Z" -> "2006-01-02 15:04:05 +0000 UTC"
    let text = rfc3339.to_string().replace('T', " ");
    format!("{} +0000 UTC", text.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn matches_go_formatting() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(format_utc(1_717_854_316), "2024-06-08 13:45:16 +0000 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 +0000 UTC");
    }
}
