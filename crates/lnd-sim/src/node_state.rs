//! The shared state of one simulated node: identity, books, faults, and the
//! update feeds that streaming RPCs follow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::faults::FaultConfig;
use crate::fees::RoutingFee;
use crate::ledger::{IncomingHtlc, Ledger};
use crate::network::SimNetwork;
use crate::node_key::NodeKey;
use crate::records::{InvoiceRecord, PaymentRecord};

/// Updates buffered per subscriber before it is considered lagging (a lagging
/// subscriber re-reads the current state, so nothing is lost but history).
const UPDATE_FEED_CAPACITY: usize = 256;

/// An outgoing payment's HTLC stopped on its way to the payee.
#[derive(Debug, Clone)]
pub(crate) struct StalledHtlc {
    pub payee_pubkey: String,
    pub htlc: IncomingHtlc,
}

pub(crate) struct NodeState {
    pub key: NodeKey,
    pub pubkey_hex: String,
    pub alias: String,
    pub network: SimNetwork,
    ledger: Mutex<Ledger>,
    faults: Mutex<FaultConfig>,
    routing_fee: Mutex<RoutingFee>,
    /// While set, outgoing payments stop in the network (see `switch`).
    stall_payments: AtomicBool,
    /// Outgoing HTLCs held in the network, by payment hash, until
    /// `SimNode::resolve_stalled`.
    stalled: Mutex<HashMap<[u8; 32], StalledHtlc>>,
    online: AtomicBool,
    invoice_updates: broadcast::Sender<InvoiceRecord>,
    payment_updates: broadcast::Sender<PaymentRecord>,
}

impl NodeState {
    pub(crate) fn new(
        alias: String,
        network: SimNetwork,
        balance_msat: u64,
        faults: FaultConfig,
        routing_fee: RoutingFee,
    ) -> Self {
        let key = NodeKey::generate();
        NodeState {
            pubkey_hex: hex::encode(key.pubkey()),
            key,
            alias,
            network,
            ledger: Mutex::new(Ledger::new(balance_msat)),
            faults: Mutex::new(faults),
            routing_fee: Mutex::new(routing_fee),
            stall_payments: AtomicBool::new(false),
            stalled: Mutex::new(HashMap::new()),
            online: AtomicBool::new(true),
            invoice_updates: broadcast::channel(UPDATE_FEED_CAPACITY).0,
            payment_updates: broadcast::channel(UPDATE_FEED_CAPACITY).0,
        }
    }

    /// The books. Never hold the guard across an `.await` or while locking
    /// another node's ledger.
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // Ledger methods leave it consistent at every return, so a panic in
        // another holder does not make the data unusable.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> FaultConfig {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_faults(&self, faults: FaultConfig) {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    pub(crate) fn routing_fee(&self) -> RoutingFee {
        *self
            .routing_fee
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_routing_fee(&self, fee: RoutingFee) {
        *self
            .routing_fee
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fee;
    }

    pub(crate) fn stalls_payments(&self) -> bool {
        self.stall_payments.load(Ordering::SeqCst)
    }

    pub(crate) fn set_stall_payments(&self, stall: bool) {
        self.stall_payments.store(stall, Ordering::SeqCst);
    }

    /// The stalled HTLCs. Like the ledger: never hold the guard across an
    /// `.await` or while locking a ledger.
    pub(crate) fn stalled(&self) -> MutexGuard<'_, HashMap<[u8; 32], StalledHtlc>> {
        // Single inserts and removes: a poisoned map is still consistent.
        self.stalled.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    pub(crate) fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
    }

    /// Injected latency, applied at the top of every RPC.
    pub(crate) async fn gate(&self) {
        let latency = self.faults().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    pub(crate) fn publish_invoice(&self, invoice: InvoiceRecord) {
        // No subscribers is fine: nobody is watching.
        let _ = self.invoice_updates.send(invoice);
    }

    pub(crate) fn publish_payment(&self, payment: PaymentRecord) {
        let _ = self.payment_updates.send(payment);
    }

    pub(crate) fn invoice_feed(&self) -> broadcast::Receiver<InvoiceRecord> {
        self.invoice_updates.subscribe()
    }

    pub(crate) fn payment_feed(&self) -> broadcast::Receiver<PaymentRecord> {
        self.payment_updates.subscribe()
    }

    /// Cancels OPEN invoices past expiry and tells subscribers.
    pub(crate) fn sweep_expired(&self) {
        let now = self.network.now_unix();
        let expired = self.ledger().expire_due(now);
        for invoice in expired {
            self.publish_invoice(invoice);
        }
    }
}
