//! A real broker on 127.0.0.1:0 with three fs providers in a tempdir, and
//! helpers that drive it through the generated clients.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret};
use shardgate_broker::BrokerConfig;
use shardgate_proto::auth_metadata;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::admin_client::AdminClient;
use shardgate_proto::v1::storage_client::StorageClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Smallest chunk size: keeps "several chunks" cheap.
pub(crate) const CHUNK: usize = 256 * 1024;
pub(crate) const ADMIN_KEY: &str = "test-admin-key";
const MASTER_KEY: &str = "5f0e8d4c2b1a39485766a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

pub(crate) struct TestBroker {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub provider_roots: Vec<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), shardgate_broker::BrokerError>>>,
}

impl TestBroker {
    /// Three fs providers, 2+1 default, 256 KiB default chunks.
    pub(crate) async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        Self::start_in(tempfile::tempdir().expect("tempdir"), tweak, None).await
    }

    /// Stops, then starts a new broker on the same index and providers.
    pub(crate) async fn restart(mut self) -> TestBroker {
        self.shutdown_and_wait().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::start_in(dir, |_| {}, None).await
    }

    /// With `/metrics` on `metrics` (bound by the caller).
    pub(crate) async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut BrokerConfig),
        metrics: Option<tokio::net::TcpListener>,
    ) -> TestBroker {
        Self::start_inner(dir, tweak, metrics, None).await
    }

    /// On an index the test built (e.g. a wrapper injecting failures).
    pub(crate) async fn start_on_index(
        dir: tempfile::TempDir,
        index: std::sync::Arc<dyn shardgate_index::Index>,
    ) -> TestBroker {
        Self::start_inner(dir, |_| {}, None, Some(index)).await
    }

    /// As [`TestBroker::start_on_index`], with a config change.
    pub(crate) async fn start_on_index_with(
        dir: tempfile::TempDir,
        index: std::sync::Arc<dyn shardgate_index::Index>,
        tweak: impl FnOnce(&mut BrokerConfig),
    ) -> TestBroker {
        Self::start_inner(dir, tweak, None, Some(index)).await
    }

    async fn start_inner(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut BrokerConfig),
        metrics: Option<tokio::net::TcpListener>,
        index: Option<std::sync::Arc<dyn shardgate_index::Index>>,
    ) -> TestBroker {
        let provider_roots: Vec<PathBuf> =
            (0..3).map(|i| dir.path().join(format!("p{i}"))).collect();
        let mut config = BrokerConfig {
            data_dir: dir.path().join("data"),
            metrics_listen: None,
            master_key: Some(Secret::new(MASTER_KEY.to_owned())),
            admin_key_hash: Some(blake3::hash(ADMIN_KEY.as_bytes()).to_hex().to_string()),
            default_chunk_size: CHUNK as u32,
            gc_interval_secs: 0,
            providers: provider_roots
                .iter()
                .enumerate()
                .map(|(i, root)| ProviderConfig {
                    name: format!("p{i}"),
                    weight: 1.0,
                    prefix: String::new(),
                    kind: ProviderKind::Fs { root: root.clone() },
                    limits: ProviderLimits::default(),
                })
                .collect(),
            ..BrokerConfig::default()
        };
        // Hedging is exercised on purpose in its own test; elsewhere a
        // short delay keeps down-provider reads quick.
        config.pipeline.hedge_delay_ms = 50;
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = match index {
            None => tokio::spawn(shardgate_broker::run_with(
                config, listener, metrics, shutdown,
            )),
            Some(index) => tokio::spawn(shardgate_broker::serve(
                config,
                index,
                listener,
                metrics,
                shardgate_broker::FreeOnly,
                shutdown,
            )),
        };
        let broker = TestBroker {
            addr,
            dir,
            provider_roots,
            shutdown: Some(tx),
            task: Some(task),
        };
        broker.wait_serving().await;
        broker
    }

    /// Polls the health service (bounded) until the broker serves.
    async fn wait_serving(&self) {
        for _ in 0..200 {
            if let Ok(channel) = Channel::from_shared(self.url())
                .expect("url")
                .connect()
                .await
                && let mut health = HealthClient::new(channel)
                && let Ok(r) = health
                    .check(HealthCheckRequest {
                        service: "shardgate.v1.Storage".into(),
                    })
                    .await
                && r.get_ref().status == ServingStatus::Serving as i32
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("broker did not become SERVING within 5 s");
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn storage(&self) -> StorageClient<Channel> {
        StorageClient::connect(self.url())
            .await
            .expect("connect")
            .max_decoding_message_size(8 << 20)
    }

    pub(crate) async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::connect(self.url()).await.expect("connect")
    }

    /// Creates a tenant; returns (tenant id, API key).
    pub(crate) async fn tenant(&self, name: &str, quota: Option<u64>) -> (String, String) {
        let r = self
            .admin()
            .await
            .create_tenant(admin_req(pb::CreateTenantRequest {
                name: name.into(),
                quota_bytes: quota,
            }))
            .await
            .expect("create tenant")
            .into_inner();
        (r.tenant.expect("tenant").tenant_id, r.api_key)
    }

    /// Shard objects on every provider.
    pub(crate) fn shard_files(&self) -> usize {
        self.provider_roots
            .iter()
            .map(|r| count_files(&r.join("shards")))
            .sum()
    }

    /// Asks the broker to shut down (graceful: in-flight calls finish).
    pub(crate) fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown_and_wait().await;
    }

    async fn shutdown_and_wait(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

pub(crate) fn admin_req<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert(auth_metadata::ADMIN_KEY, ADMIN_KEY.parse().expect("ascii"));
    r
}

pub(crate) fn with_key<T>(msg: T, key: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert(auth_metadata::API_KEY, key.parse().expect("ascii"));
    r
}

pub(crate) fn header(name: &str, size: Option<u64>) -> pb::PutHeader {
    pb::PutHeader {
        name: name.into(),
        declared_size_bytes: size,
        ..Default::default()
    }
}

/// Header first, then `data` in frames of at most 1 MiB.
pub(crate) fn put_messages(header: pb::PutHeader, data: &[u8]) -> Vec<pb::PutRequest> {
    let mut msgs = vec![pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(header)),
    }];
    msgs.extend(data.chunks(1 << 20).map(|c| pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(c.to_vec().into())),
    }));
    msgs
}

pub(crate) async fn put(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    header: pb::PutHeader,
    data: &[u8],
) -> Result<pb::PutResponse, Status> {
    let stream = tokio_stream::iter(put_messages(header, data));
    let mut req = Request::new(stream);
    if let Some(key) = key {
        req.metadata_mut()
            .insert(auth_metadata::API_KEY, key.parse().expect("ascii"));
    }
    client.put(req).await.map(|r| r.into_inner())
}

pub(crate) async fn get(
    client: &mut StorageClient<Channel>,
    key: Option<&str>,
    blob_id: &str,
    range: Option<pb::ByteRange>,
) -> Result<(pb::GetHeader, Vec<u8>), Status> {
    let mut req = Request::new(pb::GetRequest {
        blob_id: blob_id.into(),
        range,
        ..Default::default()
    });
    if let Some(key) = key {
        req.metadata_mut()
            .insert(auth_metadata::API_KEY, key.parse().expect("ascii"));
    }
    let mut stream = client.get(req).await?.into_inner();
    let mut header = None;
    let mut data = Vec::new();
    while let Some(msg) = stream.message().await? {
        match msg.frame {
            Some(pb::get_response::Frame::Header(h)) => {
                assert!(header.is_none(), "two headers");
                header = Some(h);
            }
            Some(pb::get_response::Frame::Data(d)) => {
                assert!(header.is_some(), "data before header");
                assert!(d.len() <= 1 << 20, "frame over 1 MiB");
                data.extend_from_slice(&d);
            }
            None => panic!("empty frame"),
        }
    }
    Ok((header.expect("header"), data))
}

/// Deterministic, incompressible-looking test bytes.
pub(crate) fn bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
