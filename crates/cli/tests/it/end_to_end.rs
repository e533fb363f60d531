//! End-to-end mode through the binary: `put --e2e` encrypts on the client
//! and hands out the file key (printed once, or written to a 0600 key
//! file), `get --key`/`--key-file` decrypts; a wrong key leaves no file.

use crate::common;

use common::{Served, data, fails_with, field, ok, stderr, write};

/// A broker, a tenant, and a 1,000,000-byte input file (several 256 KiB
/// chunks, the last one short).
fn setup() -> (Served, String, Vec<u8>, String) {
    let served = Served::start();
    let api_key = field(&ok(served.cli(&["tenant", "create", "alice"])), "api_key");
    let original = data(1_000_000);
    let input = served.path("secret.tar");
    write(&input, &original);
    let input = input.to_str().expect("utf8").to_owned();
    (served, api_key, original, input)
}

#[test]
fn put_e2e_prints_the_key_once_and_get_key_decrypts_whole_and_ranges() {
    let (served, api_key, original, input) = setup();
    let put = served.cli_as(&api_key, &["put", "--e2e", &input]);
    let warning = stderr(&put);
    let put = ok(put);
    let blob_id = field(&put, "blob_id");
    let key = field(&put, "file_key");
    assert_eq!(key.len(), 64, "{put}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{put}");
    assert_eq!(
        put.matches(&key).count(),
        1,
        "the key is printed once: {put}"
    );
    assert!(
        warning.contains("only copy") && !warning.contains(&key),
        "{warning}"
    );
    // The broker stored ciphertext: its hash is not the plaintext's.
    assert_ne!(
        field(&put, "blake3"),
        blake3::hash(&original).to_hex().as_str()
    );
    let stat = ok(served.cli_as(&api_key, &["stat", &blob_id]));
    assert!(field(&stat, "key_mode").starts_with("end-to-end"), "{stat}");

    // Whole blob to a file: the plaintext, byte for byte.
    let out = served.path("secret-copy.tar");
    let out_arg = out.to_str().expect("utf8");
    let got = ok(served.cli_as(&api_key, &["get", &blob_id, "--key", &key, "-o", out_arg]));
    assert!(got.contains("decrypted and authenticated"), "{got}");
    assert_eq!(std::fs::read(&out).expect("read copy"), original);
    assert!(!served.path("secret-copy.tar.part").exists());

    // A range is in plaintext bytes, across the chunk 0/1 boundary, to
    // stdout; and one that runs to the end of the blob.
    let range = served.cli_as(
        &api_key,
        &["get", &blob_id, "--key", &key, "--range", "262100-262299"],
    );
    assert!(range.status.success(), "{}", stderr(&range));
    assert_eq!(range.stdout, original[262_100..262_300]);
    let tail = served.cli_as(
        &api_key,
        &["get", &blob_id, "--key", &key, "--range", "999000-"],
    );
    assert!(tail.status.success(), "{}", stderr(&tail));
    assert_eq!(tail.stdout, original[999_000..]);

    // Without a key the blob cannot be read.
    fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "-o", out_arg]),
        "end-to-end encrypted",
    );

    // -q: the blob id, then the key; nothing else. A second upload of
    // the same file is a new blob under a new key (no dedup).
    let quiet = ok(served.cli_as(&api_key, &["put", "--e2e", "-q", &input]));
    let lines: Vec<&str> = quiet.lines().collect();
    assert_eq!(lines.len(), 2, "{quiet}");
    assert_eq!(lines[0].len(), 64, "{quiet}");
    assert_ne!(lines[0], blob_id);
    assert_eq!(lines[1].len(), 64, "{quiet}");
    assert_ne!(lines[1], key);
}

#[test]
fn key_file_is_written_0600_never_overwritten_and_read_back() {
    use std::os::unix::fs::PermissionsExt;

    let (served, api_key, original, input) = setup();
    let key_path = served.path("secret.key");
    let key_arg = key_path.to_str().expect("utf8");
    let put = ok(served.cli_as(&api_key, &["put", "--e2e", "--key-file", key_arg, &input]));
    let blob_id = field(&put, "blob_id");
    let mode = std::fs::metadata(&key_path)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let key = std::fs::read_to_string(&key_path).expect("read key");
    let key = key.trim();
    assert_eq!(key.len(), 64);
    assert!(!put.contains(key), "the key is not printed: {put}");
    assert!(field(&put, "file_key").contains("written to"), "{put}");

    // An existing key file is refused before anything is uploaded.
    let blobs_before = ok(served.cli_as(&api_key, &["ls"])).lines().count();
    let line = fails_with(
        served.cli_as(
            &api_key,
            &["put", "--e2e", "-q", "--key-file", key_arg, &input],
        ),
        "already exists",
    );
    assert!(line.contains("--key-file"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&key_path).expect("read").trim(),
        key
    );
    assert_eq!(
        ok(served.cli_as(&api_key, &["ls"])).lines().count(),
        blobs_before
    );

    // -q with --key-file: only the blob id.
    let other_key = served.path("other.key");
    let quiet = ok(served.cli_as(
        &api_key,
        &[
            "put",
            "--e2e",
            "-q",
            "--key-file",
            other_key.to_str().expect("utf8"),
            &input,
        ],
    ));
    assert_eq!(quiet.lines().count(), 1, "{quiet}");

    let out = served.path("from-key-file.tar");
    ok(served.cli_as(
        &api_key,
        &[
            "get",
            &blob_id,
            "--key-file",
            key_arg,
            "-o",
            out.to_str().expect("utf8"),
        ],
    ));
    assert_eq!(std::fs::read(&out).expect("read copy"), original);
}

#[test]
fn a_wrong_key_fails_in_one_line_and_leaves_no_file() {
    let (served, api_key, _original, input) = setup();
    let quiet = ok(served.cli_as(&api_key, &["put", "--e2e", "-q", &input]));
    let blob_id = quiet.lines().next().expect("blob id").to_owned();
    let wrong = "ab".repeat(32);
    let out = served.path("wrong.tar");
    let o = served.cli_as(
        &api_key,
        &[
            "get",
            &blob_id,
            "--key",
            &wrong,
            "-o",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let line = fails_with(o, "wrong file key");
    assert!(line.contains("does not decrypt"), "{line}");
    assert!(!out.exists(), "no output file after a failed decryption");
    assert!(!served.path("wrong.tar.part").exists(), "no .part left");

    // To stdout: nothing of the failed chunk is written.
    let o = served.cli_as(&api_key, &["get", &blob_id, "--key", &wrong, "-o", "-"]);
    assert!(o.stdout.is_empty(), "{} bytes written", o.stdout.len());
    fails_with(o, "wrong file key");

    // A malformed key is refused before any call.
    fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "--key", "abc"]),
        "64 hex",
    );
}
