//! Which providers the broker uses and how it remembers them: the config
//! file's providers join at every start; providers joined through the
//! Providers service are stored in the index with their config sealed under
//! a key derived from the master key, and re-join at start.

use prost::Message;
use shardgate_backends::ProviderConfig;
use shardgate_index::{ProviderRecord, ProviderState};
use shardgate_proto::v1 as pb;

use crate::clock::now_unix_ms;
use crate::directory::ProviderMeta;
use crate::error::BrokerError;
use crate::provider_config::{api_weight, from_backend, redacted, registry_weight, to_backend};
use crate::state::Broker;

/// A provider that should be joined but failed its probe at start.
pub(crate) struct PendingJoin {
    config: ProviderConfig,
    meta: ProviderMeta,
    draining: bool,
}

/// Joins the config file's providers, then those stored in the index. A
/// provider that fails its probe is logged and returned, for
/// [`rejoin_pending`] to retry: the broker still serves what the others
/// hold, and the provider comes in once it answers.
pub(crate) async fn load_providers(broker: &Broker) -> Result<Vec<PendingJoin>, BrokerError> {
    let mut wanted = Vec::new();
    for cfg in &broker.config.providers {
        wanted.push(PendingJoin {
            meta: ProviderMeta {
                config: from_backend(cfg),
                weight: api_weight(cfg.weight),
                joined_at_unix_ms: 0,
                persisted: false,
            },
            config: cfg.clone(),
            draining: false,
        });
    }
    for record in broker.index.providers().await? {
        if wanted.iter().any(|w| w.config.name == record.name) {
            continue;
        }
        match stored_join(broker, &record) {
            Ok(join) => wanted.push(join),
            Err(e) => {
                tracing::error!(provider = %record.name, error = %e, "stored provider skipped")
            }
        }
    }
    let mut pending = Vec::new();
    for join in wanted {
        if let Err((join, e)) = try_join(broker, join).await {
            tracing::error!(provider = %join.config.name, error = %e, "provider did not join; will retry");
            pending.push(join);
        }
    }
    Ok(pending)
}

/// Retries the providers that failed at start, every `every`, until all
/// joined (spawned in the server's worker set).
pub(crate) async fn rejoin_pending(
    broker: std::sync::Arc<Broker>,
    mut pending: Vec<PendingJoin>,
    every: std::time::Duration,
) {
    while !pending.is_empty() {
        tokio::time::sleep(every).await;
        let mut still = Vec::new();
        for join in pending {
            match try_join(&broker, join).await {
                Ok(name) => {
                    tracing::info!(provider = %name, "provider joined after a failed start")
                }
                Err((join, _)) => still.push(join),
            }
        }
        pending = still;
    }
}

/// The join of a provider stored in the index (joined through the API,
/// here or on another replica).
pub(crate) fn stored_join(
    broker: &Broker,
    record: &ProviderRecord,
) -> Result<PendingJoin, BrokerError> {
    let weight = api_weight(record.weight);
    let config = open_record(broker, record)?;
    Ok(PendingJoin {
        config: to_backend(&record.name, weight, &config)?,
        meta: ProviderMeta {
            config: redacted(&config),
            weight,
            joined_at_unix_ms: 0,
            persisted: true,
        },
        draining: record.state == ProviderState::Draining,
    })
}

pub(crate) async fn try_join(
    broker: &Broker,
    mut join: PendingJoin,
) -> Result<String, (PendingJoin, BrokerError)> {
    if let Err(e) = broker.registry.join(join.config.clone()).await {
        return Err((join, e.into()));
    }
    let name = join.config.name.clone();
    if join.draining
        && let Err(e) = broker.registry.drain(&name)
    {
        return Err((join, e.into()));
    }
    join.meta.joined_at_unix_ms = now_unix_ms();
    broker.directory.insert(&name, join.meta);
    Ok(name)
}

/// The stored record of an API-joined provider.
pub(crate) fn seal_record(
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
pub(crate) async fn stored_record(
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
