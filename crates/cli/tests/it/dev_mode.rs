//! `shardgate dev`: the complete round trip a newcomer runs first.
#![cfg(feature = "dev")]

use crate::common;

use std::process::Command;

use common::{bin, ok};

/// Small sample (several 4 MiB chunks would be slow in debug builds, but
/// 9 MiB still gives three chunks with a short last one).
const SAMPLE: &str = "9MiB";

#[test]
fn dev_round_trips_over_three_providers_and_shows_where_shards_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    let own = dir.path().join("notes.txt");
    std::fs::write(&own, b"my own file, round-tripped by dev mode\n").expect("write");
    let out = ok(Command::new(bin())
        .args(["dev", "--sample-size", SAMPLE, "--dir"])
        .arg(dir.path().join("dev"))
        .arg("--file")
        .arg(&own)
        .output()
        .expect("run dev"));

    for provider in ["cloud-a", "cloud-b", "cloud-c"] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(provider))
            .unwrap_or_else(|| panic!("no row for {provider}:\n{out}"));
        // 3 chunks + the edited last chunk, one shard of each (the table
        // is printed before --file is uploaded).
        let objects: u64 = row
            .split_whitespace()
            .nth(1)
            .expect("count")
            .parse()
            .expect("number");
        assert_eq!(objects, 4, "{row}");
    }
    assert!(out.contains("round trip verified"), "{out}");
    assert!(
        out.contains("bytes       identical (9437184 bytes)"),
        "{out}"
    );
    assert!(
        out.contains("same file again   3 of 3 chunks already stored, 0 new shard objects"),
        "{out}"
    );
    assert!(
        out.contains("last byte edited  2 of 3 chunks already stored, 3 new shard objects"),
        "{out}"
    );
    // The sample's chunks (the paid step lists its own blob's after).
    let chunk_rows: Vec<&str> = out
        .lines()
        .take_while(|l| !l.contains("a paid download"))
        .filter(|l| l.trim_start().starts_with("chunk "))
        .collect();
    assert_eq!(chunk_rows.len(), 3, "{out}");
    assert!(
        chunk_rows
            .iter()
            .all(|l| l.contains("(3 distinct providers)")),
        "{out}"
    );
    // The paid round trip: challenged, paid from the wallet node, served,
    // and the payment split in the ledger.
    assert!(out.contains("unpaid get  UNAUTHENTICATED: "), "{out}");
    assert!(out.contains("www-authenticate: L402 macaroon=\""), "{out}");
    assert!(
        out.contains("invoice for 22,000 msat (22 sat)"),
        "2 sat + 2 MiB × 10 sat: {out}"
    );
    assert!(out.contains("invoice     OPEN"), "{out}");
    assert!(out.contains("invoice     SETTLED"), "{out}");
    // The wallet paid exactly the invoice (the sim routes with no fee).
    let balances: Vec<f64> = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("wallet balance "))
        .unwrap_or_else(|| panic!("no wallet balance line: {out}"))
        .split('→')
        .map(|s| {
            s.trim()
                .trim_end_matches(" sat")
                .replace(',', "")
                .parse()
                .expect("sat figure")
        })
        .collect();
    assert!((balances[0] - balances[1] - 22.0).abs() < 1e-9, "{out}");
    assert!(out.contains("bytes identical, BLAKE3 verified"), "{out}");
    assert!(out.contains("again       refused:"), "{out}");
    let split: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("ledger      entry"))
        .skip(1)
        .take_while(|l| l.starts_with("                "))
        .map(str::trim)
        .collect();
    assert!(
        split.iter().any(|l| l.starts_with("debit   lightning")),
        "{out}"
    );
    for account in ["credit  owner", "credit  provider", "credit  broker"] {
        assert!(
            split.iter().any(|l| l.starts_with(account)),
            "{account}: {out}"
        );
    }
    // The shards really are on disk under the three provider directories.
    for provider in ["cloud-a", "cloud-b", "cloud-c"] {
        assert!(
            dir.path()
                .join("dev/providers")
                .join(provider)
                .join("shards")
                .is_dir()
        );
    }
    // The user's own file came back.
    let back = dir.path().join("dev/work/notes.txt.download");
    assert_eq!(
        std::fs::read(back).expect("download"),
        std::fs::read(&own).expect("own")
    );

    // A second run on the same directory reuses index and keys.
    let again = ok(Command::new(bin())
        .args(["dev", "--sample-size", "300KiB", "--dir"])
        .arg(dir.path().join("dev"))
        .output()
        .expect("run dev again"));
    assert!(again.contains("round trip verified"), "{again}");
}
