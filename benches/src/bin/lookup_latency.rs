//! Measures the LookupInvoice round trip through [`LightningNode`] (TLS,
//! macaroon, mapping) against a local simulated LND node: the latency the
//! payment check adds before the first chunk of a download.
//!
//! `cargo run --release -p shardgate-benches --bin lookup_latency`

use std::time::{Duration, Instant};

use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::LightningNode;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};

const CALLS: usize = 2_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = SimNetwork::new();
    let node = SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b")))
        .await
        .expect("sim node");
    let client = LightningNode::connect(&LndConfig::new(
        node.grpc_socket(),
        TlsCertSource::File(node.tls_cert_path().to_path_buf()),
        MacaroonSource::File(node.macaroon_path().to_path_buf()),
    ))
    .await
    .expect("client");
    let invoice = client
        .add_invoice(1_000, "latency", Duration::from_secs(3600))
        .await
        .expect("invoice");
    client.get_info().await.expect("warm up the connection");

    let mut took = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        client
            .lookup_invoice(&invoice.payment_hash)
            .await
            .expect("lookup");
        took.push(started.elapsed());
    }
    took.sort();
    let pct = |p: usize| took[(CALLS * p / 100).min(CALLS - 1)];
    println!(
        "LookupInvoice over TLS to lnd-sim, {CALLS} sequential calls: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(90),
        pct(99),
        took[CALLS - 1]
    );
    node.shutdown().await.expect("stop");
}
