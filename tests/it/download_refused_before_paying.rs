//! A download the caller could not use is refused before it is paid, by
//! the SDK and by `shardgate get`, with the payer's balance untouched and
//! no file left:
//!
//! - a file the disk cannot hold (`Client::get_to_file`, `get -o`): a
//!   clear "no room" error; what fits on the same disk is paid and saved
//!   exactly. The small disk is a 1 MiB tmpfs mounted for the test; where
//!   mounting is not allowed (not root) the test says so and returns.
//! - an end-to-end blob asked for without its file key (`Client::get`,
//!   `get -o`, `get` to stdout): "pass its file key"; with the key it is
//!   paid once and opened.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use shardgate_client::{ErrorKind, GetOptions, LndPayer, PaymentPolicy, PutOptions, pb};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::shardgate_binary;
use shardgate_tests::lightning::PaidBroker;

const FLAT: u64 = 2_000;

/// A 1 MiB tmpfs, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn files(&self) -> Vec<String> {
        std::fs::read_dir(self.0.path())
            .expect("list the small disk")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// `shardgate get BLOB -o OUT` (stdout without `out`), paying from the
/// payer's node.
async fn cli_get(paid: &PaidBroker, blob: &str, out: Option<&Path>) -> Output {
    let payer = paid.lightning.payer_node();
    let mut args: Vec<String> = vec!["get".into(), blob.into()];
    if let Some(out) = out {
        args.extend(["-o".into(), out.display().to_string()]);
    }
    args.extend([
        "--lnd-endpoint".into(),
        payer.grpc_socket(),
        "--lnd-tls-cert".into(),
        payer.tls_cert_path().display().to_string(),
        "--lnd-macaroon".into(),
        payer.macaroon_path().display().to_string(),
    ]);
    let url = paid.broker.url();
    tokio::task::spawn_blocking(move || {
        Command::new(shardgate_binary().expect("shardgate binary"))
            .args(&args)
            .env("SHARDGATE_BROKER", url)
            .env_remove("SHARDGATE_API_KEY")
            .output()
            .expect("run shardgate")
    })
    .await
    .expect("CLI task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_the_disk_cannot_hold_is_refused_before_it_is_paid() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let big = Pattern::new(41, 3 << 20).all();
    let small = Pattern::new(42, 200 * 1024 + 3).all();
    let big_id = paid.upload("big.bin", &big, (FLAT, 0), true).await;
    let small_id = paid.upload("small.bin", &small, (FLAT, 0), true).await;
    let buyer = shardgate_client::Client::connect(paid.broker.url())
        .await
        .expect("connect");
    let options = GetOptions {
        payment: PaymentPolicy::pay_with(
            LndPayer::over(paid.lightning.payer().clone(), 1_000),
            100_000,
        ),
        ..GetOptions::default()
    };

    // The SDK: 3 MiB on a 1 MiB disk.
    let balance = paid.lightning.payer_balance_msat();
    let err = buyer
        .get_to_file(&big_id, disk.path("big.bin"), &options)
        .await
        .expect_err("no room for 3 MiB");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(
        err.to_string()
            .contains("no room for the download's 3145728 bytes"),
        "{err}"
    );
    assert_eq!(paid.lightning.payer_balance_msat(), balance, "nothing paid");
    assert!(disk.files().is_empty(), "left behind: {:?}", disk.files());

    // The command line: the same refusal, before paying.
    let out = cli_get(&paid, &big_id, Some(&disk.path("big.bin"))).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "3 MiB saved on a 1 MiB disk?");
    assert!(
        stderr.contains("no room for the download's 3145728 bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains("paid"), "{stderr}");
    assert_eq!(paid.lightning.payer_balance_msat(), balance, "nothing paid");
    assert!(disk.files().is_empty(), "left behind: {:?}", disk.files());

    // What fits is paid once and saved exactly, by both.
    buyer
        .get_to_file(&small_id, disk.path("sdk.bin"), &options)
        .await
        .expect("200 KiB fit");
    assert!(std::fs::read(disk.path("sdk.bin")).expect("read") == small);
    let out = cli_get(&paid, &small_id, Some(&disk.path("cli.bin"))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(disk.path("cli.bin")).expect("read") == small);
    assert_eq!(
        balance - paid.lightning.payer_balance_msat(),
        2 * FLAT,
        "each download that fit paid its price once"
    );
    let mut files = disk.files();
    files.sort();
    assert_eq!(files, ["cli.bin", "sdk.bin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_to_end_blob_asked_for_without_its_key_is_refused_before_it_is_paid() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let plaintext = Pattern::new(43, 300 * 1024 + 7).all();
    let mut put = PutOptions::new("sealed.bin").end_to_end();
    put.chunk_size = Some(256 * 1024);
    put.price = Some(pb::Price {
        flat_msat: FLAT,
        per_mib_msat: 0,
    });
    put.public = true;
    let uploaded = paid
        .client()
        .await
        .with_api_key(paid.owner_key())
        .expect("owner")
        .put_bytes(plaintext.clone(), put)
        .await
        .expect("end-to-end put");
    let blob = uploaded.response.blob_id;
    let key = uploaded.file_key.expect("the file key");
    let buyer = shardgate_client::Client::connect(paid.broker.url())
        .await
        .expect("connect");
    let payer = || {
        PaymentPolicy::pay_with(
            LndPayer::over(paid.lightning.payer().clone(), 1_000),
            100_000,
        )
    };
    let no_key = GetOptions {
        payment: payer(),
        ..GetOptions::default()
    };
    let balance = paid.lightning.payer_balance_msat();
    let invoices = paid.lightning.broker_invoice_count();

    // The SDK: refused once the broker asks for payment, before paying.
    let err = buyer.get(&blob, &no_key).await.expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("pass its file key"), "{err}");
    assert_eq!(paid.lightning.payer_balance_msat(), balance, "nothing paid");

    // The command line, to a file and to stdout: the same refusal.
    let dir = tempfile::tempdir().expect("dir");
    for out in [Some(dir.path().join("sealed.bin")), None] {
        let run = cli_get(&paid, &blob, out.as_deref()).await;
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "read without its key? {stderr}");
        assert!(stderr.contains("pass its file key"), "{stderr}");
        assert!(!stderr.contains("paid"), "{stderr}");
        assert!(run.stdout.is_empty(), "bytes on stdout without the key");
        assert_eq!(paid.lightning.payer_balance_msat(), balance, "nothing paid");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "a file was left"
    );
    // Each refusal asked for an invoice (the challenge) and paid none.
    assert_eq!(paid.lightning.broker_invoice_count(), invoices + 3);

    // With the key the same download is paid once and opened.
    let with_key = GetOptions {
        file_key: Some(key),
        payment: payer(),
        ..GetOptions::default()
    };
    let got = buyer.get_bytes(&blob, &with_key).await.expect("with key");
    assert!(got == plaintext, "the plaintext, exactly");
    assert_eq!(balance - paid.lightning.payer_balance_msat(), FLAT);
}
