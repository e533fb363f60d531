//! `lnd-sim`: starts a broker node and a funded payer node on one simulated
//! network, and a Lightning Address for the payer (so a dev broker can pay
//! out to it), prints how to reach them, one `KEY=value` per line, then runs
//! until Ctrl-C / SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use shardgate_lnd_sim::{LnurlServer, SimNetwork, SimNode, SimNodeConfig};

/// The user name of the payer's Lightning Address (`payer@127.0.0.1:PORT`).
const PAYER_USER: &str = "payer";

#[derive(Debug, Parser)]
#[command(
    name = "lnd-sim",
    about = "Two simulated LND nodes (broker + payer) for dev mode"
)]
struct Args {
    /// Directory for the nodes' LND directories (`<dir>/broker`, `<dir>/payer`).
    #[arg(long, env = "LND_SIM_DIR", default_value = "lnd-sim-data")]
    dir: PathBuf,
    /// Payer's starting balance in satoshis.
    #[arg(long, env = "LND_SIM_PAYER_BALANCE_SAT", default_value_t = 10_000_000)]
    payer_balance_sat: u64,
    /// Broker node alias.
    #[arg(long, default_value = "shardgate-broker")]
    broker_alias: String,
    /// Payer node alias.
    #[arg(long, default_value = "shardgate-payer")]
    payer_alias: String,
}

fn describe(role: &str, node: &SimNode) -> String {
    let key = |name: &str| format!("LND_SIM_{role}_{name}");
    [
        format!("{}={}", key("ENDPOINT"), node.grpc_endpoint()),
        format!("{}={}", key("SOCKET"), node.grpc_socket()),
        format!("{}={}", key("TLS_CERT"), node.tls_cert_path().display()),
        format!("{}={}", key("MACAROON"), node.macaroon_path().display()),
        format!("{}={}", key("MACAROON_HEX"), node.macaroon_hex()),
        format!("{}={}", key("PUBKEY"), node.pubkey()),
    ]
    .join("\n")
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        ctrl_c = tokio::signal::ctrl_c() => ctrl_c.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let network = SimNetwork::new();
    let broker = SimNode::start(
        &network,
        SimNodeConfig::new(args.broker_alias, args.dir.join("broker")),
    )
    .await
    .context("starting the broker node")?;
    let payer = SimNode::start(
        &network,
        SimNodeConfig::new(args.payer_alias, args.dir.join("payer"))
            .with_balance_msat(args.payer_balance_sat.saturating_mul(1000)),
    )
    .await
    .context("starting the payer node")?;
    let payer_address = LnurlServer::start(&payer, PAYER_USER)
        .await
        .context("starting the payer's Lightning Address service")?;

    println!("{}", describe("BROKER", &broker));
    println!("{}", describe("PAYER", &payer));
    println!(
        "LND_SIM_PAYER_LIGHTNING_ADDRESS={}",
        payer_address.address()
    );
    // Last line: a parent process can wait for it before connecting.
    println!("LND_SIM_READY=1");

    wait_for_signal().await?;
    payer_address.shutdown().await;
    payer.shutdown().await.context("stopping the payer node")?;
    broker
        .shutdown()
        .await
        .context("stopping the broker node")?;
    Ok(())
}
