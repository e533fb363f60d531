//! A one-request-per-connection HTTP/1.1 client for the harness's own
//! requests: readiness probes and bucket creation. Test code that exercises
//! the product goes through opendal, never through this.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::PeerError;
use crate::http1::{self, Head};

/// Largest response body the harness reads (admin answers are a few KiB).
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
/// `headers` must not contain Host, Content-Length or Connection.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, PeerError> {
    let peer = addr.to_string();
    let exchange = async {
        let stream = TcpStream::connect(addr).await?;
        let mut stream = BufReader::new(stream);
        let mut head = Head {
            start_line: format!("{method} {path_and_query} HTTP/1.1"),
            headers: vec![
                ("Host".to_owned(), peer.clone()),
                ("Content-Length".to_owned(), body.len().to_string()),
                ("Connection".to_owned(), "close".to_owned()),
            ],
        };
        head.headers.extend(
            headers
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone())),
        );
        stream.get_mut().write_all(&head.to_bytes()).await?;
        stream.get_mut().write_all(body).await?;
        stream.get_mut().flush().await?;
        let response = loop {
            let head = http1::read_head(&mut stream).await?.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed without an answer",
                )
            })?;
            // Interim 1xx answers precede the real one.
            if !matches!(head.status(), Some(100..=199)) {
                break head;
            }
        };
        let framing = response.response_framing(method)?;
        let body = http1::read_body(&mut stream, framing, MAX_RESPONSE_BYTES).await?;
        Ok::<_, std::io::Error>((response, body))
    };
    let (head, body) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| {
            PeerError::io(
                format!("{method} {path_and_query} to {peer}"),
                std::io::ErrorKind::TimedOut.into(),
            )
        })?
        .map_err(|err| PeerError::io(format!("{method} {path_and_query} to {peer}"), err))?;
    let status = head.status().ok_or_else(|| PeerError::Protocol {
        peer: peer.clone(),
        reason: format!("not a status line: {:?}", head.start_line),
    })?;
    Ok(Response { status, body })
}

/// True when something at `addr` answers a `GET /` with any HTTP status.
pub(crate) async fn answers_http(addr: SocketAddr, timeout: Duration) -> bool {
    send(addr, "GET", "/", &[], &[], timeout).await.is_ok()
}
