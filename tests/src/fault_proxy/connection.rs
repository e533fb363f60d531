//! One client connection of the fault proxy: read a request, look at the
//! mode, then forward, refuse, hang or answer 500.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{CORRUPT_STRIDE, Counters, FaultMode};
use crate::http1::{self, Framing, Head};

/// Body of the injected 500: the S3 error document clients know how to parse.
const INTERNAL_ERROR_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Error><Code>InternalError</Code><Message>injected by the shardgate fault proxy</Message></Error>";

/// Closes with a TCP reset rather than a clean FIN, so the client sees
/// "connection reset", as from a host whose server is down.
pub(super) fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Serves one connection until either side closes it. I/O errors just end
/// the connection: the client sees the failure, which is the point.
pub(super) async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<FaultMode>,
    counters: Arc<Counters>,
) {
    let mut client = BufReader::new(client);
    let mut upstream_conn: Option<BufReader<TcpStream>> = None;
    loop {
        let request = match http1::read_head(&mut client).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        // The mode is read per request, so pooled keep-alive connections
        // follow a switch as quickly as new ones.
        let current = *mode.borrow_and_update();
        match current {
            FaultMode::Refuse => {
                Counters::bump(&counters.connections_refused);
                reset(client.into_inner());
                return;
            }
            FaultMode::Hang => {
                Counters::bump(&counters.requests_hung);
                // Hold the connection without answering until the mode
                // changes or the proxy goes away (then `changed` errs).
                let _ = mode.changed().await;
                return;
            }
            FaultMode::Http500 => {
                Counters::bump(&counters.requests_answered_500);
                let _ = answer_500(&mut client, &request).await;
                return;
            }
            FaultMode::PassThrough | FaultMode::CorruptGetBodies => {
                let corrupt = current == FaultMode::CorruptGetBodies;
                match forward(
                    &mut client,
                    &mut upstream_conn,
                    upstream,
                    request,
                    corrupt,
                    &counters,
                )
                .await
                {
                    Ok(KeepAlive::Yes) => {}
                    Ok(KeepAlive::No) | Err(_) => return,
                }
            }
        }
    }
}

async fn answer_500(client: &mut BufReader<TcpStream>, request: &Head) -> io::Result<()> {
    // Read the body first (unless the client waits for 100-continue before
    // sending it): closing with unread input would reset the connection and
    // the client would never see the 500.
    if !request.expects_continue() {
        http1::relay_body(
            client,
            &mut tokio::io::sink(),
            request.request_framing()?,
            |_| {},
        )
        .await?;
    }
    let response = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{INTERNAL_ERROR_BODY}",
        INTERNAL_ERROR_BODY.len()
    );
    let stream = client.get_mut();
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

enum KeepAlive {
    Yes,
    No,
}

async fn forward(
    client: &mut BufReader<TcpStream>,
    upstream_conn: &mut Option<BufReader<TcpStream>>,
    upstream: SocketAddr,
    mut request: Head,
    corrupt: bool,
    counters: &Counters,
) -> io::Result<KeepAlive> {
    let request_framing = request.request_framing()?;
    let method = request.method().to_owned();
    if request.expects_continue() {
        // Answer the 100 ourselves and send the peer a plain request: keeps
        // the exchange with the peer strictly request-then-response.
        request.remove_header("expect");
        client
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    let up = match upstream_conn {
        Some(up) => up,
        None => match TcpStream::connect(upstream).await {
            Ok(stream) => upstream_conn.insert(BufReader::new(stream)),
            Err(_) => {
                let bad_gateway =
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                client.get_mut().write_all(bad_gateway.as_bytes()).await?;
                return Ok(KeepAlive::No);
            }
        },
    };
    up.get_mut().write_all(&request.to_bytes()).await?;
    http1::relay_body(client, up.get_mut(), request_framing, |_| {}).await?;
    up.get_mut().flush().await?;

    let response = loop {
        let head = http1::read_head(up).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed without answering",
            )
        })?;
        if matches!(head.status(), Some(100..=199)) && head.status() != Some(101) {
            client.get_mut().write_all(&head.to_bytes()).await?;
            continue;
        }
        break head;
    };
    Counters::bump(&counters.requests_forwarded);
    let framing = response.response_framing(&method)?;
    let status = response.status().unwrap_or(0);
    let corrupt_body =
        corrupt && method.eq_ignore_ascii_case("GET") && (200..300).contains(&status);
    client.get_mut().write_all(&response.to_bytes()).await?;
    let mut offset = 0u64;
    http1::relay_body(up, client.get_mut(), framing, |data| {
        if corrupt_body {
            flip_bytes(data, offset);
        }
        offset += data.len() as u64;
    })
    .await?;
    client.get_mut().flush().await?;
    if corrupt_body && offset > 0 {
        Counters::bump(&counters.bodies_corrupted);
    }
    if response.wants_close() || request.wants_close() || framing == Framing::UntilClose {
        *upstream_conn = None;
        return Ok(KeepAlive::No);
    }
    Ok(KeepAlive::Yes)
}

/// Inverts every byte whose body offset is a multiple of [`CORRUPT_STRIDE`];
/// `start` is the offset of `data[0]` within the body.
fn flip_bytes(data: &mut [u8], start: u64) {
    for (i, byte) in data.iter_mut().enumerate() {
        if (start + i as u64).is_multiple_of(CORRUPT_STRIDE) {
            *byte ^= 0xFF;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::flip_bytes;

    #[test]
    fn flips_every_stride_across_pieces() {
        let mut body = vec![0u8; 1100];
        // Deliver the body in uneven pieces, as the network would.
        let (a, rest) = body.split_at_mut(300);
        flip_bytes(a, 0);
        let (b, c) = rest.split_at_mut(500);
        flip_bytes(b, 300);
        flip_bytes(c, 800);
        let flipped: Vec<usize> = body
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == 0xFF)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flipped, vec![0, 512, 1024]);
    }
}
