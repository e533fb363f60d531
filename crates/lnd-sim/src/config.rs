//! How to start a simulated node.

use std::path::PathBuf;

use crate::faults::FaultConfig;

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
}

impl SimNodeConfig {
    /// A node with no funds and no faults.
    pub fn new(alias: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        SimNodeConfig {
            alias: alias.into(),
            dir: dir.into(),
            balance_msat: 0,
            faults: FaultConfig::default(),
        }
    }

    /// Funds the node with `msat` millisatoshis of local balance.
    pub fn with_balance_msat(mut self, msat: u64) -> Self {
        self.balance_msat = msat;
        self
    }
}
