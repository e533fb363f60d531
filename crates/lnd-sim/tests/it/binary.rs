//! The `lnd-sim` binary: prints connection details that work with
//! `lnd_grpc_rust`, and stops cleanly on SIGTERM.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use lnd_grpc_rust::lnrpc;

/// Reads `KEY=value` lines until `LND_SIM_READY=1` (bounded: the child is
/// killed by the caller if this fails).
fn read_details(stdout: std::process::ChildStdout) -> HashMap<String, String> {
    let mut details = HashMap::new();
    for line in BufReader::new(stdout).lines().take(100) {
        let line = line.expect("stdout line");
        if let Some((key, value)) = line.split_once('=') {
            details.insert(key.to_string(), value.to_string());
        }
        if line == "LND_SIM_READY=1" {
            break;
        }
    }
    details
}

#[tokio::test]
async fn binary_serves_a_broker_and_a_funded_payer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lnd-sim"))
        .arg("--dir")
        .arg(dir.path())
        .arg("--payer-balance-sat")
        .arg("5000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lnd-sim starts");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout piped");
    let details = tokio::task::spawn_blocking(move || read_details(stdout));
    let details = match tokio::time::timeout(common::WAIT, details).await {
        Ok(Ok(details)) if details.contains_key("LND_SIM_READY") => details,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lnd-sim did not report ready: {other:?}");
        }
    };

    let node_client = |role: &str| {
        let cert = std::fs::read(&details[&format!("LND_SIM_{role}_TLS_CERT")]).expect("cert file");
        let mac =
            std::fs::read(&details[&format!("LND_SIM_{role}_MACAROON")]).expect("macaroon file");
        assert_eq!(
            hex::encode(&mac),
            details[&format!("LND_SIM_{role}_MACAROON_HEX")]
        );
        (
            hex::encode(cert),
            hex::encode(mac),
            details[&format!("LND_SIM_{role}_SOCKET")].clone(),
        )
    };
    let (cert, mac, socket) = node_client("BROKER");
    assert_eq!(
        details["LND_SIM_BROKER_ENDPOINT"],
        format!("https://{socket}")
    );
    let mut broker = common::connect_with(cert, mac, socket).await;
    let (cert, mac, socket) = node_client("PAYER");
    let mut payer = common::connect_with(cert, mac, socket).await;

    let info = broker
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("GetInfo")
        .into_inner();
    assert_eq!(info.identity_pubkey, details["LND_SIM_BROKER_PUBKEY"]);
    assert_eq!(common::local_balance_msat(&mut payer).await, 5_000_000);

    let added = common::add_invoice(&mut broker, 1_000_000, "dev").await;
    let updates = common::pay(&mut payer, &added.payment_request)
        .await
        .expect("pays");
    assert_eq!(
        common::status_of(updates.last().expect("update")),
        lnrpc::payment::PaymentStatus::Succeeded
    );

    // The payer's Lightning Address answers LNURL-pay over plain HTTP.
    let address = &details["LND_SIM_PAYER_LIGHTNING_ADDRESS"];
    let host = address
        .strip_prefix("payer@")
        .expect("payer@127.0.0.1:PORT");
    let answer = http_get(host, "/.well-known/lnurlp/payer").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""tag":"payRequest""#), "{answer}");

    // Stop it the way a supervisor would: SIGTERM to its PID.
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(term.success());
    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    })
    .await
    .expect("join");
    let status = exited.expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "graceful exit, got {status}");
}

/// One HTTP/1.1 GET over a plain TCP stream (this crate has no HTTP
/// client); the whole response as text.
async fn http_get(host: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    tokio::time::timeout(common::WAIT, stream.read_to_end(&mut response))
        .await
        .expect("answers within bound")
        .expect("reads");
    String::from_utf8_lossy(&response).into_owned()
}
