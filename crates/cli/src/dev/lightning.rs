//! Dev mode's Lightning network: two simulated LND nodes in this process
//! (`shardgate-lnd-sim`: LND's gRPC over TLS with a macaroon), one for the
//! broker and one funded wallet for the downloader. The broker reaches its
//! node exactly as it would a real one: `[payments]` names the endpoint,
//! the certificate file and the macaroon file.

use std::path::Path;

use anyhow::Context;
use shardgate_broker::PaymentsConfig;
use shardgate_client::LndPayer;
use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::LightningNode;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};

use crate::args::DEFAULT_MAX_FEE_MSAT;

/// The wallet's starting balance: 1,000,000 sat.
pub(super) const WALLET_MSAT: u64 = 1_000_000_000;
/// Dev mode pays whatever its own broker asks, up to the whole wallet.
pub(super) const MAX_PRICE_MSAT: u64 = WALLET_MSAT;

/// The two nodes and a payer connected to the wallet one.
pub(super) struct DevLightning {
    /// Kept so the nodes' shared network lives as long as they do.
    _network: SimNetwork,
    broker_node: SimNode,
    wallet_node: SimNode,
    pub wallet: LndPayer,
}

impl DevLightning {
    /// Starts both nodes with their files under `dir/lightning/`.
    pub(super) async fn start(dir: &Path) -> anyhow::Result<DevLightning> {
        let network = SimNetwork::new();
        let root = dir.join("lightning");
        let broker_node =
            SimNode::start(&network, SimNodeConfig::new("broker", root.join("broker")))
                .await
                .context("starting the broker's Lightning node")?;
        let wallet_node = SimNode::start(
            &network,
            SimNodeConfig::new("wallet", root.join("wallet")).with_balance_msat(WALLET_MSAT),
        )
        .await
        .context("starting the wallet's Lightning node")?;
        let config = LndConfig::new(
            wallet_node.grpc_socket(),
            TlsCertSource::File(wallet_node.tls_cert_path().to_path_buf()),
            MacaroonSource::File(wallet_node.macaroon_path().to_path_buf()),
        );
        let node = LightningNode::connect(&config)
            .await
            .context("connecting to the wallet's Lightning node")?;
        node.get_info()
            .await
            .context("the wallet's Lightning node does not answer")?;
        Ok(DevLightning {
            _network: network,
            broker_node,
            wallet_node,
            wallet: LndPayer::over(node, DEFAULT_MAX_FEE_MSAT),
        })
    }

    /// The broker's `[payments]`: its node over TLS, by endpoint,
    /// certificate file and macaroon file; defaults for the rest.
    pub(super) fn broker_payments(&self) -> PaymentsConfig {
        PaymentsConfig {
            lnd_endpoint: self.broker_node.grpc_socket(),
            lnd_tls_cert: Some(self.broker_node.tls_cert_path().to_path_buf()),
            lnd_macaroon: Some(self.broker_node.macaroon_path().to_path_buf()),
            ..PaymentsConfig::default()
        }
    }

    /// `host:port` of the broker's and the wallet's node.
    pub(super) fn sockets(&self) -> (String, String) {
        (
            self.broker_node.grpc_socket(),
            self.wallet_node.grpc_socket(),
        )
    }

    /// `export` lines that let `shardgate get` pay from the wallet node.
    pub(super) fn wallet_exports(&self) -> [String; 3] {
        [
            format!(
                "export SHARDGATE_PAYER_LND_ENDPOINT={}",
                self.wallet_node.grpc_socket()
            ),
            format!(
                "export SHARDGATE_PAYER_LND_TLS_CERT={}",
                self.wallet_node.tls_cert_path().display()
            ),
            format!(
                "export SHARDGATE_PAYER_LND_MACAROON={}",
                self.wallet_node.macaroon_path().display()
            ),
        ]
    }

    /// Stops both nodes.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        self.wallet_node.shutdown().await?;
        self.broker_node.shutdown().await?;
        Ok(())
    }
}
