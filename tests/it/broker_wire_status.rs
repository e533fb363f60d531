//! Bad input on the wire, sent as hand-made gRPC bodies to the real
//! `shardgate serve` binary (three real peers behind it): a malformed
//! protobuf frame, a message over the 4 MiB receive limit, a frame cut short
//! by END_STREAM — inside a Put stream and as unary requests — and an
//! over-long `x-api-key` each get the code common.proto documents (never
//! CANCELLED, OUT_OF_RANGE, INTERNAL or a bare HTTP error that clients show
//! as UNKNOWN). Nothing is committed and the broker keeps serving.

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use prost::Message;
use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::client::{get_checked, header, list_all, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::tools_available;
use tonic::codegen::Service;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The broker's receive limit for one gRPC message (common.proto).
const LIMIT: usize = 4 << 20;

/// One gRPC length-prefixed message: flag 0, big-endian length, bytes.
fn frame(message: &[u8]) -> BytesMut {
    framed_as(message.len(), message)
}

/// A frame whose prefix announces `len` bytes, followed by `bytes`.
fn framed_as(len: usize, bytes: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(5 + bytes.len());
    out.put_u8(0);
    out.put_u32(len as u32);
    out.put_slice(bytes);
    out
}

fn put_header(size: u64) -> BytesMut {
    let request = pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(header("wire", size, None))),
    };
    frame(&request.encode_to_vec())
}

/// Sends `body` as the whole request of `method` and returns the status the
/// broker answered, from the headers (trailers-only) or the trailers.
async fn raw_call(broker: &BrokerProcess, method: &str, key: &str, body: BytesMut) -> Status {
    let mut channel = Channel::from_shared(broker.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/shardgate.v1.Storage/{method}", broker.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-api-key", key)
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .expect("request");
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .expect("ready");
    let response = channel.call(request).await.expect("an HTTP response");
    assert_eq!(response.status(), http::StatusCode::OK, "gRPC answers 200");
    if let Some(status) = Status::from_header_map(response.headers()) {
        return status;
    }
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().expect("trailers");
    Status::from_header_map(&trailers).expect("grpc-status in the trailers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_headers_get_documented_codes() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let peers = PeerProviders::start("shardgate-e2e-wire")
        .await
        .expect("peers");
    let broker = BrokerProcess::start(&peers.specs, "")
        .await
        .expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");

    let mut malformed = put_header(20);
    malformed.extend_from_slice(&frame(&[0xff; 8]));
    let mut oversize = put_header(5 << 20);
    let big = pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(vec![7u8; 5 << 20].into())),
    };
    oversize.extend_from_slice(&frame(&big.encode_to_vec()));
    let mut cut_short = put_header(20);
    cut_short.extend_from_slice(&framed_as(1000, &[0x12, 0x05, 1, 2, 3]));
    let stat = pb::StatRequest {
        blob_id: "0".repeat(64),
    };
    let mut stat_oversize = stat.encode_to_vec();
    // Field 2 (unknown, length-delimited) padding: a valid message over 4 MiB.
    stat_oversize.push(0x12);
    prost::encoding::encode_varint((LIMIT + 16) as u64, &mut stat_oversize);
    stat_oversize.resize(stat_oversize.len() + LIMIT + 16, 0);

    let cases: Vec<(&str, &str, BytesMut, Code)> = vec![
        (
            "Put: malformed protobuf frame",
            "Put",
            malformed,
            Code::InvalidArgument,
        ),
        (
            "Put: 5 MiB data frame",
            "Put",
            oversize,
            Code::ResourceExhausted,
        ),
        (
            "Put: frame cut short by END_STREAM",
            "Put",
            cut_short,
            Code::InvalidArgument,
        ),
        (
            "Stat: malformed protobuf",
            "Stat",
            frame(&[0xff; 8]),
            Code::InvalidArgument,
        ),
        (
            "Stat: over 4 MiB",
            "Stat",
            frame(&stat_oversize),
            Code::ResourceExhausted,
        ),
        (
            "Stat: cut short by END_STREAM",
            "Stat",
            framed_as(70, &stat.encode_to_vec()[..10]),
            Code::InvalidArgument,
        ),
    ];
    for (what, method, body, expected) in cases {
        let status = raw_call(&broker, method, &key, body).await;
        assert_eq!(status.code(), expected, "{what}: {status:?}");
        assert!(!status.message().is_empty(), "{what}: says what to fix");
        assert!(broker.is_serving().await, "still SERVING after {what}");
    }

    // A 16 KiB x-api-key: a gRPC status, not a bare HTTP 431 (UNKNOWN).
    let client = broker.client().await.expect("client");
    let mut request = tonic::Request::new(pb::ListBlobsRequest::default());
    request.metadata_mut().insert(
        "x-api-key",
        "k".repeat(16 << 10).parse().expect("ascii metadata"),
    );
    let status = client.list(request).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("x-api-key"), "{status:?}");

    // Nothing committed; the broker still stores and serves.
    assert!(list_all(&client, &key).await.expect("list").is_empty());
    let pattern = Pattern::new(3, 300_000);
    let put = put_pattern(
        &client,
        Some(&key),
        header("after", 300_000, None),
        pattern,
    )
    .await
    .expect("upload after the bad input");
    get_checked(&client, Some(&key), &put.blob_id, None, pattern)
        .await
        .expect("read back");
}
