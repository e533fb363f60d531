//! The `shardgate.v1.Admin` service (admin key required): tenants, GC and
//! the repair worker's status.

use std::sync::Arc;

use shardgate_index::{MAX_PAGE_LIMIT, TenantId, TenantRecord};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::admin_server::Admin;
use tonic::{Request, Response, Status};

use crate::auth::new_api_key;
use crate::clock::now_unix_ms;
use crate::convert::{tenant as tenant_info, timestamp};
use crate::error::BrokerError;
use crate::gc::Worker;
use crate::repair::RepairSnapshot;
use crate::service::listing::page_size;
use crate::service::reply;
use crate::state::Broker;

/// Longest tenant name, bytes.
const MAX_TENANT_NAME_BYTES: usize = 128;

#[derive(Clone)]
pub(crate) struct AdminService {
    broker: Arc<Broker>,
}

impl AdminService {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    async fn blob_count(&self, id: &TenantId) -> Result<u64, BrokerError> {
        let mut count = 0u64;
        let mut token: Option<String> = None;
        loop {
            let (page, next) = self
                .broker
                .index
                .list_blobs(id, "", token.as_deref(), MAX_PAGE_LIMIT)
                .await?;
            count += page.len() as u64;
            match next {
                Some(t) => token = Some(t),
                None => return Ok(count),
            }
        }
    }

    async fn tenant(&self, id_hex: &str) -> Result<TenantRecord, BrokerError> {
        let id = tenant_id(id_hex)?;
        self.broker
            .index
            .tenant(&id)
            .await?
            .ok_or_else(|| BrokerError::NotFound(format!("no tenant {id_hex}")))
    }

    async fn info(&self, t: &TenantRecord) -> Result<pb::Tenant, BrokerError> {
        Ok(tenant_info(t, self.blob_count(&t.id).await?))
    }
}

/// The repair worker's snapshot on the wire: chunk health from the last
/// full pass (zeros before the first one), counters since start.
fn repair_status(s: &RepairSnapshot) -> pb::RepairStatus {
    let last = s.last_full.unwrap_or_default();
    pb::RepairStatus {
        running: s.running,
        queue_length: s.queue_length(),
        chunks_healthy: last.chunks_healthy,
        chunks_degraded: last.chunks_degraded,
        chunks_unreadable: last.chunks_unreadable,
        shards_scrubbed_total: s.totals.shards_scrubbed,
        shards_bad_found_total: s.totals.shards_bad,
        shards_repaired_total: s.totals.shards_rebuilt + s.totals.shards_moved,
        last_scrub_started_at: s.last_scrub_started_at_unix_ms.map(timestamp),
        last_scrub_finished_at: s.last_scrub_finished_at_unix_ms.map(timestamp),
    }
}

/// Tenant ids on the wire: 64 lowercase hex characters.
fn tenant_id(s: &str) -> Result<TenantId, BrokerError> {
    let ok = s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(BrokerError::invalid(
            "tenant_id",
            "must be exactly 64 lowercase hex characters",
        ));
    }
    TenantId::new(s).map_err(|e| BrokerError::invalid("tenant_id", e.to_string()))
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::CreateTenantResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let req = request.get_ref();
            if req.name.is_empty()
                || req.name.len() > MAX_TENANT_NAME_BYTES
                || req.name.chars().any(char::is_control)
            {
                return Err(BrokerError::invalid(
                    "name",
                    format!("must be 1..={MAX_TENANT_NAME_BYTES} bytes without control characters"),
                ));
            }
            if self
                .broker
                .index
                .list_tenants()
                .await?
                .iter()
                .any(|t| t.name == req.name)
            {
                return Err(BrokerError::AlreadyExists(format!(
                    "a tenant named {:?} exists",
                    req.name
                )));
            }
            let id_bytes: [u8; 32] = rand::random();
            let id = tenant_id(&hex::encode(id_bytes))?;
            let (api_key, hash) = new_api_key();
            let record = TenantRecord {
                id,
                name: req.name.clone(),
                api_key_hash: hash,
                quota_bytes: req
                    .quota_bytes
                    .unwrap_or(self.broker.config.default_quota_bytes),
                used_bytes: 0,
                created_at_unix_ms: now_unix_ms(),
            };
            self.broker.index.create_tenant(record.clone()).await?;
            tracing::info!(tenant = %record.id, "tenant created");
            Ok(pb::CreateTenantResponse {
                tenant: Some(tenant_info(&record, 0)),
                api_key,
            })
        }
        .await;
        reply(result)
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let req = request.get_ref();
            let after = if req.page_token.is_empty() {
                None
            } else {
                let bytes = hex::decode(&req.page_token).map_err(|_| {
                    BrokerError::invalid("page_token", "not a token this listing returned")
                })?;
                Some(String::from_utf8(bytes).map_err(|_| {
                    BrokerError::invalid("page_token", "not a token this listing returned")
                })?)
            };
            let mut all = self.broker.index.list_tenants().await?;
            all.sort_by(|a, b| a.name.cmp(&b.name));
            let size = page_size(req.page_size);
            let rest: Vec<_> = all
                .into_iter()
                .filter(|t| after.as_ref().is_none_or(|a| t.name.as_str() > a.as_str()))
                .collect();
            let more = rest.len() > size;
            let mut tenants = Vec::new();
            for t in rest.iter().take(size) {
                tenants.push(self.info(t).await?);
            }
            let next_page_token = match (more, tenants.last()) {
                (true, Some(last)) => hex::encode(&last.name),
                _ => String::new(),
            };
            Ok(pb::ListTenantsResponse {
                tenants,
                next_page_token,
            })
        }
        .await;
        reply(result)
    }

    async fn set_tenant_quota(
        &self,
        request: Request<pb::SetTenantQuotaRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let req = request.get_ref();
            let t = self.tenant(&req.tenant_id).await?;
            self.broker.index.set_quota(&t.id, req.quota_bytes).await?;
            let t = self.tenant(&req.tenant_id).await?;
            self.info(&t).await
        }
        .await;
        reply(result)
    }

    async fn rotate_tenant_key(
        &self,
        request: Request<pb::RotateTenantKeyRequest>,
    ) -> Result<Response<pb::RotateTenantKeyResponse>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let t = self.tenant(&request.get_ref().tenant_id).await?;
            let (api_key, hash) = new_api_key();
            self.broker.index.set_api_key_hash(&t.id, hash).await?;
            tracing::info!(tenant = %t.id, "tenant key rotated");
            Ok(pb::RotateTenantKeyResponse {
                tenant: Some(self.info(&t).await?),
                api_key,
            })
        }
        .await;
        reply(result)
    }

    async fn run_gc(
        &self,
        request: Request<pb::RunGcRequest>,
    ) -> Result<Response<pb::GcReport>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            let dry_run = request.get_ref().dry_run;
            let started = now_unix_ms();
            let report = if dry_run {
                self.broker.gc.dry_run().await?
            } else {
                self.broker.gc.run_once().await?
            };
            Ok(pb::GcReport {
                dry_run,
                // Shards of released chunks and shard objects no record
                // names (orphans older than the grace period), together.
                orphan_shards_found: report.shards_found + report.orphans.found,
                orphan_shards_deleted: report.shards_deleted + report.orphans.deleted,
                bytes_freed: report.bytes_freed,
                chunks_released: report.chunks_released,
                grace_period: Some(prost_types::Duration {
                    seconds: self.broker.gc.orphan_grace().as_secs() as i64,
                    nanos: 0,
                }),
                started_at: Some(timestamp(started)),
                finished_at: Some(timestamp(now_unix_ms())),
            })
        }
        .await;
        reply(result)
    }

    async fn get_repair_status(
        &self,
        request: Request<pb::GetRepairStatusRequest>,
    ) -> Result<Response<pb::RepairStatus>, Status> {
        let result = async {
            self.broker.auth.admin(request.metadata()).await?;
            Ok(repair_status(&self.broker.repair.status()))
        }
        .await;
        reply(result)
    }
}
