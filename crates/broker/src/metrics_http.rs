//! Prometheus `/metrics` on its own listener.
//!
//! The recorder is process-global (the `metrics` facade has one), so it is
//! installed once and every broker in the process (tests start several)
//! serves the same registry. The HTTP side is a minimal GET responder:
//! scrapes are tiny, and pulling in an HTTP framework for one route is not
//! worth it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A client that sends nothing useful for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The global Prometheus handle; `None` if another recorder was installed
/// first (by the embedding program).
pub(crate) fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "Prometheus recorder not installed: /metrics is off");
                None
            }
        })
        .clone()
}

/// Serves `/metrics` until the task is aborted.
pub(crate) async fn serve_metrics(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT, respond(stream, &handle)).await;
        });
    }
}

async fn respond(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, body) = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?")
    {
        handle.run_upkeep();
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "not found: try GET /metrics\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
