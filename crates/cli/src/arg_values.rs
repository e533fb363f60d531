//! Values of flags that are more than a number or a name: byte ranges,
//! ledger accounts and times. Pure parsing, shared by `args.rs` (clap value
//! parsers) and the command handlers.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::bail;
use shardgate_proto::v1 as pb;

use crate::human::parse_size;

/// `START-END` (inclusive), `START-` (to the end) or `START+LEN`; numbers
/// may carry size units (`4MiB+1MiB`).
pub(crate) fn parse_range(text: &str) -> anyhow::Result<pb::ByteRange> {
    let size = |s: &str| parse_size(s).map_err(|e| anyhow::anyhow!("bad --range {text:?}: {e}"));
    if let Some((start, len)) = text.split_once('+') {
        let (offset, length) = (size(start)?, size(len)?);
        if length == 0 {
            bail!("bad --range {text:?}: the length must be at least 1");
        }
        return Ok(pb::ByteRange {
            offset,
            length: Some(length),
        });
    }
    let Some((start, end)) = text.split_once('-') else {
        bail!("bad --range {text:?}: use START-END, START- or START+LEN");
    };
    let offset = size(start)?;
    if end.trim().is_empty() {
        return Ok(pb::ByteRange {
            offset,
            length: None,
        });
    }
    let end = size(end)?;
    if end < offset {
        bail!("bad --range {text:?}: the end is before the start");
    }
    Ok(pb::ByteRange {
        offset,
        length: Some(end - offset + 1),
    })
}

/// `--kind`: owner, provider, broker, lightning.
pub(crate) fn parse_kind(text: &str) -> Result<i32, String> {
    let kind = match text.to_ascii_lowercase().as_str() {
        "owner" => pb::AccountKind::Owner,
        "provider" => pb::AccountKind::Provider,
        "broker" => pb::AccountKind::Broker,
        "lightning" => pb::AccountKind::Lightning,
        "payouts" => pb::AccountKind::Payouts,
        "credit" => pb::AccountKind::Credit,
        "credit-held" => pb::AccountKind::CreditHeld,
        other => {
            return Err(format!(
                "unknown account kind {other:?} (owner, provider, broker, lightning, payouts, credit, credit-held)"
            ));
        }
    };
    Ok(kind as i32)
}

/// `--account KIND[:ID]`: `owner:<tenant id>`, `provider:<name>`,
/// `broker`, `lightning`.
pub(crate) fn parse_account(text: &str) -> Result<pb::Account, String> {
    let (kind, id) = text.split_once(':').unwrap_or((text, ""));
    let kind = parse_kind(kind)?;
    let needs_id = kind == pb::AccountKind::Owner as i32
        || kind == pb::AccountKind::Provider as i32
        || kind == pb::AccountKind::Credit as i32;
    if needs_id == id.is_empty() {
        return Err(if needs_id {
            "owner, provider and credit accounts need an id: owner:<tenant id>, provider:<name>, credit:<payment hash>".into()
        } else {
            "broker, lightning, payouts and credit-held accounts have no id".into()
        });
    }
    Ok(pb::Account {
        kind,
        id: id.to_owned(),
    })
}

/// `--since`/`--until`: RFC 3339 (`2026-11-21T10:00:00Z`) or a date
/// (`2026-11-21`, midnight UTC).
pub(crate) fn parse_time(text: &str) -> Result<prost_types::Timestamp, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&full)
        .map_err(|e| format!("{text:?} is not a time like 2026-11-21T10:00:00Z: {e}"))?;
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Ok(prost_types::Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).map_err(|_| "time out of range")?,
        nanos: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_in_three_forms() {
        let r = parse_range("10-19").expect("inclusive");
        assert_eq!((r.offset, r.length), (10, Some(10)));
        let r = parse_range("1MiB+4KiB").expect("plus");
        assert_eq!((r.offset, r.length), (1 << 20, Some(4096)));
        let r = parse_range("7-").expect("open");
        assert_eq!((r.offset, r.length), (7, None));
        for bad in ["9-3", "5+0", "abc", "1-x", ""] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_and_times_parse() {
        let a = parse_account("provider:cloud-a").expect("provider");
        assert_eq!(
            (a.kind, a.id.as_str()),
            (pb::AccountKind::Provider as i32, "cloud-a")
        );
        assert_eq!(
            parse_account("broker").expect("broker").kind,
            pb::AccountKind::Broker as i32
        );
        assert!(parse_account("owner").is_err());
        assert!(parse_account("broker:x").is_err());
        assert!(parse_account("bank:1").is_err());
        assert_eq!(parse_time("1970-01-02").expect("date").seconds, 86_400);
        assert_eq!(
            parse_time("2026-11-20T23:36:07Z").expect("time").seconds,
            1_795_217_767
        );
        assert!(parse_time("yesterday").is_err());
    }
}
