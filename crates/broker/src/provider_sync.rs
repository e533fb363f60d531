//! Replicas that agree on their providers: a provider joined, drained or
//! removed through one broker replica reaches the others within
//! `provider_sync_interval_ms`. Each replica re-reads the provider records
//! in the shared index and reconciles its own registry — polling, because
//! the records are few and small, and it works the same on redb (one
//! broker: a no-op) and PostgreSQL.
//!
//! Only stored (API-joined) providers are synced: a config-file provider
//! belongs to that replica's config.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use shardgate_index::ProviderState;

use crate::error::BrokerError;
use crate::providers::{stored_join, try_join};
use crate::state::Broker;

/// What one pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncReport {
    pub joined: Vec<String>,
    pub drained: Vec<String>,
    pub dropped: Vec<String>,
}

/// Runs [`sync_once`] every `every` until the task is aborted.
pub(crate) async fn sync_periodically(broker: Arc<Broker>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match sync_once(&broker).await {
            Ok(report) if report != SyncReport::default() => {
                tracing::info!(?report, "providers synced from the index")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "provider sync failed; retrying"),
        }
    }
}

/// One reconciliation of the registry with the stored provider records.
pub(crate) async fn sync_once(broker: &Broker) -> Result<SyncReport, BrokerError> {
    let records = broker.index.providers().await?;
    let mut report = SyncReport::default();
    let registry: Vec<_> = broker.registry.list();
    let stored: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    for record in &records {
        match registry.iter().find(|s| s.name == record.name) {
            None => {
                // Joined elsewhere (or failed its probe here before): join.
                let join = match stored_join(broker, record) {
                    Ok(join) => join,
                    Err(e) => {
                        tracing::warn!(provider = %record.name, error = %e, "stored provider cannot be opened");
                        continue;
                    }
                };
                match try_join(broker, join).await {
                    Ok(name) => report.joined.push(name),
                    Err((_, e)) => {
                        tracing::debug!(provider = %record.name, error = %e, "stored provider not joined yet")
                    }
                }
            }
            Some(status) if record.state == ProviderState::Draining && !status.draining => {
                broker.registry.drain(&record.name)?;
                report.drained.push(record.name.clone());
            }
            Some(_) => {}
        }
    }
    // Removed elsewhere: a provider this replica joined from the index
    // (never one of its config file's) whose record is gone.
    for status in registry {
        let persisted = broker
            .directory
            .get(&status.name)
            .is_some_and(|m| m.persisted);
        if persisted && !stored.contains(status.name.as_str()) {
            broker.registry.leave(&status.name)?;
            broker.directory.remove(&status.name);
            report.dropped.push(status.name);
        }
    }
    Ok(report)
}
