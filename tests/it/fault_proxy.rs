//! Each fault mode of the proxy does what its docs promise, in front of a
//! real moto peer, seen through opendal (as the backends will see it) and
//! through raw sockets (to pin down the wire behaviour).
//!
//! These tests FAIL when the peers are not installed: run
//! `scripts/install-test-peers.sh` (scripts/test.sh does it for you).

use std::time::Duration;

use opendal::Operator;
use opendal::services::S3;
use shardgate_tests::fault_proxy::{CORRUPT_STRIDE, FaultMode, FaultProxy};
use shardgate_tests::peers::{self, Peer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BUCKET: &str = "faults";
const KEY: &str = "shards/ab/object.0";
/// How long a test waits for something that should happen promptly.
const PROMPT: Duration = Duration::from_secs(10);

/// A moto peer with a bucket holding one object, and a proxy in front.
struct Setup {
    _peer: Peer,
    proxy: FaultProxy,
    op: Operator,
    data: Vec<u8>,
}

async fn setup() -> Setup {
    assert!(
        peers::tools_available(),
        "test peers are not installed in {}: run scripts/install-test-peers.sh",
        peers::tools_dir().display()
    );
    let peer = peers::start_moto().await.expect("start moto");
    peers::create_s3_bucket(&peer, BUCKET)
        .await
        .expect("create bucket");
    let proxy = FaultProxy::in_front_of(&peer).await.expect("start proxy");
    let op = operator(&peer, &proxy.endpoint());
    // 3 KiB + 7: several corruption strides and a partial one at the end.
    let data: Vec<u8> = (0..3079u32).map(|i| (i % 253) as u8).collect();
    op.write(KEY, data.clone())
        .await
        .expect("write through the proxy");
    Setup {
        _peer: peer,
        proxy,
        op,
        data,
    }
}

fn operator(peer: &Peer, endpoint: &str) -> Operator {
    opendal::install_default();
    let builder = S3::default()
        .endpoint(endpoint)
        .bucket(BUCKET)
        .region(peers::S3_REGION)
        .access_key_id(peer.access_key())
        .secret_access_key(peer.secret_key())
        .disable_config_load()
        .disable_ec2_metadata();
    Operator::new(builder).expect("valid S3 config")
}

async fn read(op: &Operator) -> opendal::Result<Vec<u8>> {
    tokio::time::timeout(PROMPT, op.read(KEY))
        .await
        .expect("the proxy answered (or failed) promptly")
        .map(|buffer| buffer.to_vec())
}

/// Sends raw bytes and returns what comes back until the proxy closes.
async fn raw_exchange(proxy: &FaultProxy, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(proxy.addr()).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(PROMPT, stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(answer)
}

const LIST_BUCKETS: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn pass_through_forwards_unchanged() {
    let s = setup().await;
    assert_eq!(s.proxy.mode(), FaultMode::PassThrough);
    assert_eq!(read(&s.op).await.expect("read"), s.data);
    let stats = s.proxy.stats();
    assert!(stats.requests_forwarded >= 2, "{stats:?}"); // the write and the read
    assert_eq!(stats.bodies_corrupted, 0);
}

#[tokio::test]
async fn refuse_resets_connections_until_switched_back() {
    let s = setup().await;
    s.proxy.set_mode(FaultMode::Refuse);
    let err = read(&s.op).await.expect_err("reads fail while refusing");
    assert!(
        err.is_temporary(),
        "a refused connection is worth a retry: {err}"
    );

    let raw = raw_exchange(&s.proxy, LIST_BUCKETS).await;
    match raw {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
        Ok(bytes) => assert!(
            bytes.is_empty(),
            "no answer while refusing, got {} bytes",
            bytes.len()
        ),
    }
    assert!(
        s.proxy.stats().connections_refused >= 2,
        "{:?}",
        s.proxy.stats()
    );

    s.proxy.set_mode(FaultMode::PassThrough);
    assert_eq!(read(&s.op).await.expect("read after recovery"), s.data);
}

#[tokio::test]
async fn hang_never_answers_so_the_caller_timeout_fires() {
    let s = setup().await;
    s.proxy.set_mode(FaultMode::Hang);
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_millis(1500), s.op.read(KEY)).await;
    assert!(
        outcome.is_err(),
        "a hung request must not complete: {outcome:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(s.proxy.stats().requests_hung, 1);

    // A raw client sees the hung connection closed once the mode changes.
    let mut stream = TcpStream::connect(s.proxy.addr()).await.expect("connect");
    stream.write_all(LIST_BUCKETS).await.expect("send");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await;
    assert!(early.is_err(), "no answer while hanging");
    s.proxy.set_mode(FaultMode::PassThrough);
    let closed = tokio::time::timeout(PROMPT, stream.read(&mut byte))
        .await
        .expect("closed promptly after the switch");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "closed without an answer: {closed:?}"
    );

    assert_eq!(read(&s.op).await.expect("read after recovery"), s.data);
}

#[tokio::test]
async fn http_500_answers_without_reaching_the_peer() {
    let s = setup().await;
    let forwarded_before = s.proxy.stats().requests_forwarded;
    s.proxy.set_mode(FaultMode::Http500);
    let err = read(&s.op).await.expect_err("reads fail with 500");
    assert!(err.is_temporary(), "a 500 is worth a retry: {err}");
    assert!(err.to_string().contains("InternalError"), "{err}");

    let answer = raw_exchange(&s.proxy, LIST_BUCKETS)
        .await
        .expect("raw answer");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    // A PUT with a body gets its 500 too (the body is read, not left to reset).
    let put = b"PUT /faults/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello";
    let answer = raw_exchange(&s.proxy, put)
        .await
        .expect("raw answer to PUT");
    assert!(answer.starts_with(b"HTTP/1.1 500 "));

    let stats = s.proxy.stats();
    assert_eq!(stats.requests_answered_500, 3, "{stats:?}");
    assert_eq!(
        stats.requests_forwarded, forwarded_before,
        "nothing reached the peer"
    );
    s.proxy.set_mode(FaultMode::PassThrough);
    assert_eq!(read(&s.op).await.expect("read after recovery"), s.data);
}

#[tokio::test]
async fn corrupt_flips_get_body_bytes_at_every_stride() {
    let s = setup().await;
    s.proxy.set_mode(FaultMode::CorruptGetBodies);
    let got = read(&s.op)
        .await
        .expect("a corrupted read still succeeds at HTTP level");
    assert_eq!(got.len(), s.data.len(), "length is kept");
    for (offset, (got, sent)) in got.iter().zip(&s.data).enumerate() {
        let expected = if (offset as u64).is_multiple_of(CORRUPT_STRIDE) {
            !sent
        } else {
            *sent
        };
        assert_eq!(*got, expected, "byte {offset}");
    }
    assert_eq!(s.proxy.stats().bodies_corrupted, 1);
    // Metadata (HEAD) and error answers are left alone.
    let meta = s.op.stat(KEY).await.expect("stat");
    assert_eq!(meta.content_length(), s.data.len() as u64);
    let missing = s.op.read("shards/ab/absent.0").await.expect_err("absent");
    assert_eq!(missing.kind(), opendal::ErrorKind::NotFound);
    assert_eq!(s.proxy.stats().bodies_corrupted, 1);

    s.proxy.set_mode(FaultMode::PassThrough);
    assert_eq!(read(&s.op).await.expect("clean read"), s.data);
}

#[tokio::test]
async fn dropping_the_proxy_closes_listener_and_hung_connections() {
    let s = setup().await;
    s.proxy.set_mode(FaultMode::Hang);
    let mut hung = TcpStream::connect(s.proxy.addr()).await.expect("connect");
    hung.write_all(LIST_BUCKETS).await.expect("send");
    // Wait (polling) until the proxy has taken the request.
    let deadline = std::time::Instant::now() + PROMPT;
    while s.proxy.stats().requests_hung == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "request never reached the proxy"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = s.proxy.addr();
    s.proxy.shutdown().await;
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(PROMPT, hung.read(&mut byte))
        .await
        .expect("hung connection closed by shutdown");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn mode_switch_applies_to_a_kept_alive_connection() {
    // moto closes every connection; s3s-fs keeps them alive, like a real S3.
    assert!(
        peers::tools_available(),
        "run scripts/install-test-peers.sh"
    );
    let peer = peers::start_s3s_fs("ka-access", "ka-secret")
        .await
        .expect("start s3s-fs");
    let proxy = FaultProxy::in_front_of(&peer).await.expect("start proxy");
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    stream.write_all(request).await.expect("first request");
    let first = read_one_response(&mut stream).await;
    assert!(
        first.starts_with("HTTP/1.1 403"),
        "unsigned request is refused by s3s-fs: {first}"
    );

    proxy.set_mode(FaultMode::Http500);
    stream
        .write_all(request)
        .await
        .expect("second request on the same connection");
    let second = read_one_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 500"), "{second}");
}

/// Reads one Content-Length-framed response from a kept-alive connection.
async fn read_one_response(stream: &mut TcpStream) -> String {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return head;
            }
        }
        let read = tokio::time::timeout(PROMPT, stream.read(&mut chunk))
            .await
            .expect("response arrives")
            .expect("read");
        assert!(
            read > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..read]);
    }
}
