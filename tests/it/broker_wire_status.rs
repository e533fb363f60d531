//! Bad input on the wire, sent as hand-made gRPC bodies to the real
//! `shardgate serve` binary (three real peers behind it): a malformed
//! protobuf frame, a message over the 4 MiB receive limit, a frame cut short
//! by END_STREAM — inside a Put stream and as unary requests, Get's own
//! route included — and an over-long `x-api-key` each get the code
//! common.proto documents (never
//! CANCELLED, OUT_OF_RANGE, INTERNAL or a bare HTTP error that clients show
//! as UNKNOWN). Nothing is committed and the broker keeps serving.

use bytes::BytesMut;
use prost::Message;
use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::BrokerProcess;
use shardgate_tests::broker_process::client::{get_checked, header, list_all, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::raw_wire::{self, frame, framed_as};
use tonic::Code;

/// The broker's receive limit for one gRPC message (common.proto).
const LIMIT: usize = 4 << 20;

fn put_header(size: u64) -> BytesMut {
    let request = pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(pb::PutHeader {
            name: "wire".into(),
            declared_size_bytes: Some(size),
            ..Default::default()
        })),
    };
    frame(&request.encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_headers_get_documented_codes() {
    let (_peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-wire").await;

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

    let get = pb::GetRequest {
        blob_id: "0".repeat(64),
        ..Default::default()
    };
    let mut get_oversize = get.encode_to_vec();
    get_oversize.push(0x7a); // field 15, length-delimited: unknown padding
    prost::encoding::encode_varint((LIMIT + 16) as u64, &mut get_oversize);
    get_oversize.resize(get_oversize.len() + LIMIT + 16, 0);
    let compressed_flag = |mut body: BytesMut| {
        body[0] = 1;
        body
    };
    let two_frames = |message: &[u8]| {
        let mut body = frame(message);
        body.extend_from_slice(&frame(message));
        body
    };

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
        (
            "Stat: no message at all",
            "Stat",
            BytesMut::new(),
            Code::InvalidArgument,
        ),
        // Get has its own route (service/get_route.rs): the same codes.
        (
            "Get: malformed protobuf",
            "Get",
            frame(&[0xff; 8]),
            Code::InvalidArgument,
        ),
        (
            "Get: over 4 MiB",
            "Get",
            frame(&get_oversize),
            Code::ResourceExhausted,
        ),
        (
            "Get: cut short by END_STREAM",
            "Get",
            framed_as(70, &get.encode_to_vec()[..10]),
            Code::InvalidArgument,
        ),
        (
            "Get: flagged compressed",
            "Get",
            compressed_flag(frame(&get.encode_to_vec())),
            Code::InvalidArgument,
        ),
        (
            "Get: no message at all",
            "Get",
            BytesMut::new(),
            Code::InvalidArgument,
        ),
        (
            "Get: two messages in a unary call",
            "Get",
            two_frames(&get.encode_to_vec()),
            Code::InvalidArgument,
        ),
        (
            "Get: a blob that does not exist",
            "Get",
            frame(&get.encode_to_vec()),
            Code::NotFound,
        ),
    ];
    for (what, method, body, expected) in cases {
        let status = raw_wire::raw_call(&broker.url(), method, &key, body).await;
        assert_eq!(status.code(), expected, "{what}: {status:?}");
        assert!(!status.message().is_empty(), "{what}: says what to fix");
        assert!(broker.is_serving().await, "still SERVING after {what}");
    }

    // A 16 KiB x-api-key: a gRPC status, not a bare HTTP 431 (UNKNOWN).
    let mut raw = raw_wire::storage(&broker.url()).await;
    let huge = "k".repeat(16 << 10);
    let request = raw_wire::with_key(pb::ListBlobsRequest::default(), Some(&huge));
    let status = raw.list(request).await.expect_err("refused");
    let client = broker.client().await.expect("client");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("x-api-key"), "{status:?}");

    // Nothing committed; the broker still stores and serves.
    assert!(list_all(&client, &key).await.expect("list").is_empty());
    let pattern = Pattern::new(3, 300_000);
    let put = put_pattern(&client, Some(&key), header("after", 300_000, None), pattern)
        .await
        .expect("upload after the bad input");
    get_checked(&client, Some(&key), &put.blob_id, None, pattern)
        .await
        .expect("read back");
}
