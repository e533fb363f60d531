//! Sizes, rates and times for people, and size arguments from people.

use std::time::{Duration, UNIX_EPOCH};

use indicatif::BinaryBytes;

/// `20.00 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    BinaryBytes(bytes).to_string()
}

/// `20.00 MiB (20971520 bytes)`: human and exact, for reports.
pub(crate) fn size_exact(bytes: u64) -> String {
    format!("{} ({bytes} bytes)", size(bytes))
}

/// Bytes per second over `elapsed`, e.g. `143.20 MiB/s`.
pub(crate) fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "n/a".to_owned();
    }
    // Truncating to whole bytes per second loses nothing a person reads.
    format!("{}/s", size((bytes as f64 / secs) as u64))
}

/// `0.42 s`.
pub(crate) fn seconds(elapsed: Duration) -> String {
    format!("{:.2} s", elapsed.as_secs_f64())
}

/// `0.3 ms`, `1532.0 ms`: short waits (an LND call) for people.
pub(crate) fn millis(elapsed: Duration) -> String {
    format!("{:.1} ms", elapsed.as_secs_f64() * 1000.0)
}

/// `text` cut to `head` characters, an ellipsis and the last 4 (ASCII
/// only; anything else is returned whole).
pub(crate) fn shorten(text: &str, head: usize) -> String {
    if text.len() <= head + 8 || !text.is_ascii() {
        return text.to_owned();
    }
    format!("{}…{}", &text[..head], &text[text.len() - 4..])
}

/// Parses `1048576`, `512KiB`, `4MiB`, `1GiB`, `10GB`, `1.5MB`, `4M`
/// (single letters are binary units). Case-insensitive.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let factor: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} (use KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(factor)
            .ok_or_else(|| format!("size {text:?} is too large"));
    }
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4MiB or 1048576)"))?;
    let bytes = n * factor as f64;
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// An amount for people: `25,000 msat (25 sat)`, `1,500 msat (1.5 sat)`.
pub(crate) fn msat(msat: u64) -> String {
    format!("{} msat ({} sat)", grouped(msat), sat(msat))
}

/// Satoshis of `msat`, exact: `25`, `1.5`, `0.001`.
pub(crate) fn sat(msat: u64) -> String {
    let (whole, frac) = (msat / 1000, msat % 1000);
    if frac == 0 {
        grouped(whole)
    } else {
        let frac = format!("{frac:03}");
        format!("{}.{}", grouped(whole), frac.trim_end_matches('0'))
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A protobuf timestamp as `2026-11-20T23:41:07Z` (UTC).
pub(crate) fn timestamp(ts: Option<&prost_types::Timestamp>) -> String {
    let Some(ts) = ts else {
        return "-".to_owned();
    };
    // humantime prints years 1970..=9999 only; a broker never sends others,
    // but the CLI must not panic on what it is sent.
    match u64::try_from(ts.seconds) {
        Ok(secs) if secs <= LAST_PRINTABLE_SECOND => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        _ => format!("{}s since 1970", ts.seconds),
    }
}

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can print.
const LAST_PRINTABLE_SECOND: u64 = 253_402_300_799;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4m"), Ok(4 << 20));
        assert_eq!(parse_size("256 KiB"), Ok(256 << 10));
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("abc").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn long_text_is_shortened_for_messages() {
        assert_eq!(shorten("short", 16), "short");
        let long = "lnbcrt250u1".to_owned() + &"q".repeat(100) + "wxyz";
        assert_eq!(shorten(&long, 11), "lnbcrt250u1…wxyz");
    }

    #[test]
    fn amounts_show_msat_and_exact_sat() {
        assert_eq!(msat(25_000), "25,000 msat (25 sat)");
        assert_eq!(msat(1_500), "1,500 msat (1.5 sat)");
        assert_eq!(msat(1), "1 msat (0.001 sat)");
        assert_eq!(msat(0), "0 msat (0 sat)");
        assert_eq!(msat(1_234_567_890), "1,234,567,890 msat (1,234,567.89 sat)");
        assert_eq!(sat(u64::MAX), "18,446,744,073,709,551.615");
    }

    #[test]
    fn timestamps_render_as_utc_dates() {
        let ts = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
        assert_eq!(timestamp(Some(&ts(0))), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(Some(&ts(951_782_400))), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(Some(&ts(1_795_217_767))), "2026-11-20T23:36:07Z");
        assert_eq!(timestamp(None), "-");
        assert_eq!(timestamp(Some(&ts(-1))), "-1s since 1970");
        assert_eq!(
            timestamp(Some(&ts(i64::MAX))),
            format!("{}s since 1970", i64::MAX)
        );
    }
}
