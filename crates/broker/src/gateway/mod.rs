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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::state::Broker;

/// A client must send a request's headers within this long, else its
/// connection is closed: a slow client (one byte every few seconds) can
/// otherwise hold a connection and its task open forever.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the gateway on `listener` until the task is aborted. The accept
/// loop is ours (not `axum::serve`) because only hyper's builder can bound
/// the time to read a request's headers.
pub(crate) async fn serve_http(listener: TcpListener, broker: Arc<Broker>) {
    let app = routes::router(broker);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, not spin.
                tracing::warn!(error = %e, "HTTP gateway cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The peer address feeds the per-address limits, as
        // `into_make_service_with_connect_info` would provide it.
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))),
        );
        let builder = builder.clone();
        tokio::spawn(async move {
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "HTTP gateway connection ended with an error");
            }
        });
    }
}
