//! A real broker on 127.0.0.1:0 with three fs providers in a tempdir (on a
//! tmpfs where there is one), and
//! helpers that drive it through the SDK (`shardgate_client::Client`).
//! Requests the SDK never sends (no key, malformed streams) go through
//! `shardgate_tests::raw_wire`, re-exported here as `raw_wire`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret};
use shardgate_broker::BrokerConfig;
use shardgate_client::{Client, ClientError, GetOptions, PutOptions};
use shardgate_proto::auth_metadata;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::storage_client::StorageClient;
pub(crate) use shardgate_tests::broker_process::client::as_tenant;
pub(crate) use shardgate_tests::raw_wire;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Smallest chunk size: keeps "several chunks" cheap.
pub(crate) const CHUNK: usize = 256 * 1024;
pub(crate) const ADMIN_KEY: &str = "test-admin-key";
pub(crate) const MASTER_KEY: &str =
    "5f0e8d4c2b1a39485766a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

pub(crate) struct TestBroker {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub provider_roots: Vec<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), shardgate_broker::BrokerError>>>,
}

/// The broker's directory (index and provider roots): on a tmpfs where
/// there is one. There the `fs` providers read a Get's shard bodies
/// straight into the chunk buffer (`shardgate_backends`'
/// `local_chunk_read.rs`), and every test of a bad shard checks that path
/// and its fall back to the fetcher; on a block device (the `tests/`
/// harness's brokers) Gets read through the fetcher.
fn broker_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir")
}

impl TestBroker {
    /// Three fs providers, 2+1 default, 256 KiB default chunks.
    pub(crate) async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        Self::start_in(broker_dir(), tweak, None).await
    }

    /// Stops, then starts a new broker on the same index and providers.
    pub(crate) async fn restart(self) -> TestBroker {
        self.restart_with(|_| {}).await
    }

    /// As [`TestBroker::restart`], with the same config change as at start
    /// (a `[payments]` section, say).
    pub(crate) async fn restart_with(
        mut self,
        tweak: impl FnOnce(&mut BrokerConfig),
    ) -> TestBroker {
        self.shutdown_and_wait().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::start_in(dir, tweak, None).await
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
        let listeners = shardgate_broker::Listeners {
            grpc: listener,
            metrics,
            http: None,
        };
        let task = match index {
            None => tokio::spawn(shardgate_broker::run_with(config, listeners, shutdown)),
            Some(index) => tokio::spawn(shardgate_broker::serve(
                config,
                index,
                listeners,
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

    /// An SDK client without keys (act as a tenant with [`as_tenant`]).
    pub(crate) async fn client(&self) -> Client {
        Client::connect(self.url()).await.expect("connect")
    }

    /// An SDK client with the operator's admin key.
    pub(crate) async fn admin(&self) -> Client {
        Client::builder(self.url())
            .admin_key(ADMIN_KEY)
            .connect()
            .await
            .expect("connect")
    }

    /// A raw Storage stub, for requests the SDK never sends.
    pub(crate) async fn raw_storage(&self) -> StorageClient<Channel> {
        raw_wire::storage(&self.url()).await
    }

    /// Creates a tenant; returns (tenant id, API key).
    pub(crate) async fn tenant(&self, name: &str, quota: Option<u64>) -> (String, String) {
        let r = self
            .admin()
            .await
            .create_tenant(name, quota)
            .await
            .expect("create tenant");
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
    raw_wire::with_key(msg, Some(key))
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

/// What a managed-mode `header` asks for, as SDK options (end-to-end
/// uploads of made-up ciphertext go through [`raw_put`]).
fn options_of(header: &pb::PutHeader) -> PutOptions {
    assert_ne!(
        header.key_mode,
        pb::KeyMode::EndToEnd as i32,
        "the SDK seals end-to-end uploads itself: send made-up ciphertext with raw_put"
    );
    let mut options = PutOptions::new(header.name.clone());
    options.content_type = header.content_type.clone();
    options.chunk_size = header.chunk_size_bytes;
    options.redundancy = header.redundancy;
    options.price = header.price;
    options.public = header.visibility == pb::Visibility::Public as i32;
    options.metadata = header.metadata.clone();
    options
}

/// Uploads `data` through the SDK as the tenant `key`, as `header` says.
pub(crate) async fn put(
    client: &Client,
    key: Option<&str>,
    header: pb::PutHeader,
    data: &[u8],
) -> Result<pb::PutResponse, ClientError> {
    let reader = std::io::Cursor::new(data.to_vec());
    let uploaded = as_tenant(client, key)
        .put(reader, header.declared_size_bytes, options_of(&header))
        .await?;
    Ok(uploaded.response)
}

/// Sends `header` and `data` as they are, on a raw stub (no key, made-up
/// end-to-end ciphertext).
pub(crate) async fn raw_put(
    raw: &mut StorageClient<Channel>,
    key: Option<&str>,
    header: pb::PutHeader,
    data: &[u8],
) -> Result<pb::PutResponse, ClientError> {
    raw_wire::put_messages(raw, key, put_messages(header, data)).await
}

/// Downloads through the SDK as the tenant `key`: the broker's header and
/// the bytes (checked by the SDK against the length and content hash).
pub(crate) async fn get(
    client: &Client,
    key: Option<&str>,
    blob_id: &str,
    range: Option<pb::ByteRange>,
) -> Result<(pb::GetHeader, Vec<u8>), ClientError> {
    let options = GetOptions {
        range: range.map(|r| (r.offset, r.length)),
        ..GetOptions::default()
    };
    let mut download = as_tenant(client, key).get(blob_id, &options).await?;
    let header = download.header().clone();
    let mut data = Vec::new();
    while let Some(piece) = download.next_chunk().await? {
        assert!(piece.len() <= 1 << 20, "frame over 1 MiB");
        data.extend_from_slice(&piece);
    }
    download.finish().await?;
    Ok((header, data))
}

/// A raw Get collected frame by frame (end-to-end blobs read without the
/// SDK's decryption).
pub(crate) async fn raw_get(
    raw: &mut StorageClient<Channel>,
    key: Option<&str>,
    blob_id: &str,
    range: Option<pb::ByteRange>,
) -> Result<(pb::GetHeader, Vec<u8>), ClientError> {
    let request = pb::GetRequest {
        blob_id: blob_id.into(),
        range,
        ..Default::default()
    };
    let fetched = raw_wire::fetch(raw, raw_wire::with_key(request, key)).await;
    fetched.end?;
    Ok((fetched.header.expect("header"), fetched.data))
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

/// An LND client of a simulated node, over its TLS with its macaroon, as
/// a wallet or an operator reaches it.
pub(crate) async fn lnd_client(
    node: &shardgate_lnd_sim::SimNode,
) -> shardgate_payments::LightningNode {
    use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
    shardgate_payments::LightningNode::connect(
        &LndConfig::new(
            node.grpc_socket(),
            TlsCertSource::Pem(node.tls_cert_pem().to_owned()),
            MacaroonSource::Hex(node.macaroon_hex()),
        )
        .with_call_timeout(Duration::from_secs(5)),
    )
    .await
    .expect("LND client")
}
