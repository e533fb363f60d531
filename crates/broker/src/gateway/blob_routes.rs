//! `/b/{blob id}`: a public blob sold on any website. `GET` without a
//! credential is the page (no invoice: crawlers and link previews send
//! `GET`/`HEAD`); `POST` is L402 for scripts; a credential on either
//! downloads.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use shardgate_index::BlobRecord;

use super::assets::page_response;
use super::content::{Asker, content_response, credential};
use super::info::blob_json;
use super::payment_status::payment_status;
use super::reply::GatewayResult;
use crate::error::BrokerError;
use crate::limits::TrustedProxies;
use crate::state::Broker;
use crate::validate::parse_id;

async fn public_blob(broker: &Broker, id: &str) -> Result<BlobRecord, BrokerError> {
    let id = parse_id(id, "blob id")?;
    broker.index.public_blob(&id).await?.ok_or_else(|| {
        BrokerError::NotFound(format!(
            "no public blob {id} (private blobs are shared with a share link)"
        ))
    })
}

/// `GET /b/{blob}` (and `HEAD`, which is always the page's: a `HEAD`
/// with a credential must not spend one of its uses on no bytes).
pub(super) async fn page_or_content(
    State(broker): State<Arc<Broker>>,
    Extension(proxies): Extension<Arc<TrustedProxies>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GatewayResult {
    if method == Method::HEAD || credential(&headers).is_none() {
        return Ok(page_response());
    }
    serve_public(broker, &proxies, peer, &id, &headers).await
}

/// `POST /b/{blob}`: `402` and a fresh invoice without a credential, the
/// bytes with one.
pub(super) async fn challenge_or_content(
    State(broker): State<Arc<Broker>>,
    Extension(proxies): Extension<Arc<TrustedProxies>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> GatewayResult {
    serve_public(broker, &proxies, peer, &id, &headers).await
}

/// The public blob `id`: its challenge, or its bytes for a credential.
async fn serve_public(
    broker: Arc<Broker>,
    proxies: &TrustedProxies,
    peer: SocketAddr,
    id: &str,
    headers: &HeaderMap,
) -> GatewayResult {
    let blob = public_blob(&broker, id).await?;
    let asker = Asker {
        client: proxies.client(peer.ip(), headers),
        share: None,
    };
    content_response(broker, blob, headers, asker).await
}

/// `GET /b/{blob}/info`.
pub(super) async fn info(
    State(broker): State<Arc<Broker>>,
    Path(blob): Path<String>,
) -> GatewayResult {
    let blob = public_blob(&broker, &blob).await?;
    Ok(Json(blob_json(&broker, &blob)?).into_response())
}

/// `GET /b/{blob}/payment/{hash}`.
pub(super) async fn payment(
    State(broker): State<Arc<Broker>>,
    Path((blob, hash)): Path<(String, String)>,
) -> GatewayResult<Response> {
    let blob = public_blob(&broker, &blob).await?;
    Ok(Json(payment_status(&broker, &blob, &hash).await?).into_response())
}
