//! Operator calls (Admin and Providers services), all with the admin key.

use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// Creates a tenant; the response holds its API key (shown once).
    pub async fn create_tenant(
        &self,
        name: &str,
        quota_bytes: Option<u64>,
    ) -> Result<pb::CreateTenantResponse> {
        let request = pb::CreateTenantRequest {
            name: name.to_owned(),
            quota_bytes,
        };
        Ok(self
            .admin_stub()
            .create_tenant(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// One page of tenants.
    pub async fn list_tenants(
        &self,
        page_size: u32,
        page_token: &str,
    ) -> Result<pb::ListTenantsResponse> {
        let request = pb::ListTenantsRequest {
            page_size,
            page_token: page_token.to_owned(),
        };
        Ok(self
            .admin_stub()
            .list_tenants(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Sets a tenant's quota.
    pub async fn set_tenant_quota(&self, tenant_id: &str, quota_bytes: u64) -> Result<pb::Tenant> {
        let request = pb::SetTenantQuotaRequest {
            tenant_id: tenant_id.to_owned(),
            quota_bytes,
        };
        Ok(self
            .admin_stub()
            .set_tenant_quota(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Issues a tenant a new API key (the old one stops working).
    pub async fn rotate_tenant_key(&self, tenant_id: &str) -> Result<pb::RotateTenantKeyResponse> {
        let request = pb::RotateTenantKeyRequest {
            tenant_id: tenant_id.to_owned(),
        };
        Ok(self
            .admin_stub()
            .rotate_tenant_key(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Runs garbage collection now (or reports what it would collect).
    pub async fn run_gc(&self, dry_run: bool) -> Result<pb::GcReport> {
        Ok(self
            .admin_stub()
            .run_gc(self.admin_request(pb::RunGcRequest { dry_run })?)
            .await?
            .into_inner())
    }

    /// The repair worker's state.
    pub async fn repair_status(&self) -> Result<pb::RepairStatus> {
        Ok(self
            .admin_stub()
            .get_repair_status(self.admin_request(pb::GetRepairStatusRequest {})?)
            .await?
            .into_inner())
    }

    /// Adds a storage provider.
    pub async fn join_provider(
        &self,
        request: pb::JoinProviderRequest,
    ) -> Result<pb::ProviderInfo> {
        Ok(self
            .providers_stub()
            .join(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Every provider with its state.
    pub async fn list_providers(&self) -> Result<Vec<pb::ProviderInfo>> {
        Ok(self
            .providers_stub()
            .list(self.admin_request(pb::ListProvidersRequest {})?)
            .await?
            .into_inner()
            .providers)
    }

    /// Starts moving every shard off a provider.
    pub async fn drain_provider(&self, name: &str) -> Result<pb::ProviderInfo> {
        let request = pb::DrainProviderRequest {
            name: name.to_owned(),
        };
        Ok(self
            .providers_stub()
            .drain(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Removes a drained provider (`force`: even if shards remain).
    pub async fn leave_provider(
        &self,
        name: &str,
        force: bool,
    ) -> Result<pb::LeaveProviderResponse> {
        let request = pb::LeaveProviderRequest {
            name: name.to_owned(),
            force,
        };
        Ok(self
            .providers_stub()
            .leave(self.admin_request(request)?)
            .await?
            .into_inner())
    }

    /// Probes providers (all when `names` is empty).
    pub async fn provider_health(&self, names: Vec<String>) -> Result<pb::ProviderHealthResponse> {
        Ok(self
            .providers_stub()
            .health(self.admin_request(pb::ProviderHealthRequest { names })?)
            .await?
            .into_inner())
    }
}
