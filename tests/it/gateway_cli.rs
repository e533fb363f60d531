//! The command line's side of share links, through the real binary on
//! both ends: `shardgate share BLOB --gateway URL` prints a link, and
//! `shardgate get LINK -o FILE` with the payer's `--lnd-*` flags pays it
//! from the payer's node and saves the exact bytes.

use std::path::Path;
use std::process::{Command, Output};

use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::shardgate_binary;
use shardgate_tests::lightning::PaidBroker;

const FLAT: u64 = 2_000;

/// Runs the CLI against `paid`'s broker as its owner (blocking: the CLI is
/// another process; called from `spawn_blocking`).
fn cli(paid_url: &str, api_key: &str, args: &[String]) -> Output {
    let binary = shardgate_binary().expect("shardgate binary");
    Command::new(binary)
        .args(args)
        .env("SHARDGATE_BROKER", paid_url)
        .env("SHARDGATE_API_KEY", api_key)
        .env_remove("SHARDGATE_GATEWAY")
        .env_remove("SHARDGATE_PAYER_LND_ENDPOINT")
        .env_remove("SHARDGATE_PAYER_LND_TLS_CERT")
        .env_remove("SHARDGATE_PAYER_LND_MACAROON")
        .output()
        .expect("run shardgate")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn run(paid: &PaidBroker, args: Vec<String>, what: &'static str) -> String {
    let (url, key) = (paid.broker.url(), paid.owner_key().to_owned());
    let out = tokio::task::spawn_blocking(move || cli(&url, &key, &args))
        .await
        .expect("CLI task");
    ok(out, what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardgate_share_prints_a_link_that_shardgate_get_pays_and_saves() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(31, 180 * 1024 + 1).all();
    let blob = paid.upload("cli.bin", &data, (FLAT, 0), false).await;
    let gateway = paid.broker.gateway_url();

    let printed = run(
        &paid,
        vec![
            "share".into(),
            blob.clone(),
            "--gateway".into(),
            gateway.clone(),
        ],
        "shardgate share",
    )
    .await;
    let link = printed.trim().to_owned();
    assert!(link.starts_with(&format!("{gateway}/s/")), "{link}");
    let fragment = link.split_once('#').map(|(_, f)| f).unwrap_or_default();
    assert_eq!(fragment.len(), 43, "the secret is in the fragment: {link}");

    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("saved.bin");
    let payer = paid.lightning.payer_node();
    let balance = paid.lightning.payer_balance_msat();
    let path = |p: &Path| p.display().to_string();
    run(
        &paid,
        vec![
            "get".into(),
            link,
            "-o".into(),
            path(&output),
            "--lnd-endpoint".into(),
            payer.grpc_socket(),
            "--lnd-tls-cert".into(),
            path(payer.tls_cert_path()),
            "--lnd-macaroon".into(),
            path(payer.macaroon_path()),
        ],
        "shardgate get LINK",
    )
    .await;
    let saved = std::fs::read(&output).expect("the file was saved");
    assert!(saved == data, "saved bytes differ");
    assert_eq!(
        balance - paid.lightning.payer_balance_msat(),
        FLAT,
        "the payer paid the blob's price once"
    );
}
