//! A simulated Lightning network (broker node + funded payer node) and
//! [`LightningNode`] clients for both, connected over TLS exactly as the
//! broker connects to a real LND: the broker from the files LND writes, the
//! payer from inline PEM + hex (the other configuration form).
#![allow(dead_code)]

use std::time::Duration;

use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::LightningNode;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use tempfile::TempDir;

/// Payer funding: 1,000,000 sat.
pub(crate) const PAYER_BALANCE_MSAT: u64 = 1_000_000_000;
/// Per-call timeout of the clients under test.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on any wait for a payment or an update.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// Invoice expiry used by the tests.
pub(crate) const EXPIRY: Duration = Duration::from_secs(3600);

pub(crate) struct TestNet {
    pub network: SimNetwork,
    pub broker_node: SimNode,
    pub payer_node: SimNode,
    pub broker: LightningNode,
    pub payer: LightningNode,
    _dir: TempDir,
}

impl TestNet {
    pub(crate) async fn start() -> TestNet {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let broker_node = SimNode::start(
            &network,
            SimNodeConfig::new("broker", dir.path().join("broker")),
        )
        .await
        .expect("broker node starts");
        let payer_node = SimNode::start(
            &network,
            SimNodeConfig::new("payer", dir.path().join("payer"))
                .with_balance_msat(PAYER_BALANCE_MSAT),
        )
        .await
        .expect("payer node starts");
        let broker = LightningNode::connect(&file_config(&broker_node))
            .await
            .expect("broker client");
        let payer = LightningNode::connect(&inline_config(&payer_node))
            .await
            .expect("payer client");
        TestNet {
            network,
            broker_node,
            payer_node,
            broker,
            payer,
            _dir: dir,
        }
    }

    pub(crate) async fn shutdown(self) {
        self.payer_node.shutdown().await.expect("payer stops");
        self.broker_node.shutdown().await.expect("broker stops");
    }
}

/// Certificate and macaroon from the node's files.
pub(crate) fn file_config(node: &SimNode) -> LndConfig {
    LndConfig::new(
        node.grpc_socket(),
        TlsCertSource::File(node.tls_cert_path().to_path_buf()),
        MacaroonSource::File(node.macaroon_path().to_path_buf()),
    )
    .with_call_timeout(CALL_TIMEOUT)
}

/// Certificate as PEM text, macaroon as hex.
pub(crate) fn inline_config(node: &SimNode) -> LndConfig {
    LndConfig::new(
        node.grpc_endpoint(),
        TlsCertSource::Pem(node.tls_cert_pem().to_string()),
        MacaroonSource::Hex(node.macaroon_hex()),
    )
    .with_call_timeout(CALL_TIMEOUT)
}
