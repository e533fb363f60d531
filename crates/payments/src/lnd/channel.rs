//! The gRPC channel to the node: a tonic [`Channel`] over our own
//! connector (TCP with `TCP_NODELAY`, then TLS pinned to the node's
//! certificate, see `pinned_tls.rs`).
//!
//! Why our own connector instead of `lnd_grpc_rust::connect`: its
//! connector leaves Nagle's algorithm on, so a request's second small
//! write waits for the server's delayed ACK and every call took ~44 ms on
//! loopback. tonic's own TLS cannot be used either: it verifies through a
//! WebPKI root store, which refuses LND's self-signed CA-flagged
//! certificate and checks the host name LND clients ignore.
//!
//! tonic refuses an `https` endpoint without its own TLS, so the channel
//! dials an `http://host:port` endpoint (our connector adds TLS) and sends
//! `https://host:port` as the request origin, which is what the node sees.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::Service;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

use crate::error::PaymentError;

/// Why a connection to the node could not be opened. Found in a failed
/// call's error chain by `status_map.rs`, which reports `Untrusted` as a
/// settings problem and `Unreachable` as an outage.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// TCP failed, or the connection broke during the handshake.
    Unreachable(String),
    /// The TLS handshake was refused: the certificate is not the pinned
    /// one, or the server speaks no TLS we accept.
    Untrusted(String),
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::Unreachable(detail) => write!(f, "cannot connect: {detail}"),
            ConnectFailure::Untrusted(detail) => write!(f, "TLS handshake refused: {detail}"),
        }
    }
}

impl std::error::Error for ConnectFailure {}

/// Opens one TLS connection to the node per call (tonic calls it when the
/// channel has no live connection).
#[derive(Clone)]
struct NodeConnector {
    host: Arc<str>,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
}

type Connection = TokioIo<TlsStream<TcpStream>>;

impl NodeConnector {
    async fn open(self) -> Result<Connection, ConnectFailure> {
        let tcp = TcpStream::connect((&*self.host, self.port))
            .await
            .map_err(|e| {
                ConnectFailure::Unreachable(format!("{}:{}: {e}", self.host, self.port))
            })?;
        // The point of this connector: gRPC frames are small writes, and
        // with Nagle on each call waits ~40 ms for a delayed ACK.
        tcp.set_nodelay(true)
            .map_err(|e| ConnectFailure::Unreachable(format!("TCP_NODELAY: {e}")))?;
        let tls = self
            .tls
            .connect(self.server_name, tcp)
            .await
            .map_err(handshake_failure)?;
        Ok(TokioIo::new(tls))
    }
}

/// A TLS refusal (rustls error inside the io::Error) is a settings
/// problem; anything else (reset, EOF) means the node went away.
fn handshake_failure(err: std::io::Error) -> ConnectFailure {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => ConnectFailure::Untrusted(format!(
            "certificate verify failed: {}",
            super::pinned_tls::describe(cert)
        )),
        Some(tls) => ConnectFailure::Untrusted(tls.to_string()),
        None => ConnectFailure::Unreachable(format!("TLS handshake: {err}")),
    }
}

impl Service<Uri> for NodeConnector {
    type Response = Connection;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, ConnectFailure>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        // The endpoint's URI names the same socket; ours is already parsed.
        Box::pin(self.clone().open())
    }
}

/// A lazy channel to `socket` (`host:port`, validated by `LndConfig`):
/// nothing is dialled until the first call, and a broken connection is
/// re-opened by the next call.
pub(crate) fn lazy_channel(
    socket: &str,
    tls: Arc<ClientConfig>,
    connect_timeout: Duration,
) -> Result<Channel, PaymentError> {
    let config_err = |detail: String| PaymentError::LndConfig {
        reason: format!("endpoint {socket:?}: {detail}"),
    };
    let (host, port) = socket
        .rsplit_once(':')
        .ok_or_else(|| config_err("no port".into()))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| config_err("port is not a number".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name =
        ServerName::try_from(host.to_string()).map_err(|e| config_err(e.to_string()))?;
    let origin = format!("https://{socket}")
        .parse::<Uri>()
        .map_err(|e| config_err(e.to_string()))?;
    let endpoint = Endpoint::from_shared(format!("http://{socket}"))
        .map_err(|e| config_err(e.to_string()))?
        .origin(origin)
        .connect_timeout(connect_timeout);
    let connector = NodeConnector {
        host: host.into(),
        port,
        server_name,
        tls: TlsConnector::from(tls),
    };
    Ok(endpoint.connect_with_connector_lazy(connector))
}
