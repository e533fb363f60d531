//! A provider that accepts connections but never answers: the timeout layer
//! must turn that into a `Timeout` error (temporary, counts against health)
//! instead of a hang, and the registry must then mark it DOWN.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::config::{ProviderConfig, ProviderKind, ProviderLimits};
use crate::error::BackendErrorKind;
use crate::health::HealthPolicy;
use crate::registry::ProviderRegistry;
use crate::secret::Secret;
use crate::store::ShardStore;
use crate::store_tests::shard;

/// Accepts TCP connections and holds them open without reading or writing.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: a test makes a handful of connections.
        while held.len() < 64 {
            match listener.accept().await {
                Ok((sock, _)) => held.push(sock),
                Err(_) => break,
            }
        }
        std::future::pending::<()>().await;
    });
    (format!("http://{addr}"), task)
}

fn stalled_s3(endpoint: String) -> ProviderConfig {
    ProviderConfig {
        name: "stalled".into(),
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
            timeout_ms: 300,
            io_timeout_ms: 300,
            retry_max_times: 1,
            retry_min_delay_ms: 10,
            retry_max_delay_ms: 10,
            ..ProviderLimits::default()
        },
    }
}

#[tokio::test]
async fn a_silent_provider_times_out_and_goes_down() {
    let (endpoint, server) = black_hole().await;
    let cfg = stalled_s3(endpoint);
    let store = ShardStore::from_config(&cfg).expect("store");

    let started = Instant::now();
    let err = store
        .put_shard(shard(1, 0, 2, 1, 64))
        .await
        .expect_err("no answer");
    assert_eq!(err.kind(), &BackendErrorKind::Timeout, "{err}");
    assert!(err.is_temporary());
    // Two attempts of 300 ms each plus a short back-off: far below a hang.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // The join probe reports the endpoint as the thing to fix.
    let reg = ProviderRegistry::new(HealthPolicy {
        failure_threshold: 2,
        ..HealthPolicy::default()
    });
    let join = reg.join(cfg).await.expect_err("probe times out");
    assert_eq!(
        join.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "endpoint".into()
        },
        "{join}"
    );
    server.abort();
}
