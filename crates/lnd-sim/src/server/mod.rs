//! The gRPC server of one node: TLS, the macaroon check on every call, and
//! the three LND services.

mod follow;
mod invoices;
mod lightning;
mod router;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};

use crate::macaroon::AdminMacaroon;
use crate::node_state::NodeState;
use crate::proto::invoicesrpc::invoices_server::InvoicesServer;
use crate::proto::lnrpc::lightning_server::LightningServer;
use crate::proto::routerrpc::router_server::RouterServer;
use crate::tls::TlsMaterial;

pub use lightning::LND_VERSION;

/// Serves until `stop` flips to true, then shuts down gracefully: no new
/// connections, open streams end (see `follow`), in-flight calls finish.
pub(crate) async fn serve(
    node: Arc<NodeState>,
    macaroon: Arc<AdminMacaroon>,
    tls: &TlsMaterial,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let identity = Identity::from_pem(&tls.cert_pem, &tls.key_pem);
    // Every service checks the macaroon before the handler runs, as LND's
    // interceptor chain does.
    let check = move |request: Request<()>| -> Result<Request<()>, Status> {
        macaroon.check(request.metadata())?;
        Ok(request)
    };
    let lightning = LightningServer::with_interceptor(
        lightning::LightningService {
            node: Arc::clone(&node),
        },
        check.clone(),
    );
    let invoices = InvoicesServer::with_interceptor(
        invoices::InvoicesService {
            node: Arc::clone(&node),
            stop: stop.clone(),
        },
        check.clone(),
    );
    let router = RouterServer::with_interceptor(
        router::RouterService {
            node,
            stop: stop.clone(),
        },
        check,
    );
    // Go (and so LND) sets TCP_NODELAY on every connection; without it a
    // response's HEADERS/DATA/trailers writes meet Nagle + delayed ACK and
    // each call costs ~40 ms extra.
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted
            && let Err(err) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        accepted
    });
    // tonic builds its rustls config from the process-wide crypto provider.
    // When one build enables both of rustls' providers (a workspace test run
    // does: object_store brings aws-lc-rs, tonic's tls-ring brings ring),
    // rustls cannot choose and panics inside the server task. Choose ring,
    // once; a provider the embedding process installed first is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut shutdown = stop;
    Server::builder()
        .tls_config(ServerTlsConfig::new().identity(identity))?
        .add_service(lightning)
        .add_service(invoices)
        .add_service(router)
        .serve_with_incoming_shutdown(incoming, async move {
            // Err means the sender is gone: the node was dropped, stop too.
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        })
        .await
}
