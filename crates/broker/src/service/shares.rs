//! The `shardgate.v1.Shares` service: an owner creates, lists and revokes
//! share links (`docs/sharing.md`). The link's secret never comes here:
//! only the read token (stored as its BLAKE3) and, for end-to-end blobs,
//! the file key and name sealed under a key the broker never sees.

use std::sync::Arc;

use shardgate_core::share::{MAX_SEALED_NAME_BYTES, WRAPPED_FILE_KEY_LEN};
use shardgate_core::{KeyMode, ReadToken};
use shardgate_index::{ShareId, ShareRecord, ShareState, TenantRecord};
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::shares_server::Shares;
use tonic::{Request, Response, Status};

use crate::clock::now_unix_ms;
use crate::convert::timestamp;
use crate::error::BrokerError;
use crate::lookup::not_found;
use crate::service::listing::{decode_token, encode_token, page_error, page_size};
use crate::service::reply;
use crate::state::Broker;
use crate::validate::{check_price, parse_id};

/// Longest expiry a share may ask for.
const MAX_EXPIRY_SECS: i64 = 3650 * 24 * 3600;
/// AES-GCM adds a nonce and a tag to the sealed name.
const MAX_SEALED_NAME_LEN: usize = MAX_SEALED_NAME_BYTES + 12 + 16;

/// Shares service handlers.
#[derive(Clone)]
pub(crate) struct SharesService {
    broker: Arc<Broker>,
}

impl SharesService {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    async fn create(
        &self,
        tenant: TenantRecord,
        req: &pb::CreateShareRequest,
    ) -> Result<pb::CreateShareResponse, BrokerError> {
        let blob_id = parse_id(&req.blob_id, "blob_id")?;
        let blob = self
            .broker
            .index
            .blob(&tenant.id, &blob_id)
            .await?
            .ok_or_else(|| not_found(&blob_id, true))?;
        let token: [u8; 32] = req.read_token.as_slice().try_into().map_err(|_| {
            BrokerError::invalid(
                "read_token",
                "must be the 32-byte HKDF(secret, \"shardgate/v1/share/read-token\")",
            )
        })?;
        let (wrapped_key, sealed_name) = match blob.key_mode {
            KeyMode::EndToEnd => {
                if req.wrapped_file_key.len() != WRAPPED_FILE_KEY_LEN {
                    return Err(BrokerError::invalid(
                        "wrapped_file_key",
                        format!(
                            "an end-to-end blob needs its file key wrapped for the share ({WRAPPED_FILE_KEY_LEN} bytes), got {}",
                            req.wrapped_file_key.len()
                        ),
                    ));
                }
                if req.sealed_name.len() > MAX_SEALED_NAME_LEN {
                    return Err(BrokerError::invalid(
                        "sealed_name",
                        format!("longer than {MAX_SEALED_NAME_LEN} bytes"),
                    ));
                }
                let name = (!req.sealed_name.is_empty()).then(|| req.sealed_name.clone());
                (Some(req.wrapped_file_key.clone()), name)
            }
            KeyMode::Managed => {
                if !req.wrapped_file_key.is_empty() || !req.sealed_name.is_empty() {
                    return Err(BrokerError::invalid(
                        "wrapped_file_key",
                        "a managed blob is decrypted by the broker: send no wrapped key or sealed name",
                    ));
                }
                (None, None)
            }
        };
        let now = now_unix_ms();
        let expires_at_unix_ms = match &req.expires_in {
            None => None,
            Some(d) if d.seconds < 0 || d.nanos < 0 || (d.seconds == 0 && d.nanos == 0) => {
                return Err(BrokerError::invalid("expires_in", "must be positive"));
            }
            Some(d) if d.seconds > MAX_EXPIRY_SECS => {
                return Err(BrokerError::invalid(
                    "expires_in",
                    "at most 3650 days (leave it unset for no expiry)",
                ));
            }
            Some(d) => Some(now + d.seconds as u64 * 1000 + d.nanos as u64 / 1_000_000),
        };
        if let Some(price) = req.price_msat {
            let limits = &self.broker.config.limits;
            check_price(
                &pb::Price {
                    flat_msat: price,
                    per_mib_msat: 0,
                },
                &self.broker.config,
                "price_msat",
            )?;
            if self.broker.cashier.is_some() && price < limits.min_invoice_msat {
                return Err(BrokerError::invalid(
                    "price_msat",
                    format!(
                        "below Limits.min_invoice_msat {} (leave it unset for the blob's own price)",
                        limits.min_invoice_msat
                    ),
                ));
            }
        }
        let record = ShareRecord {
            share_id: ShareId(rand::random()),
            blob_id,
            owner: tenant.id.clone(),
            token_hash: ReadToken::from_bytes(token).hash(),
            wrapped_key,
            sealed_name,
            price_msat: req.price_msat,
            expires_at_unix_ms,
            max_downloads: req.max_downloads,
            downloads: 0,
            revoked_at_unix_ms: None,
            created_at_unix_ms: now,
        };
        self.broker.index.create_share(record.clone()).await?;
        tracing::info!(share = %record.share_id, blob = %blob_id.short(), "share created");
        Ok(pb::CreateShareResponse {
            share: Some(share_message(&record)),
            gateway_url: self.broker.config.public_url.clone().unwrap_or_default(),
        })
    }

    async fn list(
        &self,
        tenant: TenantRecord,
        req: &pb::ListSharesRequest,
    ) -> Result<pb::ListSharesResponse, BrokerError> {
        let blob = if req.blob_id.is_empty() {
            None
        } else {
            Some(parse_id(&req.blob_id, "blob_id")?)
        };
        let after = decode_token(&req.page_token, &req.blob_id)?
            .map(|t| ShareId::parse(&t))
            .transpose()
            .map_err(page_error)?;
        let limit = page_size(req.page_size);
        let shares = self
            .broker
            .index
            .list_shares(&tenant.id, blob.as_ref(), after.as_ref(), limit)
            .await?;
        let next = (shares.len() == limit)
            .then(|| {
                shares
                    .last()
                    .map(|s| encode_token(&s.share_id.to_string(), &req.blob_id))
            })
            .flatten()
            .unwrap_or_default();
        Ok(pb::ListSharesResponse {
            shares: shares.iter().map(share_message).collect(),
            next_page_token: next,
        })
    }

    async fn revoke(
        &self,
        tenant: TenantRecord,
        req: &pb::RevokeShareRequest,
    ) -> Result<pb::Share, BrokerError> {
        let id = ShareId::parse(&req.share_id).map_err(|_| {
            BrokerError::invalid("share_id", "must be 22 characters of unpadded base64url")
        })?;
        let share = self
            .broker
            .index
            .revoke_share(&tenant.id, &id, now_unix_ms())
            .await?
            .ok_or_else(|| BrokerError::NotFound(format!("you have no share {id}")))?;
        tracing::info!(share = %id, "share revoked");
        Ok(share_message(&share))
    }
}

fn share_message(s: &ShareRecord) -> pb::Share {
    let state = match s.state(now_unix_ms()) {
        ShareState::Live => pb::ShareState::Live,
        ShareState::Expired => pb::ShareState::Expired,
        ShareState::Revoked => pb::ShareState::Revoked,
        ShareState::UsedUp => pb::ShareState::UsedUp,
    };
    pb::Share {
        share_id: s.share_id.to_string(),
        blob_id: s.blob_id.to_hex(),
        end_to_end: s.wrapped_key.is_some(),
        created_at: Some(timestamp(s.created_at_unix_ms)),
        expires_at: s.expires_at_unix_ms.map(timestamp),
        max_downloads: s.max_downloads,
        downloads: s.downloads,
        price_msat: s.price_msat,
        revoked_at: s.revoked_at_unix_ms.map(timestamp),
        state: state as i32,
    }
}

#[tonic::async_trait]
impl Shares for SharesService {
    async fn create_share(
        &self,
        request: Request<pb::CreateShareRequest>,
    ) -> Result<Response<pb::CreateShareResponse>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            self.create(tenant, request.get_ref()).await
        }
        .await;
        reply(result)
    }

    async fn list_shares(
        &self,
        request: Request<pb::ListSharesRequest>,
    ) -> Result<Response<pb::ListSharesResponse>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            self.list(tenant, request.get_ref()).await
        }
        .await;
        reply(result)
    }

    async fn revoke_share(
        &self,
        request: Request<pb::RevokeShareRequest>,
    ) -> Result<Response<pb::Share>, Status> {
        let result = async {
            let tenant = self.broker.auth.tenant(request.metadata()).await?;
            self.revoke(tenant, request.get_ref()).await
        }
        .await;
        reply(result)
    }
}
