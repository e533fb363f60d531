//! The simulated Lightning network: a registry of nodes that can pay each
//! other directly (every node is one hop from every other, no routing), and a
//! shared clock that tests can move forward to expire invoices.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::node_state::NodeState;

/// Simulated chain height at clock offset zero. It grows one block per ten
/// minutes of *advanced* time only, so `GetInfo.block_height` is stable in a
/// test yet moves when the test moves the clock.
const BASE_BLOCK_HEIGHT: u64 = 1_000;
const SECS_PER_BLOCK: u64 = 600;

/// Handle to a network; clones share it. Nodes register on start and
/// unregister on shutdown; the network only holds weak references, so it
/// never keeps a stopped node alive.
#[derive(Clone, Default)]
pub struct SimNetwork {
    inner: Arc<NetworkInner>,
}

#[derive(Default)]
struct NetworkInner {
    nodes: Mutex<HashMap<String, Weak<NodeState>>>,
    clock_offset_secs: AtomicU64,
}

impl std::fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNetwork")
            .field("nodes", &self.node_pubkeys())
            .field("clock_offset_secs", &self.clock_offset_secs())
            .finish()
    }
}

impl SimNetwork {
    /// An empty network with its clock at real time (offset 0).
    pub fn new() -> Self {
        SimNetwork::default()
    }

    /// Moves the network's clock forward: invoices created before now expire
    /// as if `by` had passed. Every node sweeps its expired invoices at once,
    /// so subscribers see the cancellation without waiting.
    pub fn advance_time(&self, by: Duration) {
        self.inner
            .clock_offset_secs
            .fetch_add(by.as_secs(), Ordering::SeqCst);
        for node in self.live_nodes() {
            node.sweep_expired();
        }
    }

    fn clock_offset_secs(&self) -> u64 {
        self.inner.clock_offset_secs.load(Ordering::SeqCst)
    }

    /// Simulated wall clock, unix nanoseconds.
    pub fn now_unix_nanos(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let nanos = u64::try_from(real.as_nanos()).unwrap_or(u64::MAX);
        nanos.saturating_add(self.clock_offset_secs().saturating_mul(1_000_000_000))
    }

    /// Simulated wall clock, unix seconds.
    pub fn now_unix(&self) -> u64 {
        self.now_unix_nanos() / 1_000_000_000
    }

    /// Simulated best block height.
    pub fn block_height(&self) -> u32 {
        let height = BASE_BLOCK_HEIGHT + self.clock_offset_secs() / SECS_PER_BLOCK;
        u32::try_from(height).unwrap_or(u32::MAX)
    }

    /// Hex public keys of the registered, still running nodes.
    pub fn node_pubkeys(&self) -> Vec<String> {
        self.live_nodes()
            .iter()
            .map(|n| n.pubkey_hex.clone())
            .collect()
    }

    pub(crate) fn register(&self, node: &Arc<NodeState>) {
        self.lock_nodes()
            .insert(node.pubkey_hex.clone(), Arc::downgrade(node));
    }

    pub(crate) fn unregister(&self, pubkey_hex: &str) {
        self.lock_nodes().remove(pubkey_hex);
    }

    /// A node that can take part in a payment right now (registered, alive
    /// and not `set_down`).
    pub(crate) fn reachable(&self, pubkey_hex: &str) -> Option<Arc<NodeState>> {
        let node = self.lock_nodes().get(pubkey_hex)?.upgrade()?;
        node.is_online().then_some(node)
    }

    /// A registered node, online or not (hold-invoice resolution must still
    /// reach a payer whose RPC server is down).
    pub(crate) fn registered(&self, pubkey_hex: &str) -> Option<Arc<NodeState>> {
        self.lock_nodes().get(pubkey_hex)?.upgrade()
    }

    fn live_nodes(&self) -> Vec<Arc<NodeState>> {
        self.lock_nodes()
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn lock_nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<NodeState>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.inner
            .nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
