//! The download page's files, embedded in the binary: nothing is loaded
//! from anywhere else (the CSP says so too).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("assets/share.html");

/// (name, content type, body) of every file under `/assets/`. Scripts must
/// be `text/javascript`: with `nosniff` a module script of another type is
/// refused.
const JS: &str = "text/javascript; charset=utf-8";
const FILES: &[(&str, &str, &str)] = &[
    ("share.js", JS, include_str!("assets/share.js")),
    (
        "share-crypto.js",
        JS,
        include_str!("assets/share-crypto.js"),
    ),
    (
        "share-gateway.js",
        JS,
        include_str!("assets/share-gateway.js"),
    ),
    ("share-save.js", JS, include_str!("assets/share-save.js")),
    (
        "share-format.js",
        JS,
        include_str!("assets/share-format.js"),
    ),
    (
        "share-messages.js",
        JS,
        include_str!("assets/share-messages.js"),
    ),
    (
        "share.css",
        "text/css; charset=utf-8",
        include_str!("assets/share.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

/// `GET /s/{id}` (and `/b/{blob}` without a credential): the page. It looks
/// nothing up, so a link preview learns nothing and costs nothing.
pub(super) async fn page() -> Response {
    page_response()
}

pub(super) fn page_response() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /assets/{file}`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
