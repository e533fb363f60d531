//! Measures what one call costs through `lnd_grpc_rust` against a sim node:
//! `cargo run --release -p shardgate-benches --bin call_latency`.
//!
//! Note: `lnd_grpc_rust`'s connector leaves Nagle's algorithm on, so a
//! request's HEADERS and DATA frames can wait for the server's delayed ACK
//! (~40 ms on Linux). That is a property of the client, and a real LND would
//! see the same.

use std::time::{Duration, Instant};

use lnd_grpc_rust::{lnrpc, routerrpc};
use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};

const ROUNDS: u32 = 50;

fn report(what: &str, total: Duration) {
    println!(
        "{what:<28} {:>8.2} ms/call over {ROUNDS} calls",
        total.as_secs_f64() * 1e3 / f64::from(ROUNDS)
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let network = SimNetwork::new();
    let broker =
        SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b"))).await?;
    let payer = SimNode::start(
        &network,
        SimNodeConfig::new("payer", dir.path().join("p")).with_balance_msat(u64::MAX / 4),
    )
    .await?;
    let mut b = lnd_grpc_rust::connect(
        broker.tls_cert_hex(),
        broker.macaroon_hex(),
        broker.grpc_socket(),
    )
    .await?;
    let mut p = lnd_grpc_rust::connect(
        payer.tls_cert_hex(),
        payer.macaroon_hex(),
        payer.grpc_socket(),
    )
    .await?;
    b.lightning().get_info(lnrpc::GetInfoRequest {}).await?;

    let start = Instant::now();
    for _ in 0..ROUNDS {
        b.lightning().get_info(lnrpc::GetInfoRequest {}).await?;
    }
    report("GetInfo", start.elapsed());

    let mut requests = Vec::new();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let invoice = lnrpc::Invoice {
            value_msat: 1_000,
            ..Default::default()
        };
        requests.push(b.lightning().add_invoice(invoice).await?.into_inner());
    }
    report("AddInvoice", start.elapsed());

    let start = Instant::now();
    for added in &requests {
        let request = routerrpc::SendPaymentRequest {
            payment_request: added.payment_request.clone(),
            timeout_seconds: 30,
            no_inflight_updates: true,
            ..Default::default()
        };
        let mut stream = p.router().send_payment_v2(request).await?.into_inner();
        while stream.message().await?.is_some() {}
    }
    report("SendPaymentV2 (to final)", start.elapsed());

    let start = Instant::now();
    for added in &requests {
        let hash = lnrpc::PaymentHash {
            r_hash: added.r_hash.clone(),
            ..Default::default()
        };
        b.lightning().lookup_invoice(hash).await?;
    }
    report("LookupInvoice", start.elapsed());

    payer.shutdown().await?;
    broker.shutdown().await?;
    Ok(())
}
