//! A throughput figure for the report, not a pass/fail check:
//! `cargo test -p shardgate-broker --release --test throughput -- --ignored --nocapture`

mod common;

use std::time::Instant;

use common::{TestBroker, bytes, get, put};
use shardgate_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints MiB/s for a 64 MiB upload and download over three fs providers"]
async fn upload_and_download_64_mib() {
    let broker = TestBroker::start_with(|c| c.default_chunk_size = 4 << 20).await;
    let (_, key) = broker.tenant("bench", None).await;
    let mut client = broker.storage().await;
    let data = bytes(64 << 20, 42);
    let mib = data.len() as f64 / f64::from(1 << 20);

    let started = Instant::now();
    let header = pb::PutHeader {
        name: "bench".into(),
        declared_size_bytes: Some(data.len() as u64),
        ..Default::default()
    };
    let r = put(&mut client, Some(&key), header, &data)
        .await
        .expect("put");
    let up = started.elapsed();

    let started = Instant::now();
    let (_, got) = get(&mut client, Some(&key), &r.blob_id, None)
        .await
        .expect("get");
    let down = started.elapsed();
    assert!(got == data);
    println!(
        "64 MiB, 4 MiB chunks, 2+1 over 3 fs providers: upload {:.1} MiB/s ({up:?}), download {:.1} MiB/s ({down:?})",
        mib / up.as_secs_f64(),
        mib / down.as_secs_f64()
    );
    broker.stop().await;
}
