//! The `shardgate.v1.Providers` service (admin key required).

use std::sync::Arc;

use shardgate_backends::{BackendErrorKind, ProviderStatus};
use shardgate_core::SHARD_HEADER_LEN;
use shardgate_core::erasure::shard_len_for;
use shardgate_index::{MAX_PAGE_LIMIT, ProviderState};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::providers_server::Providers;
use tonic::{Request, Response, Status};

use crate::clock::now_unix_ms;
use crate::convert::timestamp;
use crate::directory::ProviderMeta;
use crate::error::BrokerError;
use crate::provider_config::{
    DEFAULT_WEIGHT, MAX_WEIGHT, api_weight, check_provider_name, redacted, to_backend,
};
use crate::providers::{seal_record, stored_record};
use crate::service::reply;
use crate::state::Broker;

#[derive(Clone)]
pub(crate) struct ProvidersService {
    broker: Arc<Broker>,
}

impl ProvidersService {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    fn status(&self, name: &str) -> Result<ProviderStatus, BrokerError> {
        self.broker
            .registry
            .list()
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| BrokerError::NotFound(format!("no provider named `{name}` is joined")))
    }

    /// Shard count and bytes the index places on `name` (pages through it).
    async fn stored(&self, name: &str) -> Result<(u64, u64), BrokerError> {
        let (mut shards, mut bytes) = (0u64, 0u64);
        let mut after = None;
        loop {
            let page = self
                .broker
                .index
                .shards_on_provider(name, after, MAX_PAGE_LIMIT)
                .await?;
            for chunk in &page {
                let object = (SHARD_HEADER_LEN
                    + shard_len_for(chunk.sealed_len as usize, usize::from(chunk.k)))
                    as u64;
                let here = chunk.shards.iter().filter(|s| s.provider == name).count() as u64;
                shards += here;
                bytes += here * object;
            }
            match page.last() {
                Some(last) if page.len() == MAX_PAGE_LIMIT => after = Some(last.chunk_id),
                _ => return Ok((shards, bytes)),
            }
        }
    }

    async fn info(&self, name: &str) -> Result<pb::ProviderInfo, BrokerError> {
        let status = self.status(name)?;
        let meta = self.broker.directory.get(name);
        let (shards_stored, bytes_stored) = self.stored(name).await?;
        let can_presign = self.broker.registry.store(name)?.capability().presign_read;
        Ok(pb::ProviderInfo {
            name: name.to_owned(),
            config: meta.as_ref().map(|m| m.config.clone()),
            weight: meta
                .as_ref()
                .map_or(api_weight(status.weight), |m| m.weight),
            state: state_of(&status) as i32,
            joined_at: meta.map(|m| timestamp(m.joined_at_unix_ms)),
            shards_stored,
            bytes_stored,
            can_presign,
        })
    }
}

fn state_of(s: &ProviderStatus) -> pb::ProviderState {
    if s.draining {
        pb::ProviderState::Draining
    } else if !s.up {
        pb::ProviderState::Down
    } else if s.consecutive_failures > 0 {
        pb::ProviderState::Degraded
    } else {
        pb::ProviderState::Up
    }
}

#[tonic::async_trait]
impl Providers for ProvidersService {
    async fn join(
        &self,
        request: Request<pb::JoinProviderRequest>,
    ) -> Result<Response<pb::ProviderInfo>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let req = request.get_ref();
            check_provider_name(&req.name)?;
            let weight = match req.weight {
                0 => DEFAULT_WEIGHT,
                w if w <= MAX_WEIGHT => w,
                w => {
                    return Err(BrokerError::invalid(
                        "weight",
                        format!("{w} is outside 1..={MAX_WEIGHT}"),
                    ));
                }
            };
            let config = req
                .config
                .as_ref()
                .ok_or_else(|| BrokerError::invalid("config", "is required"))?;
            let backend = to_backend(&req.name, weight, config)?;
            if self.broker.directory.get(&req.name).is_some() {
                return Err(BrokerError::AlreadyExists(format!(
                    "a provider named `{}` is already joined",
                    req.name
                )));
            }
            // Probes (write, read back, delete) before accepting.
            self.broker
                .registry
                .join(backend)
                .await
                .map_err(|e| match e.kind() {
                    BackendErrorKind::AlreadyExists => BrokerError::AlreadyExists(format!(
                        "a provider named `{}` is already joined",
                        req.name
                    )),
                    BackendErrorKind::InvalidConfig { .. } => {
                        BrokerError::invalid("config", e.to_string())
                    }
                    _ => BrokerError::FailedPrecondition(format!(
                        "the provider failed its probe: {e}"
                    )),
                })?;
            let record = seal_record(
                &self.broker,
                &req.name,
                weight,
                config,
                ProviderState::Active,
            )?;
            if let Err(e) = self.broker.index.put_provider(record).await {
                // Not remembered, so not joined: undo.
                let _ = self.broker.registry.leave(&req.name);
                return Err(e.into());
            }
            self.broker.directory.insert(
                &req.name,
                ProviderMeta {
                    config: redacted(config),
                    weight,
                    joined_at_unix_ms: now_unix_ms(),
                    persisted: true,
                },
            );
            tracing::info!(provider = %req.name, "provider joined");
            self.info(&req.name).await
        }
        .await;
        reply(result)
    }

    async fn list(
        &self,
        request: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let mut providers = Vec::new();
            for status in self.broker.registry.list() {
                providers.push(self.info(&status.name).await?);
            }
            Ok(pb::ListProvidersResponse { providers })
        }
        .await;
        reply(result)
    }

    async fn drain(
        &self,
        request: Request<pb::DrainProviderRequest>,
    ) -> Result<Response<pb::ProviderInfo>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let name = &request.get_ref().name;
            self.status(name)?;
            self.broker.registry.drain(name)?;
            if let Some(mut record) = stored_record(&self.broker, name).await? {
                record.state = ProviderState::Draining;
                self.broker.index.put_provider(record).await?;
            }
            self.info(name).await
        }
        .await;
        reply(result)
    }

    async fn leave(
        &self,
        request: Request<pb::LeaveProviderRequest>,
    ) -> Result<Response<pb::LeaveProviderResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let req = request.get_ref();
            self.status(&req.name)?;
            let mut queued = 0u64;
            let mut after = None;
            loop {
                let page = self.broker.index.shards_on_provider(&req.name, after, MAX_PAGE_LIMIT).await?;
                if !page.is_empty() && !req.force {
                    return Err(BrokerError::FailedPrecondition(format!(
                        "provider `{}` still holds shards; Drain it and wait for shards_stored to reach 0, or use force",
                        req.name
                    )));
                }
                for chunk in &page {
                    let elsewhere = chunk.shards.iter().filter(|s| s.provider != req.name).count();
                    if elsewhere < usize::from(chunk.k) {
                        return Err(BrokerError::FailedPrecondition(format!(
                            "removing `{}` would leave chunk {} with {elsewhere} shards, fewer than k={}; add providers or let repair catch up",
                            req.name,
                            chunk.chunk_id.short(),
                            chunk.k
                        )));
                    }
                    queued += (chunk.shards.len() - elsewhere) as u64;
                }
                match page.last() {
                    Some(last) if page.len() == MAX_PAGE_LIMIT => after = Some(last.chunk_id),
                    _ => break,
                }
            }
            // The stored record goes first: from then on no replica's
            // provider sync joins it again (provider_sync.rs), and theirs
            // drop it within a sync interval.
            if self.broker.directory.get(&req.name).is_some_and(|m| m.persisted) {
                self.broker.index.remove_provider(&req.name).await?;
            }
            // This replica's own sync may have dropped it already.
            if let Err(e) = self.broker.registry.leave(&req.name)
                && *e.kind() != BackendErrorKind::UnknownProvider
            {
                return Err(e.into());
            }
            self.broker.directory.remove(&req.name);
            tracing::info!(provider = %req.name, queued, "provider left");
            Ok(pb::LeaveProviderResponse {
                shards_queued_for_repair: queued,
            })
        }
        .await;
        reply(result)
    }

    async fn health(
        &self,
        request: Request<pb::ProviderHealthRequest>,
    ) -> Result<Response<pb::ProviderHealthResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let names = &request.get_ref().names;
            let all = self.broker.registry.list();
            for name in names {
                if !all.iter().any(|s| &s.name == name) {
                    return Err(BrokerError::NotFound(format!(
                        "no provider named `{name}` is joined"
                    )));
                }
            }
            let providers = all
                .iter()
                .filter(|s| names.is_empty() || names.contains(&s.name))
                .map(|s| pb::ProviderHealth {
                    name: s.name.clone(),
                    state: state_of(s) as i32,
                    consecutive_failures: s.consecutive_failures,
                    ..Default::default()
                })
                .collect();
            Ok(pb::ProviderHealthResponse { providers })
        }
        .await;
        reply(result)
    }
}
