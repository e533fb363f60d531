//! `shardgate dev`: the complete round trip a newcomer runs first.

mod common;

use std::process::Command;

use common::{BIN, ok};

/// Small sample (several 4 MiB chunks would be slow in debug builds, but
/// 9 MiB still gives three chunks with a short last one).
const SAMPLE: &str = "9MiB";

#[test]
fn dev_round_trips_over_three_providers_and_shows_where_shards_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    let own = dir.path().join("notes.txt");
    std::fs::write(&own, b"my own file, round-tripped by dev mode\n").expect("write");
    let out = ok(Command::new(BIN)
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
    let chunk_rows: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("chunk "))
        .collect();
    assert_eq!(chunk_rows.len(), 3, "{out}");
    assert!(
        chunk_rows
            .iter()
            .all(|l| l.contains("(3 distinct providers)")),
        "{out}"
    );
    // Honest about payments: no fake paid download.
    assert!(
        out.contains("free-tier (price 0)") || out.contains("L402 challenge"),
        "{out}"
    );
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
    let again = ok(Command::new(BIN)
        .args(["dev", "--sample-size", "300KiB", "--dir"])
        .arg(dir.path().join("dev"))
        .output()
        .expect("run dev again"));
    assert!(again.contains("round trip verified"), "{again}");
}
