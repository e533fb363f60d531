//! The HTTP gateway: share pages for browsers and L402 over plain HTTP for
//! websites and scripts, on its own listener (`docs/sharing.md`).
//!
//! Every download goes through [`crate::get::serve_blob`], the function
//! behind `Storage.Get`: one payment gate, one set of caveats and use
//! counts, one ledger for both transports. Invoice limits (`crate::limits`)
//! are checked where an invoice is made; the gateway only names the client
//! (behind `[gateway] trusted_proxies`, the forwarded address). Errors go through the one
//! mapping in `grpc_status.rs` (HTTP status beside gRPC status).
//!
//! | file | role |
//! |---|---|
//! | `routes.rs` | the route table, limits and security headers |
//! | `share_routes.rs` | `/s/{id}…`: share page, info, content, payment status |
//! | `blob_routes.rs` | `/b/{blob id}…`: the same for public blobs, plus L402 for scripts |
//! | `share_access.rs` | opening a share: id, read token, state |
//! | `info.rs` | the JSON a page shows before paying |
//! | `content.rs` | a paid download as an HTTP body (`Range`, `ETag`, …) |
//! | `payment_status.rs` | an invoice's state (and, once paid, its preimage) |
//! | `reply.rs` | errors and challenges as HTTP responses |
//! | `qr.rs` | BOLT 11 invoices as SVG QR codes |
//! | `assets.rs` + `assets/` | the page: HTML, CSS and JavaScript embedded in the binary |

mod assets;
mod blob_routes;
mod content;
mod info;
mod payment_status;
mod qr;
mod reply;
mod routes;
mod share_access;
mod share_routes;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::Broker;

/// Serves the gateway on `listener` until the task is aborted.
pub(crate) async fn serve_http(listener: TcpListener, broker: Arc<Broker>) {
    let app = routes::router(broker);
    // The peer address feeds the per-address invoice limit.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "HTTP gateway stopped");
    }
}
