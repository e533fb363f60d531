//! Upload and download throughput of a broker running in this process
//! (`shardgate_broker::run_with` on 127.0.0.1:0) over three `fs`
//! providers in a tempdir: 64 MiB, 4 MiB chunks, 2+1. No process boundary
//! and no TLS, so it isolates the broker's own pipeline from what
//! `broker_load` adds (the real binary, a separate client process).
//!
//! ```text
//! cargo run --release -p shardgate-benches --bin broker_inprocess
//! ```
//!
//! Formerly the ignored test `crates/broker/tests/throughput.rs` (measurements
//! live in benches/, never in tests); a
//! figure to read, not a pass/fail check (it fails only on wrong bytes).

use std::time::Instant;

use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret};
use shardgate_broker::BrokerConfig;
use shardgate_client::{Client, GetOptions, PutOptions};

/// Bytes uploaded then downloaded.
const SIZE: usize = 64 << 20;
/// The broker's default chunk size.
const CHUNK: u32 = 4 << 20;
const ADMIN_KEY: &str = "bench-admin-key";
/// A fixed master key: the run's data is thrown away with the tempdir.
const MASTER_KEY: &str = "5f0e8d4c2b1a39485766a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BrokerConfig {
        data_dir: dir.path().join("data"),
        metrics_listen: None,
        master_key: Some(Secret::new(MASTER_KEY.to_owned())),
        admin_key_hash: Some(blake3::hash(ADMIN_KEY.as_bytes()).to_hex().to_string()),
        default_chunk_size: CHUNK,
        gc_interval_secs: 0,
        providers: (0..3)
            .map(|i| ProviderConfig {
                name: format!("p{i}"),
                weight: 1.0,
                prefix: String::new(),
                kind: ProviderKind::Fs {
                    root: dir.path().join(format!("p{i}")),
                },
                limits: ProviderLimits::default(),
            })
            .collect(),
        ..BrokerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let broker = tokio::spawn(shardgate_broker::run_with(
        config,
        shardgate_broker::Listeners::grpc(listener),
        async move {
            let _ = stopped.await;
        },
    ));
    // The listener is bound before the broker task runs, so the connection
    // is accepted as soon as the server starts; no readiness poll needed.
    let admin = Client::builder(url.clone())
        .admin_key(ADMIN_KEY)
        .connect()
        .await
        .expect("connect");
    let tenant = admin
        .create_tenant("bench", None)
        .await
        .expect("create tenant");
    let client = admin.with_api_key(&tenant.api_key).expect("API key");
    let data = bytes::Bytes::from(shardgate_benches::test_data(SIZE));
    let mib = SIZE as f64 / f64::from(1 << 20);

    // Through the SDK, as a partner app uploads and downloads (the SDK
    // hashes what it sends and checks the download's length and hash).
    let started = Instant::now();
    let put = client
        .put_bytes(data.clone(), PutOptions::new("bench"))
        .await
        .expect("put")
        .response;
    let up = started.elapsed();

    let started = Instant::now();
    let got = client
        .get_bytes(&put.blob_id, &GetOptions::default())
        .await
        .expect("get");
    let down = started.elapsed();
    assert!(got == data[..], "downloaded bytes differ from the upload");
    println!(
        "64 MiB, 4 MiB chunks, 2+1 over 3 fs providers: upload {:.1} MiB/s ({up:?}), download {:.1} MiB/s ({down:?})",
        mib / up.as_secs_f64(),
        mib / down.as_secs_f64()
    );
    let _ = stop.send(());
    broker.await.expect("broker task").expect("broker");
}
