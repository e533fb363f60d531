//! [`Broker`]: the shared state every service handler and worker holds
//! (behind one `Arc`), built once in `server.rs`.

use std::sync::Arc;

use shardgate_backends::ProviderRegistry;
use shardgate_index::Index;

use crate::auth::Authenticator;
use crate::config::BrokerConfig;
use crate::directory::ProviderDirectory;
use crate::gc::GcWorker;
use crate::keys::BrokerKeys;
use crate::limits::TransferLimits;
use crate::memory_budget::MemoryBudget;
use crate::payment::{Cashier, PaymentGate};
use crate::repair::RepairWorker;

/// Everything a request needs.
pub(crate) struct Broker {
    pub config: BrokerConfig,
    pub index: Arc<dyn Index>,
    pub registry: ProviderRegistry,
    pub keys: BrokerKeys,
    pub auth: Authenticator,
    /// Decides whether a download may be served (payments plug in here).
    pub payments: Arc<dyn PaymentGate>,
    /// Invoices, LND and the ledger; `None` without `[payments]`.
    pub cashier: Option<Arc<Cashier>>,
    pub gc: GcWorker,
    /// Scrub, re-creation of lost shards, drains.
    pub repair: RepairWorker,
    /// Permits for CPU-bound work (sealing, rebuilding) on the blocking
    /// pool, one per core: many concurrent uploads queue here instead of
    /// oversubscribing the CPU with hundreds of blocking threads.
    pub cpu: Arc<tokio::sync::Semaphore>,
    /// Bytes all transfers together may hold in chunk buffers.
    pub memory: MemoryBudget,
    /// What the API shows about each joined provider.
    pub directory: ProviderDirectory,
    /// Put and Get streams in flight per client address and tenant.
    pub transfers: Arc<TransferLimits>,
}

impl Broker {
    /// Runs CPU-bound `job` on the blocking pool once a CPU permit is free.
    pub(crate) async fn compute<T, F>(&self, job: F) -> Result<T, crate::error::BrokerError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit =
            self.cpu.clone().acquire_owned().await.map_err(|_| {
                crate::error::BrokerError::Internal("CPU semaphore closed".to_owned())
            })?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| crate::error::BrokerError::Internal(format!("blocking task failed: {e}")))
    }
}
