//! Listing, manifests, limits, the Providers service, restarts, metrics.

use crate::common;

use common::{TestBroker, as_tenant, bytes, header, put, raw_wire};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

#[tokio::test]
async fn list_pages_in_name_order_and_manifest_hashes_to_the_blob_id() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    for (i, name) in ["c", "a", "b/1", "b/2", "d"].into_iter().enumerate() {
        put(
            &client,
            Some(&key),
            header(name, None),
            &bytes(100 + i, i as u8),
        )
        .await
        .expect("put");
    }
    let owner = as_tenant(&client, Some(&key));
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = owner.list("", 2, &token).await.expect("list");
        assert!(page.blobs.len() <= 2);
        names.extend(page.blobs.into_iter().map(|b| b.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names, ["a", "b/1", "b/2", "c", "d"]);
    let page = owner.list("b/", 1, "").await.expect("prefix");
    assert_eq!(page.blobs[0].name, "b/1");
    let err = owner
        .list("x", 1, &page.next_page_token)
        .await
        .expect_err("token for another prefix");
    assert_eq!(err.code(), Some(Code::InvalidArgument));

    let id = put(&client, Some(&key), header("m", None), &bytes(300_000, 9))
        .await
        .expect("put")
        .blob_id;
    // The SDK decodes the manifest and checks that it hashes to the id.
    let manifest = owner.manifest(&id).await.expect("manifest");
    assert_eq!(manifest.chunks().len(), 2);
    assert_eq!(manifest.blob_id().to_hex(), id);

    let limits = client.limits().await.expect("limits");
    assert_eq!(limits.healthy_providers, 3);
    assert_eq!((limits.default_k, limits.default_m), (2, 1));
    broker.stop().await;
}

#[tokio::test]
async fn providers_join_persist_across_restart_and_leave() {
    let broker = TestBroker::start().await;
    let providers = broker.admin().await;
    let extra_root = broker.dir.path().join("extra");
    let join = |name: &str, root: String| pb::JoinProviderRequest {
        name: name.into(),
        config: Some(pb::ProviderConfig {
            kind: Some(pb::provider_config::Kind::Fs(pb::FsConfig { root })),
        }),
        weight: 0,
    };
    let info = providers
        .join_provider(join("extra", extra_root.display().to_string()))
        .await
        .expect("join");
    assert_eq!(info.state, pb::ProviderState::Up as i32);
    assert_eq!(info.weight, 100);
    assert!(!info.can_presign);
    let err = providers
        .join_provider(join("extra", extra_root.display().to_string()))
        .await
        .expect_err("twice");
    assert_eq!(err.code(), Some(Code::AlreadyExists));
    let err = providers
        .join_provider(join("Bad_Name", "/tmp/x".into()))
        .await
        .expect_err("bad name");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    let err = providers
        .join_provider(join("rel", "relative/dir".into()))
        .await
        .expect_err("relative root");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    let err = raw_wire::providers(&broker.url())
        .await
        .list(pb::ListProvidersRequest {})
        .await
        .expect_err("no admin key");
    assert_eq!(err.code(), Code::Unauthenticated);

    // The joined provider is remembered by the index across a restart.
    let broker = broker.restart().await;
    let providers = broker.admin().await;
    let list = providers.list_providers().await.expect("list");
    let names: Vec<_> = list.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["extra", "p0", "p1", "p2"]);
    // One weight scale for API and config-file providers: equal defaults.
    assert!(list.iter().all(|p| p.weight == 100), "{list:?}");

    // Shards land on it; leaving needs a drain (or force).
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    for i in 0..8u8 {
        put(&client, Some(&key), header("f", None), &bytes(1000, i))
            .await
            .expect("put");
    }
    let info = providers.drain_provider("extra").await.expect("drain");
    assert_eq!(info.state, pb::ProviderState::Draining as i32);
    assert!(
        info.shards_stored > 0,
        "8 chunks over 4 providers put some shards on extra"
    );
    let err = providers
        .leave_provider("extra", false)
        .await
        .expect_err("still holds shards");
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    let left = providers
        .leave_provider("extra", true)
        .await
        .expect("forced leave");
    assert_eq!(left.shards_queued_for_repair, info.shards_stored);
    let health = providers.provider_health(vec![]).await.expect("health");
    assert_eq!(health.providers.len(), 3);
    let err = providers
        .provider_health(vec!["extra".into()])
        .await
        .expect_err("gone");
    assert_eq!(err.code(), Some(Code::NotFound));

    // GC of chunks with shards on the departed provider still completes:
    // those copies are no longer the broker's to delete.
    let owner = as_tenant(&client, Some(&key));
    let list = owner.list("", 0, "").await.expect("list");
    assert_eq!(list.blobs.len(), 8);
    for blob in list.blobs {
        owner.delete(&blob.blob_id).await.expect("delete");
    }
    let report = broker.admin().await.run_gc(false).await.expect("gc");
    assert_eq!(report.chunks_released, 8);
    assert_eq!(report.orphan_shards_found, 24);
    assert_eq!(
        report.orphan_shards_deleted,
        24 - left.shards_queued_for_repair
    );
    broker.stop().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_port() {
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = metrics.local_addr().expect("addr");
    let broker =
        TestBroker::start_in(tempfile::tempdir().expect("tempdir"), |_| {}, Some(metrics)).await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    put(&client, Some(&key), header("m", None), &bytes(5000, 1))
        .await
        .expect("put");

    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut body = String::new();
    conn.read_to_string(&mut body).await.expect("read");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("shardgate_upload_bytes_total"), "{body}");
    assert!(body.contains("shardgate_backend_requests_total"), "{body}");
    assert!(!body.contains(&key), "no tenant data in metrics");
    broker.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_api_and_health_reports_each_service() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let broker = TestBroker::start().await;
    let channel = tonic::transport::Channel::from_shared(broker.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "shardgate.v1.Storage",
        "shardgate.v1.Providers",
        "shardgate.v1.Admin",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }

    let mut health = HealthClient::new(channel);
    for service in [
        "",
        "shardgate.v1.Storage",
        "shardgate.v1.Providers",
        "shardgate.v1.Admin",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    broker.stop().await;
}
