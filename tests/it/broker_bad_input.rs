//! Malformed requests over the wire to the real `shardgate serve` binary
//! (three real peers behind it): each gets the status storage.proto
//! documents, nothing is committed (List shows nothing new), and the
//! broker keeps serving — including after a client hangs up mid-upload.

use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::BrokerProcess;
use shardgate_tests::broker_process::client::{
    as_tenant, get_checked, header, list_all, put_pattern,
};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::raw_wire;
use tonic::Code;

const CHUNK: u32 = 256 * 1024;

fn head(h: pb::PutHeader) -> pb::PutRequest {
    pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(h)),
    }
}

/// A raw Put header (what `header` describes to the SDK, as sent).
fn raw_header(name: &str, size: u64, chunk_size: Option<u32>) -> pb::PutHeader {
    pb::PutHeader {
        name: name.into(),
        declared_size_bytes: Some(size),
        chunk_size_bytes: chunk_size,
        ..Default::default()
    }
}

fn data(bytes: Vec<u8>) -> pb::PutRequest {
    pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(bytes.into())),
    }
}

fn range(offset: u64, length: Option<u64>) -> Option<pb::ByteRange> {
    Some(pb::ByteRange { offset, length })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_documented_statuses_and_commits_nothing() {
    let (_peers, broker, key) = BrokerProcess::on_peers("shardgate-e2e-bad").await;
    let k = Some(key.as_str());
    let client = broker.client().await.expect("client");

    let good = Pattern::new(1, 1000);
    let put = put_pattern(&client, k, header("good", 1000, Some(CHUNK)), good)
        .await
        .expect("good upload");
    let id = put.blob_id;

    // Malformed uploads: INVALID_ARGUMENT.
    let bytes = Pattern::new(2, 20).all();
    let cases: Vec<(&str, Vec<pb::PutRequest>)> = vec![
        (
            "data before the header",
            vec![data(bytes.clone()), head(raw_header("x", 20, None))],
        ),
        (
            "two headers",
            vec![
                head(raw_header("x", 20, None)),
                head(raw_header("y", 20, None)),
            ],
        ),
        (
            "frames after the declared end",
            vec![head(raw_header("x", 10, None)), data(bytes.clone())],
        ),
        (
            "fewer bytes than declared",
            vec![head(raw_header("x", 30, None)), data(bytes.clone())],
        ),
        (
            "name over 1024 bytes",
            vec![
                head(raw_header(&"n".repeat(1025), 20, None)),
                data(bytes.clone()),
            ],
        ),
        (
            "empty name",
            vec![head(raw_header("", 20, None)), data(bytes.clone())],
        ),
        (
            "chunk size under 256 KiB",
            vec![head(raw_header("x", 20, Some(4096))), data(bytes.clone())],
        ),
        (
            "frame over 1 MiB",
            vec![head(raw_header("x", 2 << 20, None)), data(vec![7; 2 << 20])],
        ),
        ("no header at all", vec![]),
    ];
    let mut raw = raw_wire::storage(&broker.url()).await;
    for (what, messages) in cases {
        let err = raw_wire::put_messages(&mut raw, k, messages)
            .await
            .expect_err(what);
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{what}: {err}");
    }

    // Ranges and ids.
    for (what, r, code) in [
        ("offset at the end", range(1000, None), Code::OutOfRange),
        (
            "offset u64::MAX",
            range(u64::MAX, Some(1)),
            Code::OutOfRange,
        ),
        (
            "offset u64::MAX, no length",
            range(u64::MAX, None),
            Code::OutOfRange,
        ),
        ("length 0", range(0, Some(0)), Code::InvalidArgument),
    ] {
        let err = get_checked(&client, k, &id, r, good).await.expect_err(what);
        assert_eq!(err.code(), Some(code), "{what}: {err}");
    }
    // offset + length overflowing u64 is shortened to the end, exactly.
    let got = get_checked(&client, k, &id, range(5, Some(u64::MAX)), good)
        .await
        .expect("overflowing length");
    assert_eq!((got.len, got.first_mismatch), (995, None));
    let unknown = "ab".repeat(32);
    let err = get_checked(&client, k, &unknown, None, good)
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Some(Code::NotFound), "{err}");
    for bad in ["xyz", "", &"AB".repeat(32), &"a".repeat(65)] {
        let err = get_checked(&client, k, bad, None, good)
            .await
            .expect_err("malformed id");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "id {bad:?}: {err}");
        let err = as_tenant(&client, k)
            .stat(bad)
            .await
            .expect_err("malformed id");
        assert_eq!(
            err.code(),
            Some(Code::InvalidArgument),
            "stat {bad:?}: {err}"
        );
    }

    // A client that hangs up in the middle of an upload.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::PutRequest>(4);
    let mut hang_client = raw_wire::storage(&broker.url()).await;
    let request = raw_wire::with_key(tokio_stream::wrappers::ReceiverStream::new(rx), k);
    let call = tokio::spawn(async move { hang_client.put(request).await });
    let partial = Pattern::new(3, 4 * CHUNK as u64);
    tx.send(head(raw_header("hang-up", partial.len(), Some(CHUNK))))
        .await
        .expect("send");
    for i in 0..2u64 {
        tx.send(data(partial.bytes(i * (1 << 19), 1 << 19)))
            .await
            .expect("send");
    }
    call.abort();
    assert!(call.await.is_err(), "the call was cancelled, not completed");
    drop(tx);

    // Nothing new committed, and the broker still works.
    assert!(broker.is_serving().await, "{}", broker.log_tail());
    let after = Pattern::new(4, 3000);
    put_pattern(&client, k, header("after", 3000, Some(CHUNK)), after)
        .await
        .expect("upload after the bad ones");
    let names: Vec<String> = list_all(&client, &key)
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["after", "good"]);
}
