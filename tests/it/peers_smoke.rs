//! Each real peer starts, takes a bucket, stores and returns an object
//! through opendal, and is gone (by PID) after it is stopped.
//!
//! These tests FAIL when the peers are not installed: run
//! `scripts/install-test-peers.sh` (scripts/test.sh does it for you).

use opendal::Operator;
use opendal::services::{Azblob, Gcs, S3};
use shardgate_tests::peers::{self, Peer};

fn s3_operator(peer: &Peer, endpoint: &str, bucket: &str) -> Operator {
    // The workspace builds opendal without auto-registration: install its
    // HTTP transport (safe to call repeatedly).
    opendal::install_default();
    let builder = S3::default()
        .endpoint(endpoint)
        .bucket(bucket)
        .region(peers::S3_REGION)
        .access_key_id(peer.access_key())
        .secret_access_key(peer.secret_key())
        .disable_config_load()
        .disable_ec2_metadata();
    Operator::new(builder).expect("valid S3 config")
}

fn gcs_operator(endpoint: &str, bucket: &str) -> Operator {
    opendal::install_default();
    let builder = Gcs::default()
        .endpoint(endpoint)
        .bucket(bucket)
        .skip_signature()
        .disable_config_load()
        .disable_vm_metadata();
    Operator::new(builder).expect("valid GCS config")
}

fn azblob_operator(peer: &Peer, account_key: &str, container: &str) -> Operator {
    opendal::install_default();
    let builder = Azblob::default()
        .endpoint(&peers::azurite_blob_endpoint(peer))
        .account_name(peer.access_key())
        .account_key(account_key)
        .container(container);
    Operator::new(builder).expect("valid Azure Blob config")
}

/// Distinct, non-trivial bytes so a truncated or shifted read is caught.
fn payload() -> Vec<u8> {
    (0..10_000u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect()
}

async fn round_trip(peer: &Peer, op: &Operator) {
    let data = payload();
    // gcp-storage-emulator answers `"contentType": null` for uploads without
    // a content type, which opendal's GCS service cannot parse: always set it.
    op.write_with("shards/ab/object.0", data.clone())
        .content_type("application/octet-stream")
        .await
        .unwrap_or_else(|err| panic!("write object: {err}\npeer log:\n{}", peer.log_tail()));
    let read = op
        .read("shards/ab/object.0")
        .await
        .expect("read object")
        .to_vec();
    assert_eq!(read, data, "object read back differs from what was written");
    let meta = op.stat("shards/ab/object.0").await.expect("stat object");
    assert_eq!(meta.content_length(), data.len() as u64);
    let missing = op
        .read("shards/ab/absent.0")
        .await
        .expect_err("absent object");
    assert_eq!(missing.kind(), opendal::ErrorKind::NotFound);
}

/// Stops the peer and checks its PID is no longer a process.
fn stop_and_check_gone(mut peer: Peer) {
    let pid = peer.pid();
    assert!(process_exists(pid), "peer {pid} should run before stop");
    peer.stop();
    assert!(!process_exists(pid), "peer {pid} still exists after stop");
    assert!(peer.exit_status().is_some(), "stop must reap the process");
    peer.stop(); // idempotent
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn require_tools() {
    assert!(
        peers::tools_available(),
        "test peers are not installed in {}: run scripts/install-test-peers.sh",
        peers::tools_dir().display()
    );
}

#[tokio::test]
async fn moto_stores_and_returns_an_object() {
    require_tools();
    let peer = peers::start_moto().await.expect("start moto");
    peers::create_s3_bucket(&peer, "smoke")
        .await
        .expect("create bucket");
    round_trip(&peer, &s3_operator(&peer, &peer.endpoint(), "smoke")).await;
    stop_and_check_gone(peer);
}

#[tokio::test]
async fn moto_accepts_a_b2_style_region() {
    require_tools();
    let peer = peers::start_moto().await.expect("start moto");
    peers::create_s3_bucket_in_region(&peer, "b2-smoke", "us-west-004")
        .await
        .expect("create bucket in us-west-004");
    opendal::install_default();
    let builder = S3::default()
        .endpoint(&peer.endpoint())
        .bucket("b2-smoke")
        .region("us-west-004")
        .access_key_id(peer.access_key())
        .secret_access_key(peer.secret_key())
        .disable_config_load()
        .disable_ec2_metadata();
    round_trip(&peer, &Operator::new(builder).expect("valid S3 config")).await;
}

#[tokio::test]
async fn s3s_fs_stores_and_returns_an_object_and_checks_signatures() {
    require_tools();
    let peer = peers::start_s3s_fs("smoke-access", "smoke-secret")
        .await
        .expect("start s3s-fs");
    peers::create_s3_bucket(&peer, "smoke")
        .await
        .expect("create bucket");
    round_trip(&peer, &s3_operator(&peer, &peer.endpoint(), "smoke")).await;
    // s3s-fs keeps objects as files under its data dir.
    assert!(peer.data_dir().join("data").join("smoke").is_dir());

    // A client with the wrong secret is turned away: the peer really checks SigV4.
    let wrong = S3::default()
        .endpoint(&peer.endpoint())
        .bucket("smoke")
        .region(peers::S3_REGION)
        .access_key_id("smoke-access")
        .secret_access_key("not-the-secret")
        .disable_config_load()
        .disable_ec2_metadata();
    let err = Operator::new(wrong)
        .expect("valid S3 config")
        .read("shards/ab/object.0")
        .await
        .expect_err("a wrongly signed read must fail");
    assert_eq!(err.kind(), opendal::ErrorKind::PermissionDenied, "{err}");
    stop_and_check_gone(peer);
}

#[tokio::test]
async fn bucket_creation_errors_carry_the_status() {
    require_tools();
    let peer = peers::start_s3s_fs("smoke-access", "smoke-secret")
        .await
        .expect("start s3s-fs");
    peers::create_s3_bucket(&peer, "twice")
        .await
        .expect("first creation");
    let text = peers::create_s3_bucket(&peer, "twice")
        .await
        .expect_err("creating an existing bucket fails")
        .to_string();
    assert!(text.contains("HTTP 409"), "{text}");
    let text = peers::create_s3_bucket(&peer, "Not A Bucket")
        .await
        .expect_err("invalid names are refused before any request")
        .to_string();
    assert!(text.contains("invalid bucket name"), "{text}");
}

#[tokio::test]
async fn gcs_emulator_stores_and_returns_an_object() {
    require_tools();
    let peer = peers::start_gcs_emulator()
        .await
        .expect("start gcs emulator");
    peers::create_gcs_bucket(&peer, "smoke")
        .await
        .expect("create bucket");
    round_trip(&peer, &gcs_operator(&peer.endpoint(), "smoke")).await;
    stop_and_check_gone(peer);
}

#[tokio::test]
async fn azurite_stores_and_returns_an_object_and_checks_signatures() {
    let peer = peers::start_azurite().await.expect("start azurite");
    peers::create_azure_container(&peer, "smoke")
        .await
        .expect("create container");
    round_trip(&peer, &azblob_operator(&peer, peer.secret_key(), "smoke")).await;

    // A client with a wrong (well-formed) key is turned away.
    let wrong = azblob_operator(&peer, "bm90LXRoZS1hY2NvdW50LWtleQ==", "smoke");
    let err = wrong
        .read("shards/ab/object.0")
        .await
        .expect_err("a wrongly signed read must fail");
    assert_eq!(err.kind(), opendal::ErrorKind::PermissionDenied, "{err}");
    // Creating the same container twice is refused, and the status says so.
    let text = peers::create_azure_container(&peer, "smoke")
        .await
        .expect_err("the container exists")
        .to_string();
    assert!(text.contains("HTTP 409"), "{text}");
    stop_and_check_gone(peer);
}

#[tokio::test]
async fn peers_get_distinct_ports_and_data_dirs() {
    require_tools();
    let (a, b) = tokio::join!(peers::start_moto(), peers::start_moto());
    let (a, b) = (a.expect("start moto a"), b.expect("start moto b"));
    assert_ne!(a.port(), b.port());
    assert_ne!(a.pid(), b.pid());
    assert_ne!(a.data_dir(), b.data_dir());
    // Buckets are per peer: the same name can be created on both.
    peers::create_s3_bucket(&a, "same")
        .await
        .expect("bucket on a");
    peers::create_s3_bucket(&b, "same")
        .await
        .expect("bucket on b");
    let dir = a.data_dir().to_owned();
    stop_and_check_gone(a);
    drop(b);
    assert!(!dir.exists(), "the data dir is removed with the peer");
}

/// Env var that turns `peer_holder` into the helper process below.
const HOLDER_ENV: &str = "SHARDGATE_PEER_HOLDER";

#[test]
fn a_killed_test_process_takes_its_peers_along() {
    require_tools();
    // Run `peer_holder` in a child test process, learn its peer's PID, then
    // SIGKILL the child (as a test-runner timeout would): no Drop runs, so
    // only the parent-death signal can stop the peer.
    let holder = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            // Module-qualified: this file is a module of the `it` binary.
            "peers_smoke::peer_holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn holder");
    // Kills and reaps the holder on every path, panics included.
    let mut holder = KillOnDrop(holder);
    let stdout = holder.0.stdout.take().expect("holder stdout");
    // libtest prints "test peers_smoke::peer_holder ... " on the same line first.
    let peer_pid = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find_map(|line| line.split("PEER_PID=").nth(1)?.trim().parse::<u32>().ok())
        .expect("holder reports its peer's PID");
    assert!(process_exists(peer_pid));
    drop(holder);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while process_exists(peer_pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "peer {peer_pid} outlived its killed test process"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Helper process of the test above: starts moto, prints its PID, and waits
/// (bounded) to be killed.
#[tokio::test]
#[ignore = "helper process, started by a_killed_test_process_takes_its_peers_along"]
async fn peer_holder() {
    assert_eq!(
        std::env::var(HOLDER_ENV).as_deref(),
        Ok("1"),
        "only run as a helper"
    );
    let peer = peers::start_moto().await.expect("start moto");
    println!("PEER_PID={}", peer.pid());
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    drop(peer);
}
