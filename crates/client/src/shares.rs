//! Share links from the owner's side: create, list, revoke
//! (`shardgate.v1.Shares`, `docs/sharing.md`). The link's secret is drawn
//! here and never sent: the broker gets the read token and, for an
//! end-to-end blob, the file key and name sealed under the wrapping key.

use std::str::FromStr;
use std::time::Duration;

use shardgate_core::{ContentId, FileKey, ShareSecret};
use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::share_link::ShareLink;

/// How a share behaves. The default: no expiry, unlimited downloads, the
/// blob's own price.
#[derive(Clone, Default)]
pub struct ShareOptions {
    /// The link stops working after this long.
    pub expires_in: Option<Duration>,
    /// Downloads the link allows; 0 = unlimited.
    pub max_downloads: u32,
    /// Flat price of one download through the link, msat; `None`: the
    /// blob's price.
    pub price_msat: Option<u64>,
    /// End-to-end blobs: the file key, wrapped for the link (required for
    /// them; the broker cannot read it).
    pub file_key: Option<FileKey>,
    /// End-to-end blobs: the name the page shows (sealed for the link);
    /// default: the blob's name at the broker.
    pub name: Option<String>,
}

impl std::fmt::Debug for ShareOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareOptions")
            .field("expires_in", &self.expires_in)
            .field("max_downloads", &self.max_downloads)
            .field("price_msat", &self.price_msat)
            .field("file_key", &self.file_key.as_ref().map(|_| "…"))
            .field("name", &self.name)
            .finish()
    }
}

/// A share just created: the only moment its secret exists outside the
/// link.
#[derive(Debug)]
pub struct CreatedShare {
    /// The share as the broker records it.
    pub share: pb::Share,
    /// The link's secret.
    pub secret: ShareSecret,
    /// The broker's public gateway address, if it has one configured.
    pub gateway_url: Option<String>,
}

impl CreatedShare {
    /// The link on `gateway` (or the broker's own public address when
    /// `None`); `None` when neither is known.
    pub fn link(&self, gateway: Option<&str>) -> Option<ShareLink> {
        let gateway = gateway.or(self.gateway_url.as_deref())?;
        Some(ShareLink::new(
            gateway,
            &self.share.share_id,
            self.secret.clone(),
        ))
    }
}

impl Client {
    /// Shares one of your blobs through a link.
    pub async fn create_share(&self, blob_id: &str, options: ShareOptions) -> Result<CreatedShare> {
        let id = ContentId::from_str(blob_id)
            .map_err(|_| ClientError::invalid(format!("not a blob id: {blob_id:.80}")))?;
        let secret = ShareSecret::generate();
        let (wrapped_file_key, sealed_name) = match &options.file_key {
            None => (Vec::new(), Vec::new()),
            Some(key) => {
                let wrapping = secret.wrapping_key();
                let name = match options.name.clone() {
                    Some(name) => name,
                    None => self.stat(blob_id).await?.name,
                };
                let sealed = wrapping
                    .seal_name(&name, &id)
                    .map_err(|e| ClientError::invalid(e.to_string()))?;
                (wrapping.wrap_file_key(key, &id), sealed)
            }
        };
        let request = pb::CreateShareRequest {
            blob_id: blob_id.to_owned(),
            read_token: secret.read_token().as_bytes().to_vec(),
            wrapped_file_key,
            sealed_name,
            expires_in: options.expires_in.map(|d| prost_types::Duration {
                seconds: d.as_secs().min(i64::MAX as u64) as i64,
                nanos: d.subsec_nanos() as i32,
            }),
            max_downloads: options.max_downloads,
            price_msat: options.price_msat,
        };
        let response = self
            .shares_stub()
            .create_share(self.keyed(request)?)
            .await?
            .into_inner();
        let share = response
            .share
            .ok_or_else(|| ClientError::protocol("CreateShare answered without the share"))?;
        Ok(CreatedShare {
            share,
            secret,
            gateway_url: (!response.gateway_url.is_empty()).then_some(response.gateway_url),
        })
    }

    /// All your shares (of one blob if given), every page.
    pub async fn list_shares(&self, blob_id: Option<&str>) -> Result<Vec<pb::Share>> {
        let mut shares = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListSharesRequest {
                blob_id: blob_id.unwrap_or_default().to_owned(),
                page_size: 0,
                page_token,
            };
            let page = self
                .shares_stub()
                .list_shares(self.keyed(request)?)
                .await?
                .into_inner();
            shares.extend(page.shares);
            if page.next_page_token.is_empty() {
                return Ok(shares);
            }
            page_token = page.next_page_token;
        }
    }

    /// Revokes a share: its link serves nothing from now on.
    pub async fn revoke_share(&self, share_id: &str) -> Result<pb::Share> {
        let request = pb::RevokeShareRequest {
            share_id: share_id.to_owned(),
        };
        Ok(self
            .shares_stub()
            .revoke_share(self.keyed(request)?)
            .await?
            .into_inner())
    }
}
