//! The gateway's routes, and what every response carries.

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::get;

use super::{assets, blob_routes, share_routes};
use crate::limits::TrustedProxies;
use crate::state::Broker;

/// Requests carry no bodies worth reading (POSTs only create invoices or
/// start downloads), so anything past this is refused.
const MAX_REQUEST_BODY: usize = 16 * 1024;

pub(super) fn router(broker: Arc<Broker>) -> Router {
    // Validated at start: the list parses.
    let proxies = Arc::new(
        TrustedProxies::parse(
            &broker.config.gateway.trusted_proxies,
            "gateway.trusted_proxies",
        )
        .unwrap_or_default(),
    );
    Router::new()
        .route("/assets/{file}", get(assets::asset))
        .route("/s/{id}", get(assets::page))
        .route("/s/{id}/info", get(share_routes::info))
        .route(
            "/s/{id}/content",
            axum::routing::post(share_routes::content),
        )
        .route("/s/{id}/payment/{hash}", get(share_routes::payment))
        .route("/s/{id}/manifest", get(share_routes::manifest))
        .route(
            "/b/{blob}",
            get(blob_routes::page_or_content).post(blob_routes::challenge_or_content),
        )
        .route("/b/{blob}/info", get(blob_routes::info))
        .route("/b/{blob}/payment/{hash}", get(blob_routes::payment))
        .layer(Extension(proxies))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(map_response(security_headers))
        .with_state(broker)
}

/// The page runs no inline script and loads nothing from elsewhere; links
/// leave no referrer (a share URL in a Referer would leak the share id).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
