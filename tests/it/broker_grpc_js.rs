//! Storage.Get read by @grpc/grpc-js (tests/grpc_js/get.mjs), a gRPC
//! implementation nobody here wrote, from the real `shardgate serve` binary
//! on three real peers. The broker writes Get's data frames itself, without
//! tonic's encode copy (crates/broker/src/service/get_route.rs): this is the
//! check that a client in another language reads them as gRPC — the header
//! first and once, every byte of the blob and of a range across chunk
//! boundaries, and the documented codes for a missing blob and a bad id.

use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use shardgate_tests::broker_process::BrokerProcess;
use shardgate_tests::broker_process::client::{header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::tools_dir;

const CHUNK: u32 = 1 << 20;
/// Several chunks, the last one short, and frames of every size.
const SIZE: u64 = 5 * CHUNK as u64 + 12_345;
/// A range from inside chunk 1 to inside chunk 3.
const RANGE: (u64, u64) = (CHUNK as u64 + 7, 2 * CHUNK as u64 + 100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_grpc_client_reads_get_as_grpc() {
    let node_modules = tools_dir().join("node").join("node_modules");
    assert!(
        node_modules.join("@grpc").join("grpc-js").is_dir(),
        "@grpc/grpc-js missing: run scripts/install-test-peers.sh grpc-js"
    );
    let (_peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-grpcjs").await;
    let client = broker.client().await.expect("client");
    let pattern = Pattern::new(21, SIZE);
    let put = put_pattern(
        &client,
        Some(&key),
        header("js", SIZE, Some(CHUNK)),
        pattern,
    )
    .await
    .expect("put");

    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let target = broker.url().trim_start_matches("http://").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(workspace.join("tests").join("grpc_js").join("get.mjs"))
            .arg(&node_modules)
            .arg(workspace.join("proto"))
            .arg(&target)
            .arg(&key)
            .arg(&put.blob_id)
            .arg(RANGE.0.to_string())
            .arg(RANGE.1.to_string())
            .output()
    })
    .await
    .expect("join")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "get.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let call = |name: &str| {
        calls
            .iter()
            .find(|c| c["call"] == name)
            .unwrap_or_else(|| panic!("no {name} call in {stdout}"))
    };
    let all = pattern.all();
    let sha = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));

    let whole = call("whole");
    assert_eq!(whole["code"], 0, "{whole}");
    assert_eq!(whole["header_first"], true, "{whole}");
    assert_eq!(whole["length"], SIZE, "{whole}");
    assert_eq!(whole["sha256"], sha(&all), "{whole}");
    assert!(whole["frames"].as_u64() >= Some(6), "{whole}");

    let range = call("range");
    let (offset, length) = RANGE;
    let expected = &all[offset as usize..(offset + length) as usize];
    assert_eq!(range["code"], 0, "{range}");
    assert_eq!(range["header_first"], true, "{range}");
    assert_eq!(range["length"], length, "{range}");
    assert_eq!(range["sha256"], sha(expected), "{range}");
    assert_eq!(range["served"]["offset"], offset.to_string(), "{range}");

    // NOT_FOUND and INVALID_ARGUMENT, each with a message to act on.
    let missing = call("missing");
    assert_eq!(missing["code"], 5, "{missing}");
    assert!(missing["details"].as_str().is_some_and(|d| !d.is_empty()));
    let bad = call("bad_id");
    assert_eq!(bad["code"], 3, "{bad}");
    assert!(
        bad["details"]
            .as_str()
            .is_some_and(|d| d.contains("blob_id")),
        "{bad}"
    );
}
