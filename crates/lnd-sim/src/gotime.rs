//! Formats unix seconds the way Go's `time.Time.String()` prints a UTC time,
//! because LND's error messages embed such values (e.g. "invoice expired.
//! Valid until 2024-06-08 13:45:16 +0000 UTC") and clients match on them.

/// `2006-01-02 15:04:05 +0000 UTC` for the given unix second.
pub fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
