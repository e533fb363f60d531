//! Which providers the broker uses and how it remembers them: the config
//! file's providers join at every start; providers joined through the
//! Providers service are stored in the index with their config sealed under
//! a key derived from the master key, and re-join at start.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use prost::Message;
use shardgate_index::{ProviderRecord, ProviderState};
use shardgate_proto::v1 as pb;

use crate::error::BrokerError;
use crate::service::provider_config::{
    api_weight, from_backend, redacted, registry_weight, to_backend,
};
use crate::state::{Broker, now_unix_ms};

/// What the API shows about a provider beyond the registry's status.
#[derive(Debug, Clone)]
pub struct ProviderMeta {
    /// The config with secrets emptied.
    pub config: pb::ProviderConfig,
    pub weight: u32,
    pub joined_at_unix_ms: u64,
    /// Stored in the index (joined through the API), as opposed to the
    /// broker's config file.
    pub persisted: bool,
}

/// Name → [`ProviderMeta`].
#[derive(Debug, Default)]
pub struct ProviderDirectory(Mutex<BTreeMap<String, ProviderMeta>>);

impl ProviderDirectory {
    pub fn get(&self, name: &str) -> Option<ProviderMeta> {
        self.lock().get(name).cloned()
    }

    pub fn insert(&self, name: &str, meta: ProviderMeta) {
        self.lock().insert(name.to_owned(), meta);
    }

    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProviderMeta>> {
        // Every change is a single insert/remove: a panic cannot leave it torn.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Joins the config file's providers, then those stored in the index. A
/// provider that fails its probe at start is logged and skipped (the
/// broker still serves what the others hold).
pub async fn load_providers(broker: &Broker) -> Result<(), BrokerError> {
    for cfg in &broker.config.providers {
        match broker.registry.join(cfg.clone()).await {
            Ok(()) => broker.directory.insert(
                &cfg.name,
                ProviderMeta {
                    config: from_backend(cfg),
                    weight: api_weight(cfg.weight),
                    joined_at_unix_ms: now_unix_ms(),
                    persisted: false,
                },
            ),
            Err(e) => {
                tracing::error!(provider = %cfg.name, error = %e, "provider from config did not join")
            }
        }
    }
    for record in broker.index.providers().await? {
        if broker.directory.get(&record.name).is_some() {
            continue;
        }
        let config = match open_record(broker, &record) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(provider = %record.name, error = %e, "stored provider skipped");
                continue;
            }
        };
        let weight = api_weight(record.weight);
        let joined = match to_backend(&record.name, weight, &config) {
            Ok(cfg) => broker.registry.join(cfg).await.map_err(BrokerError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = joined {
            tracing::error!(provider = %record.name, error = %e, "stored provider did not join");
            continue;
        }
        if record.state == ProviderState::Draining {
            broker.registry.drain(&record.name)?;
        }
        broker.directory.insert(
            &record.name,
            ProviderMeta {
                config: redacted(&config),
                weight,
                joined_at_unix_ms: now_unix_ms(),
                persisted: true,
            },
        );
    }
    Ok(())
}

/// The stored record of an API-joined provider.
pub fn seal_record(
    broker: &Broker,
    name: &str,
    weight: u32,
    config: &pb::ProviderConfig,
    state: ProviderState,
) -> Result<ProviderRecord, BrokerError> {
    Ok(ProviderRecord {
        name: name.to_owned(),
        config_sealed: broker
            .keys
            .seal_provider_config(name, &config.encode_to_vec())?,
        weight: registry_weight(weight),
        state,
    })
}

fn open_record(
    broker: &Broker,
    record: &ProviderRecord,
) -> Result<pb::ProviderConfig, BrokerError> {
    let bytes = broker
        .keys
        .open_provider_config(&record.name, &record.config_sealed)?;
    pb::ProviderConfig::decode(bytes.as_slice()).map_err(|e| {
        BrokerError::Config(format!(
            "stored config of `{}` does not decode: {e}",
            record.name
        ))
    })
}

/// The stored record re-read for a state change (Drain).
pub async fn stored_record(
    broker: &Broker,
    name: &str,
) -> Result<Option<ProviderRecord>, BrokerError> {
    Ok(broker
        .index
        .providers()
        .await?
        .into_iter()
        .find(|p| p.name == name))
}
