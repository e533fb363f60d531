//! HTTP metrics and retry counting against a local server that answers
//! every request with 503 (a temporary S3 error).

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::config::{ProviderConfig, ProviderKind, ProviderLimits};
use crate::error::BackendErrorKind;
use crate::http_metrics::HTTP_REQUESTS_TOTAL;
use crate::metrics::RETRIES_TOTAL;
use crate::secret::Secret;
use crate::store::ShardStore;
use crate::store_tests::shard;

/// Serves `503 Slow Down` to every request (reading each body first, so the
/// client sees a clean response), one request per connection, at most 16.
async fn always_503(listener: TcpListener) {
    for _ in 0..16 {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let mut sock = BufReader::new(sock);
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if sock.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        let _ = sock.read_exact(&mut body).await;
        let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = sock.get_mut().write_all(reply.as_bytes()).await;
    }
}

/// (name, labels, value) of one recorded metric.
type Row = (String, Vec<(String, String)>, DebugValue);

fn counter(rows: &[Row], name: &str, labels: &[(&str, &str)]) -> u64 {
    rows.iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| match v {
            DebugValue::Counter(c) => *c,
            _ => 0,
        })
        .sum()
}

#[test]
fn every_attempt_is_metered_and_retries_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let err = metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
            let server = tokio::spawn(always_503(listener));
            let cfg = ProviderConfig {
                name: "busy".into(),
                weight: 1.0,
                prefix: String::new(),
                kind: ProviderKind::S3 {
                    bucket: "b".into(),
                    endpoint: Some(endpoint),
                    region: "us-east-1".into(),
                    access_key_id: Some(Secret::new("k".into())),
                    secret_access_key: Some(Secret::new("s".into())),
                    virtual_host_style: false,
                    conditional_writes: true,
                },
                limits: ProviderLimits {
                    retry_max_times: 2,
                    retry_min_delay_ms: 1,
                    retry_max_delay_ms: 5,
                    ..ProviderLimits::default()
                },
            };
            let store = ShardStore::from_config(&cfg).expect("store");
            let err = store
                .put_shard(shard(9, 0, 2, 1, 64))
                .await
                .expect_err("503s");
            server.abort();
            err
        })
    });
    assert_eq!(err.kind(), &BackendErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());

    let rows: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let labels = k
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (k.key().name().to_owned(), labels, v)
        })
        .collect();
    // One first attempt plus two retries, each a PUT answered 503.
    assert_eq!(
        counter(
            &rows,
            HTTP_REQUESTS_TOTAL,
            &[("provider", "busy"), ("method", "PUT"), ("status", "5xx")]
        ),
        3
    );
    assert_eq!(counter(&rows, RETRIES_TOTAL, &[("provider", "busy")]), 2);
}
