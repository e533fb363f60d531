//! `shardgate serve` as a child process, driven by the client commands a
//! user would type: tenant, put, get (whole, range, stdout), ls, stat, rm,
//! providers, gc; failures end with one `error:` line and a non-zero exit.

use crate::common;

use common::{Served, data, fails_with, field, ok, stdout, write};

#[test]
fn put_get_ls_stat_rm_round_trip_through_the_binary() {
    let served = Served::start();
    let created = ok(served.cli(&["tenant", "create", "acme", "--quota", "50MiB"]));
    let api_key = field(&created, "api_key");
    assert!(api_key.starts_with("sgk_"), "{created}");

    // Several 256 KiB chunks, last one short.
    let original = data(1_000_000);
    let input = served.path("report.pdf");
    write(&input, &original);
    let put = served.cli_as(
        &api_key,
        &[
            "put",
            input.to_str().expect("utf8"),
            "--content-type",
            "application/pdf",
            "--meta",
            "team=qa",
        ],
    );
    // Not a terminal: no progress bar, nothing on stderr.
    assert!(common::stderr(&put).is_empty(), "{}", common::stderr(&put));
    let put = ok(put);
    let blob_id = field(&put, "blob_id");
    assert_eq!(blob_id.len(), 64, "{put}");
    assert!(field(&put, "chunks").starts_with("4 "), "{put}");
    assert_eq!(
        field(&put, "blake3"),
        blake3::hash(&original).to_hex().as_str()
    );

    // Whole blob to a file: identical bytes, no .part left behind.
    let out = served.path("copy.pdf");
    let got = ok(served.cli_as(
        &api_key,
        &["get", &blob_id, "-o", out.to_str().expect("utf8")],
    ));
    assert!(got.contains("blake3 verified"), "{got}");
    assert_eq!(std::fs::read(&out).expect("read copy"), original);
    assert!(!served.path("copy.pdf.part").exists());

    // A range across a chunk boundary, to stdout.
    let range = served.cli_as(&api_key, &["get", &blob_id, "--range", "262100-262299"]);
    assert!(range.status.success(), "{}", common::stderr(&range));
    assert_eq!(range.stdout, original[262_100..262_300]);
    let plus = served.cli_as(&api_key, &["get", &blob_id, "--range", "999990+100"]);
    assert_eq!(
        plus.stdout,
        original[999_990..],
        "a length past the end is shortened"
    );

    // From stdin: same bytes, same blob (dedup makes the upload idempotent).
    let piped = served.cli_stdin(
        &api_key,
        &[
            "put",
            "-",
            "--name",
            "report.pdf",
            "-q",
            "--content-type",
            "application/pdf",
            "--meta",
            "team=qa",
        ],
        &original,
    );
    assert_eq!(ok(piped).trim(), blob_id);

    // Listing goes through every page; stat shows what was uploaded.
    for i in 0..3 {
        let p = served.path(&format!("small-{i}.txt"));
        write(&p, format!("small file {i}").as_bytes());
        ok(served.cli_as(&api_key, &["put", "-q", p.to_str().expect("utf8")]));
    }
    let listed = ok(served.cli_as(&api_key, &["ls"]));
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(
        listed.contains(&blob_id) && listed.contains("report.pdf"),
        "{listed}"
    );
    let small = ok(served.cli_as(&api_key, &["ls", "--prefix", "small-", "--limit", "2"]));
    assert_eq!(small.lines().count(), 2, "{small}");
    assert!(
        small
            .lines()
            .all(|l| l.ends_with("small-0.txt") || l.ends_with("small-1.txt"))
    );
    let stat = ok(served.cli_as(&api_key, &["stat", &blob_id]));
    assert_eq!(field(&stat, "name"), "report.pdf");
    assert_eq!(field(&stat, "content_type"), "application/pdf");
    assert_eq!(field(&stat, "meta"), "team=qa");
    assert!(field(&stat, "size").contains("1000000 bytes"), "{stat}");

    // Operator views.
    let providers = ok(served.cli(&["providers", "ls"]));
    for name in ["p0", "p1", "p2"] {
        assert!(providers.contains(name), "{providers}");
    }
    assert!(ok(served.cli(&["tenant", "ls"])).contains("acme"));
    let repair = ok(served.cli(&["repair"]));
    assert!(field(&repair, "chunks").contains("unreadable"), "{repair}");
    assert!(field(&repair, "queue").starts_with('0'), "{repair}");

    // Delete: the blob is gone, GC removes its shards.
    let shards_before = served.shard_files();
    let rm = ok(served.cli_as(&api_key, &["rm", &blob_id]));
    assert!(rm.contains("deleted"), "{rm}");
    fails_with(served.cli_as(&api_key, &["stat", &blob_id]), "NOT_FOUND");
    let gc = ok(served.cli(&["gc"]));
    // 4 chunks × (k=2 + m=1) shard objects, gone from the provider directories.
    assert!(
        gc.contains("deleted 12,") && gc.contains("4 chunks released"),
        "{gc}"
    );
    assert_eq!(served.shard_files(), shards_before - 12);

    // SIGTERM: graceful shutdown, exit 0.
    let status = served.terminate();
    assert!(status.success(), "serve exited with {status:?}");
}

/// `-o` naming a pipe (or `/dev/null`) writes through it: the download
/// must not be renamed over it as `PATH.part` would be — that once turned
/// the machine's `/dev/null` into a regular file.
#[cfg(unix)]
#[test]
fn get_into_a_fifo_writes_through_it_and_leaves_it_a_fifo() {
    use std::os::unix::fs::FileTypeExt;

    let served = Served::start();
    let api_key = field(&ok(served.cli(&["tenant", "create", "fifo"])), "api_key");
    let original = data(700_000);
    let input = served.path("in.bin");
    write(&input, &original);
    let blob_id = ok(served.cli_as(&api_key, &["put", input.to_str().expect("utf8"), "-q"]))
        .trim()
        .to_owned();

    let fifo = served.path("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo))
    };
    // A writer of our own holds the pipe open until the client is done, so
    // the reader sees end-of-file only then, whatever the client did.
    let held_open = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the pipe's write side");
    let got = served.cli_as(
        &api_key,
        &["get", &blob_id, "-o", fifo.to_str().expect("utf8")],
    );
    drop(held_open);
    let read = reader
        .join()
        .expect("reader thread")
        .expect("read the pipe");
    let got = ok(got);
    assert!(got.contains("blake3 verified"), "{got}");
    assert!(
        read == original,
        "the pipe carried {} bytes, not the blob",
        read.len()
    );
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    assert!(
        !served.path("pipe.part").exists(),
        "no part file beside a pipe"
    );
}

#[test]
fn failures_print_one_error_line_and_exit_non_zero() {
    let served = Served::start();
    let api_key = field(&ok(served.cli(&["tenant", "create", "t1"])), "api_key");
    let input = served.path("f.bin");
    write(&input, &data(10_000));
    let blob_id = field(
        &ok(served.cli_as(&api_key, &["put", input.to_str().expect("utf8")])),
        "blob_id",
    );

    // Wrong API key.
    let line = fails_with(
        served.cli_as("sgk_not-a-real-key", &["ls"]),
        "UNAUTHENTICATED",
    );
    assert!(line.contains("x-api-key"), "{line}");
    // Unknown blob id (well-formed) and a malformed one.
    let unknown = "0".repeat(64);
    fails_with(
        served.cli_as(&api_key, &["get", &unknown, "-o", "/dev/null"]),
        "NOT_FOUND",
    );
    fails_with(
        served.cli_as(&api_key, &["stat", "not-hex"]),
        "INVALID_ARGUMENT",
    );
    // Ranges: past the end (broker) and malformed (client).
    fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "--range", "20000-"]),
        "OUT_OF_RANGE",
    );
    let out = served.path("never.bin");
    fails_with(
        served.cli_as(
            &api_key,
            &[
                "get",
                &blob_id,
                "--range",
                "9-3",
                "-o",
                out.to_str().expect("utf8"),
            ],
        ),
        "bad --range",
    );
    assert!(!out.exists() && !served.path("never.bin.part").exists());
    // Admin commands with a tenant key instead of the admin key.
    let o = std::process::Command::new(common::bin())
        .args([
            "tenant",
            "ls",
            "--broker",
            &served.url,
            "--admin-key",
            "wrong",
        ])
        .output()
        .expect("run");
    fails_with(o, "UNAUTHENTICATED");
    // Missing key entirely: a local, actionable error.
    let line = fails_with(served.cli(&["ls"]), "SHARDGATE_API_KEY");
    assert!(line.contains("--api-key"), "{line}");
    // No broker there.
    let o = std::process::Command::new(common::bin())
        .args(["ls", "--broker", "http://127.0.0.1:1", "--api-key", "k"])
        .output()
        .expect("run");
    fails_with(o, "cannot connect");
    // A usage error is one line too (exit code 2).
    let o = std::process::Command::new(common::bin())
        .args(["put", "--no-such-flag"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    fails_with(o, "--no-such-flag");
}

#[test]
fn providers_join_from_flags_and_file_then_drain_and_leave() {
    let served = Served::start();
    let root = served.path("extra-a");
    let joined = ok(served.cli(&[
        "providers",
        "join",
        "--name",
        "extra-a",
        "--kind",
        "fs",
        "--root",
        root.to_str().expect("utf8"),
    ]));
    assert!(joined.contains("joined extra-a (fs"), "{joined}");
    // The broker probed it: the directory exists now.
    assert!(root.is_dir());
    let file = served.path("extra-b.toml");
    write(
        &file,
        format!(
            "name = \"extra-b\"\nkind = \"fs\"\nweight = 200\nroot = {:?}\n",
            served.path("extra-b").display().to_string()
        )
        .as_bytes(),
    );
    let joined = ok(served.cli(&[
        "providers",
        "join",
        "--config",
        file.to_str().expect("utf8"),
    ]));
    assert!(
        joined.contains("joined extra-b (fs, weight 200"),
        "{joined}"
    );
    let listed = ok(served.cli(&["providers", "ls"]));
    assert_eq!(listed.lines().count(), 5, "{listed}");
    fails_with(
        served.cli(&[
            "providers",
            "join",
            "--config",
            file.to_str().expect("utf8"),
        ]),
        "ALREADY_EXISTS",
    );
    let drained = ok(served.cli(&["providers", "drain", "extra-a"]));
    assert!(drained.contains("DRAINING"), "{drained}");
    ok(served.cli(&["providers", "leave", "extra-a"]));
    let listed = ok(served.cli(&["providers", "ls"]));
    assert!(
        !listed.contains("extra-a") && listed.contains("extra-b"),
        "{listed}"
    );
    fails_with(served.cli(&["providers", "leave", "no-such"]), "NOT_FOUND");
}

#[test]
fn sigterm_lets_an_upload_in_flight_commit() {
    use std::io::Write;
    let served = Served::start();
    let api_key = field(&ok(served.cli(&["tenant", "create", "t"])), "api_key");
    let original = data(3 << 20);
    let mut put = served.spawn_stdin(&api_key, &["put", "-", "--name", "streamed.bin", "-q"]);
    let mut stdin = put.stdin.take().expect("stdin");
    // First half: enough for whole chunks to be sealed and written.
    stdin.write_all(&original[..3 << 19]).expect("write");
    stdin.flush().expect("flush");
    let mut written = false;
    for _ in 0..400 {
        if served.shard_files() > 0 {
            written = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        written,
        "no shard reached a provider while the upload streamed"
    );
    // Shutdown starts with the upload open; the rest still arrives.
    served.send_sigterm();
    served.wait_not_serving();
    stdin.write_all(&original[3 << 19..]).expect("write rest");
    drop(stdin);
    let out = put.wait_with_output().expect("put");
    let blob_id = ok(out).trim().to_owned();
    assert_eq!(blob_id.len(), 64);
    let status = served.wait();
    assert!(status.success(), "serve exited with {status:?}");
}
