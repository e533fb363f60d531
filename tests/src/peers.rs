//! Starting real storage peers on free ports of 127.0.0.1.
//!
//! ```no_run
//! # async fn demo() -> Result<(), shardgate_tests::PeerError> {
//! use shardgate_tests::peers::{create_s3_bucket, start_moto};
//! let peer = start_moto().await?;
//! create_s3_bucket(&peer, "shards").await?;
//! // ... point an opendal S3 operator at peer.endpoint() ...
//! # Ok(()) }
//! ```

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::http_client;
use crate::tools::Tool;

pub use crate::PeerError;
pub use crate::buckets::{
    create_azure_container, create_gcs_bucket, create_s3_bucket, create_s3_bucket_in_region,
};
pub use crate::peer::{Peer, PeerKind};
pub use crate::tools::{tools_available, tools_dir};

/// Region moto and s3s-fs treat as the default.
pub const S3_REGION: &str = "us-east-1";
/// Credentials handed to moto (it accepts any, but clients need some).
pub const MOTO_ACCESS_KEY: &str = "shardgate-test-key";
/// Secret key paired with [`MOTO_ACCESS_KEY`].
pub const MOTO_SECRET_KEY: &str = "shardgate-test-secret";
/// Project id the GCS emulator's bucket API is called with.
pub const GCS_PROJECT: &str = "shardgate-test";

/// azurite's built-in development account (the only one it knows unless
/// `AZURITE_ACCOUNTS` is set).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The development account's key, as Microsoft publishes it for the storage
/// emulators: public, and accepted by nothing but an emulator.
pub const AZURITE_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long a peer may take to answer HTTP after it was spawned.
/// moto imports a lot of Python on start; 30 s covers a loaded 2-core CI box.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between readiness probes.
const READY_POLL: Duration = Duration::from_millis(50);
/// Time one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Spawn attempts when another process grabbed the chosen port first.
const PORT_ATTEMPTS: usize = 4;

/// Starts moto's S3 server (any credentials are accepted).
pub async fn start_moto() -> Result<Peer, PeerError> {
    start(
        PeerKind::Moto,
        Tool::MotoServer,
        (MOTO_ACCESS_KEY, MOTO_SECRET_KEY),
        |port, _dir| {
            vec![
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string().into(),
            ]
        },
    )
    .await
}

/// Starts gcp-storage-emulator (GCS JSON API, no authentication), storing
/// objects on disk in the peer's data directory.
pub async fn start_gcs_emulator() -> Result<Peer, PeerError> {
    start(
        PeerKind::GcsEmulator,
        Tool::GcsEmulator,
        ("", ""),
        |port, dir| {
            vec![
                "--data-dir".into(),
                dir.join("data").into_os_string(),
                "start".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string().into(),
            ]
        },
    )
    .await
}

/// Starts azurite's Blob service (shared-key auth with [`AZURITE_ACCOUNT`]
/// and [`AZURITE_ACCOUNT_KEY`]), storing blobs in the peer's data directory.
/// Its blob endpoint is [`azurite_blob_endpoint`].
pub async fn start_azurite() -> Result<Peer, PeerError> {
    start(
        PeerKind::Azurite,
        Tool::Azurite,
        (AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
        |port, dir| {
            vec![
                "--blobHost".into(),
                "127.0.0.1".into(),
                "--blobPort".into(),
                port.to_string().into(),
                "--location".into(),
                dir.join("data").into_os_string(),
                // Clients newer than this azurite release still work.
                "--skipApiVersionCheck".into(),
                // Tests must not talk to anything but 127.0.0.1.
                "--disableTelemetry".into(),
            ]
        },
    )
    .await
}

/// The blob endpoint of an azurite peer: on an IP address azurite takes the
/// account from the first path segment, `http://127.0.0.1:<port>/<account>`.
pub fn azurite_blob_endpoint(peer: &Peer) -> String {
    format!("{}/{}", peer.endpoint(), peer.access_key())
}

/// Starts s3s-fs, an S3 server that accepts only requests signed (SigV4)
/// with exactly these credentials.
pub async fn start_s3s_fs(access_key: &str, secret_key: &str) -> Result<Peer, PeerError> {
    start(
        PeerKind::S3sFs,
        Tool::S3sFs,
        (access_key, secret_key),
        |port, dir| {
            vec![
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string().into(),
                "--access-key".into(),
                access_key.into(),
                "--secret-key".into(),
                secret_key.into(),
                dir.join("data").into_os_string(),
            ]
        },
    )
    .await
}

async fn start(
    kind: PeerKind,
    tool: Tool,
    credentials: (&str, &str),
    args: impl Fn(u16, &std::path::Path) -> Vec<OsString>,
) -> Result<Peer, PeerError> {
    let program = tool.require()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("shardgate-{}-", kind.name()))
            .tempdir()
            .map_err(|err| PeerError::io("create peer data dir", err))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)
            .map_err(|err| PeerError::io(format!("create {}", data.display()), err))?;
        let mut command = Command::new(&program);
        command
            .args(args(port, dir.path()))
            .current_dir(dir.path())
            // Python buffers stdout when it is a file: make the log useful on failure.
            .env("PYTHONUNBUFFERED", "1")
            .env("RUST_LOG", "info");
        let mut peer = Peer::spawn(kind, command, port, dir, credentials)?;
        match wait_until_ready(&peer).await {
            Ok(()) => return Ok(peer),
            Err(PeerError::Exited { log_tail, .. })
                if attempt < PORT_ATTEMPTS && port_was_taken(&log_tail) =>
            {
                peer.stop();
            }
            Err(err) => {
                peer.stop();
                return Err(err);
            }
        }
    }
}

/// A port that was free a moment ago. The listener is closed before the
/// peer binds it, so another process can take it in between: `start`
/// notices ("address in use" in the log) and tries another port.
fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|err| PeerError::io("bind 127.0.0.1:0", err))?;
    let port = listener
        .local_addr()
        .map_err(|err| PeerError::io("read local address", err))?
        .port();
    Ok(port)
}

fn port_was_taken(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("addrinuse")
}

/// Polls until the peer answers HTTP, it exits, or [`READY_TIMEOUT`] passes.
async fn wait_until_ready(peer: &Peer) -> Result<(), PeerError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        // Check the process first: an answer from a port our peer failed to
        // bind would come from someone else.
        if let Some(status) = peer.exit_status() {
            return Err(PeerError::Exited {
                peer: peer.kind.name(),
                status: status.to_string(),
                log_tail: peer.log_tail(),
            });
        }
        if http_client::answers_http(peer.addr(), PROBE_TIMEOUT).await
            && peer.exit_status().is_none()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(PeerError::NotReady {
                peer: peer.kind.name(),
                seconds: READY_TIMEOUT.as_secs(),
                log_tail: peer.log_tail(),
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
