//! How to start a simulated node.

use std::path::PathBuf;

use crate::faults::FaultConfig;
use crate::fees::RoutingFee;

/// How to start a node.
#[derive(Debug, Clone)]
pub struct SimNodeConfig {
    /// GetInfo alias and certificate common name.
    pub alias: String,
    /// The node's "LND directory": `tls.cert`, `tls.key` and
    /// `data/chain/bitcoin/regtest/admin.macaroon` are written here.
    pub dir: PathBuf,
    /// Spendable local balance (what a payer can send), millisatoshis.
    pub balance_msat: u64,
    /// Faults active from the start.
    pub faults: FaultConfig,
    /// The fee of this node's outgoing payments (default: none).
    pub routing_fee: RoutingFee,
}

impl SimNodeConfig {
    /// A node with no funds and no faults.
    pub fn new(alias: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        SimNodeConfig {
            alias: alias.into(),
            dir: dir.into(),
            balance_msat: 0,
            faults: FaultConfig::default(),
            routing_fee: RoutingFee::ZERO,
        }
    }

    /// Funds the node with `msat` millisatoshis of local balance.
    pub fn with_balance_msat(mut self, msat: u64) -> Self {
        self.balance_msat = msat;
        self
    }

    /// Charges every outgoing payment `base_msat + amount * ppm / 1e6` in
    /// routing fees (see [`RoutingFee`]); change it later with
    /// `SimNode::set_routing_fee`.
    pub fn with_routing_fee(mut self, base_msat: u64, ppm: u64) -> Self {
        self.routing_fee = RoutingFee { base_msat, ppm };
        self
    }
}
