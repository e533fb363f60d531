//! The `shardgate.v1.Storage` service: thin handlers that authenticate,
//! call the pipelines and map errors (once, through `grpc_status.rs`).

use std::sync::Arc;

use shardgate_index::{BlobRecord, TenantRecord};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::storage_server::Storage;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::convert::blob_info;
use crate::error::BrokerError;
use crate::get::locations::{DEFAULT_URL_TTL, MAX_URL_TTL, shard_locations};
use crate::get::{GetStream, get};
use crate::limits::{Payer, TenantKey, WithPermit};
use crate::lookup::{chunk_records, find_blob, not_found};
use crate::put::put;
use crate::redundancy_now::{explain, readable_now};
use crate::service::listing::{decode_token, encode_token, page_error, page_size};
use crate::service::{payment_credential, peer_of, reply};
use crate::state::Broker;
use crate::validate::{
    MAX_CONTENT_TYPE_BYTES, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_TOTAL_BYTES,
    MAX_METADATA_VALUE_BYTES, MAX_NAME_BYTES, check_price, parse_id, visibility,
};

/// Most bytes per GetManifest frame.
const MANIFEST_FRAME: usize = 1 << 20;

/// Storage service handlers.
#[derive(Clone)]
pub(crate) struct StorageService {
    broker: Arc<Broker>,
}

impl StorageService {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    async fn chunks_for_info(
        &self,
        blob: &BlobRecord,
    ) -> Result<Vec<shardgate_index::ChunkRecord>, BrokerError> {
        let manifest = crate::convert::manifest_of(blob)?;
        let mut ids: Vec<_> = manifest.chunks().iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        chunk_records(&self.broker, &ids).await
    }

    async fn info(
        &self,
        blob: &BlobRecord,
        caller: Option<&TenantRecord>,
    ) -> Result<pb::BlobInfo, BrokerError> {
        let chunks = self.chunks_for_info(blob).await?;
        // Redundancy counts only shards that can be read now.
        let (chunks, unreadable) = readable_now(&self.broker.registry, &chunks);
        let owned = caller.is_some_and(|t| t.id == blob.owner);
        let mut info = blob_info(blob, &chunks, owned)?;
        if let Some(report) = info.redundancy.as_mut() {
            explain(report, &unreadable);
        }
        Ok(info)
    }

    /// The caller's own blob, or why not: NOT_FOUND, or PERMISSION_DENIED
    /// for a public blob of someone else (its existence is public anyway).
    async fn own_blob(
        &self,
        tenant: &TenantRecord,
        id_hex: &str,
    ) -> Result<BlobRecord, BrokerError> {
        let id = parse_id(id_hex, "blob_id")?;
        if let Some(blob) = self.broker.index.blob(&tenant.id, &id).await? {
            return Ok(blob);
        }
        if self.broker.index.public_blob(&id).await?.is_some() {
            return Err(BrokerError::PermissionDenied(format!(
                "blob {id} is public but owned by another tenant; only its owner can change or delete it"
            )));
        }
        Err(not_found(&id, true))
    }
}

#[tonic::async_trait]
impl Storage for StorageService {
    async fn put(
        &self,
        request: Request<Streaming<pb::PutRequest>>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            // Held until the upload commits or fails.
            let _permit = self
                .broker
                .transfers
                .admit(peer_of(&request), Some(TenantKey::of(&tenant)))?;
            put(self.broker.clone(), tenant, request.into_inner()).await
        }
        .await;
        reply(result)
    }

    type GetStream = WithPermit<GetStream>;

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<Self::GetStream>, Status> {
        let result = async {
            let caller = self.broker.auth.optional_tenant(request.metadata()).await?;
            let peer = peer_of(&request);
            // Taken before the payment gate runs: a refused stream uses up
            // no credential.
            let permit = self
                .broker
                .transfers
                .admit(peer, caller.as_ref().map(TenantKey::of))?;
            let credential = payment_credential(request.metadata());
            let payer = Payer::grpc(peer, caller.as_ref());
            let stream = get(
                self.broker.clone(),
                caller,
                credential.as_deref(),
                request.get_ref().clone(),
                payer,
            )
            .await?;
            Ok(WithPermit::new(stream, permit))
        }
        .await;
        reply(result)
    }

    async fn stat(
        &self,
        request: Request<pb::StatRequest>,
    ) -> Result<Response<pb::BlobInfo>, Status> {
        let result = async {
            let caller = self.broker.auth.optional_tenant(request.metadata()).await?;
            let id = parse_id(&request.get_ref().blob_id, "blob_id")?;
            let blob = find_blob(&self.broker, caller.as_ref(), &id).await?;
            self.info(&blob, caller.as_ref()).await
        }
        .await;
        reply(result)
    }

    async fn list(
        &self,
        request: Request<pb::ListBlobsRequest>,
    ) -> Result<Response<pb::ListBlobsResponse>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            let req = request.get_ref();
            if req.name_prefix.len() > MAX_NAME_BYTES {
                return Err(BrokerError::invalid(
                    "name_prefix",
                    format!("longer than {MAX_NAME_BYTES} bytes"),
                ));
            }
            let token = decode_token(&req.page_token, &req.name_prefix)?;
            let (blobs, next) = self
                .broker
                .index
                .list_blobs(
                    &tenant.id,
                    &req.name_prefix,
                    token.as_deref(),
                    page_size(req.page_size),
                )
                .await
                .map_err(page_error)?;
            let mut infos = Vec::with_capacity(blobs.len());
            for blob in &blobs {
                infos.push(self.info(blob, Some(&tenant)).await?);
            }
            Ok(pb::ListBlobsResponse {
                blobs: infos,
                next_page_token: next
                    .map(|t| encode_token(&t, &req.name_prefix))
                    .unwrap_or_default(),
            })
        }
        .await;
        reply(result)
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteBlobRequest>,
    ) -> Result<Response<pb::DeleteBlobResponse>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            let blob = self.own_blob(&tenant, &request.get_ref().blob_id).await?;
            if !self
                .broker
                .index
                .delete_blob(&tenant.id, &blob.blob_id)
                .await?
            {
                return Err(not_found(&blob.blob_id, true));
            }
            tracing::info!(blob = %blob.blob_id.short(), "blob deleted");
            if let Some(cashier) = &self.broker.cashier {
                // Its ACCEPTED hold invoices are canceled (the payers keep
                // their funds) by the watcher's next pass, started now.
                cashier.holds_changed.notify_one();
            }
            Ok(pb::DeleteBlobResponse {
                released_quota_bytes: blob.size,
            })
        }
        .await;
        reply(result)
    }

    async fn update_blob(
        &self,
        request: Request<pb::UpdateBlobRequest>,
    ) -> Result<Response<pb::BlobInfo>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            let req = request.get_ref();
            let price = req
                .price
                .as_ref()
                .map(|p| check_price(p, &self.broker.config, "price"))
                .transpose()?;
            let vis = visibility(req.visibility, "visibility")?;
            let blob = self.own_blob(&tenant, &req.blob_id).await?;
            let updated = self
                .broker
                .index
                .update_blob(&tenant.id, &blob.blob_id, price, vis)
                .await?;
            self.info(&updated, Some(&tenant)).await
        }
        .await;
        reply(result)
    }

    async fn get_shard_locations(
        &self,
        request: Request<pb::GetShardLocationsRequest>,
    ) -> Result<Response<pb::GetShardLocationsResponse>, Status> {
        let result = async {
            let caller = self.broker.auth.optional_tenant(request.metadata()).await?;
            let credential = payment_credential(request.metadata());
            let payer = Payer::grpc(peer_of(&request), caller.as_ref());
            shard_locations(
                self.broker.clone(),
                caller,
                credential.as_deref(),
                request.get_ref().clone(),
                payer,
            )
            .await
        }
        .await;
        reply(result)
    }

    type GetManifestStream = ReceiverStream<Result<pb::GetManifestResponse, Status>>;

    async fn get_manifest(
        &self,
        request: Request<pb::GetManifestRequest>,
    ) -> Result<Response<Self::GetManifestStream>, Status> {
        let result = async {
            let caller = self.broker.auth.optional_tenant(request.metadata()).await?;
            let id = parse_id(&request.get_ref().blob_id, "blob_id")?;
            let blob = find_blob(&self.broker, caller.as_ref(), &id).await?;
            let frames: Vec<_> = blob
                .manifest
                .chunks(MANIFEST_FRAME)
                .map(|c| Ok(pb::GetManifestResponse { data: c.to_vec() }))
                .collect();
            // Every frame fits in the channel: the manifest is already in
            // memory, and the sender never waits.
            let (tx, rx) = tokio::sync::mpsc::channel(frames.len().max(1));
            for frame in frames {
                tx.try_send(frame)
                    .map_err(|_| BrokerError::Internal("manifest channel full".to_owned()))?;
            }
            Ok(ReceiverStream::new(rx))
        }
        .await;
        reply(result)
    }

    async fn get_limits(
        &self,
        request: Request<pb::GetLimitsRequest>,
    ) -> Result<Response<pb::Limits>, Status> {
        // No key needed, but a key that is sent must be valid (common.proto).
        reply(self.broker.auth.optional_tenant(request.metadata()).await)?;
        let c = &self.broker.config;
        let l = &c.limits;
        Ok(Response::new(pb::Limits {
            max_data_frame_bytes: l.max_data_frame_bytes,
            min_chunk_size_bytes: shardgate_core::MIN_CHUNK_SIZE as u32,
            max_chunk_size_bytes: shardgate_core::MAX_CHUNK_SIZE as u32,
            default_chunk_size_bytes: c.default_chunk_size,
            max_blob_bytes: l.max_blob_bytes,
            max_k: c.redundancy.max_k,
            max_m: c.redundancy.max_m,
            default_k: c.redundancy.default_k,
            default_m: c.redundancy.default_m,
            healthy_providers: self.broker.registry.writable().len() as u32,
            min_invoice_msat: l.min_invoice_msat,
            max_flat_msat: l.max_flat_msat,
            max_per_mib_msat: l.max_per_mib_msat,
            default_price: Some(pb::Price {
                flat_msat: l.default_flat_msat,
                per_mib_msat: l.default_per_mib_msat,
            }),
            max_invoice_uses: c.payments.as_ref().map_or(0, |p| p.max_invoice_uses),
            invoice_expiry: c.payments.as_ref().map(|p| seconds(p.invoice_expiry_secs)),
            credential_ttl: c.payments.as_ref().map(|p| seconds(p.credential_ttl_secs)),
            hold_accept_timeout: c
                .payments
                .as_ref()
                .map(|p| seconds(p.hold_accept_timeout_secs)),
            max_url_ttl: Some(prost_types::Duration {
                seconds: MAX_URL_TTL.as_secs() as i64,
                nanos: 0,
            }),
            default_url_ttl: Some(prost_types::Duration {
                seconds: DEFAULT_URL_TTL.as_secs() as i64,
                nanos: 0,
            }),
            max_page_size: super::listing::MAX_PAGE_SIZE as u32,
            max_name_bytes: MAX_NAME_BYTES as u32,
            max_content_type_bytes: MAX_CONTENT_TYPE_BYTES as u32,
            max_metadata_entries: MAX_METADATA_ENTRIES as u32,
            max_metadata_key_bytes: MAX_METADATA_KEY_BYTES as u32,
            max_metadata_value_bytes: MAX_METADATA_VALUE_BYTES as u32,
            max_metadata_total_bytes: MAX_METADATA_TOTAL_BYTES as u32,
        }))
    }
}

/// Whole seconds as a protobuf Duration (config values fit i64).
fn seconds(secs: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(secs).unwrap_or(i64::MAX),
        nanos: 0,
    }
}
