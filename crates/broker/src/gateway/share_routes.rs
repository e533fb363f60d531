//! `/s/{id}…`: a share link's page data, payment status and content. Every
//! route but the page needs the read token derived from the link's
//! fragment; only `POST …/content` creates an invoice or takes a download.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};

use super::content::{Asker, content_response, credential};
use super::info::share_json;
use super::payment_status::payment_status;
use super::reply::GatewayResult;
use super::share_access::{open_share, share_refusal};
use crate::clock::now_unix_ms;
use crate::limits::TrustedProxies;
use crate::state::Broker;

/// `GET /s/{id}/info`.
pub(super) async fn info(
    State(broker): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GatewayResult {
    let open = open_share(&broker, &id, &headers).await?;
    Ok(Json(share_json(&broker, &open.share, &open.blob)?).into_response())
}

/// `GET /s/{id}/manifest`: the blob's manifest, so a client can check the
/// chunk count and size against the blob id it authenticated (the wrapped
/// key's AAD) instead of taking the info's word for them.
pub(super) async fn manifest(
    State(broker): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GatewayResult {
    let open = open_share(&broker, &id, &headers).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        open.blob.manifest,
    )
        .into_response())
}

/// `GET /s/{id}/payment/{hash}`.
pub(super) async fn payment(
    State(broker): State<Arc<Broker>>,
    Path((id, hash)): Path<(String, String)>,
    headers: HeaderMap,
) -> GatewayResult {
    let open = open_share(&broker, &id, &headers).await?;
    Ok(Json(payment_status(&broker, &open.blob, &hash).await?).into_response())
}

/// `POST /s/{id}/content`: the challenge without a credential (no download
/// taken); with one, takes one of the share's downloads, then serves. A
/// download refused by the gate (unpaid, forged, used up) gives it back.
pub(super) async fn content(
    State(broker): State<Arc<Broker>>,
    Extension(proxies): Extension<Arc<TrustedProxies>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GatewayResult {
    let open = open_share(&broker, &id, &headers).await?;
    let asker = Asker {
        client: proxies.client(peer.ip(), &headers),
        share: Some(open.share.share_id.0),
    };
    if credential(&headers).is_none() {
        return content_response(broker, open.blob, &headers, asker).await;
    }
    let share_id = open.share.share_id;
    broker
        .index
        .take_share_download(&share_id, now_unix_ms())
        .await
        .map_err(|e| share_refusal(e, &open.share))?;
    let served = content_response(broker.clone(), open.blob, &headers, asker).await;
    if served.is_err()
        && let Err(e) = broker.index.return_share_download(&share_id).await
    {
        tracing::error!(share = %share_id, error = %e, "cannot give a share download back");
    }
    served
}
