//! Storage.GetShardLocations against S3 providers (moto): the SDK's path of
//! fetching presigned shard URLs, rebuilding and decrypting itself. Needs
//! moto from the test peers (`scripts/install-test-peers.sh`); fails,
//! naming the script, when it is missing.

use crate::common;

use std::time::Duration;

use common::{CHUNK, TestBroker, bytes, header, put, with_key};
use shardgate_core::aead::open;
use shardgate_core::{ChunkKey, ErasureParams, decode_shard_object};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tonic::Code;

/// moto's S3 server on a free 127.0.0.1 port, killed (by PID, through
/// `kill_on_drop`) when dropped.
struct Moto {
    _child: Child,
    addr: std::net::SocketAddr,
}

impl Moto {
    async fn start() -> Moto {
        let tools = std::env::var_os("SHARDGATE_TOOLS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools")
            });
        let server = tools.join("venv/bin/moto_server");
        assert!(
            server.exists(),
            "moto missing at {}: run scripts/install-test-peers.sh",
            server.display()
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("addr").port()
        };
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn moto");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // moto imports a lot of Python: poll (bounded) until it answers.
        for _ in 0..600 {
            if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                let _ = conn
                    .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .await;
                let mut head = [0u8; 12];
                if conn.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.") {
                    return Moto {
                        _child: child,
                        addr,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto did not answer within 30 s");
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// moto accepts unsigned bucket creation.
    async fn create_bucket(&self, bucket: &str) {
        let mut conn = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            self.addr
        );
        conn.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        conn.read_to_end(&mut response).await.expect("read");
        assert!(
            response.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&response)
        );
    }
}

/// A plain HTTP/1.1 GET of a presigned URL (`http://host:port/path?query`).
async fn http_get(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').expect("path"));
    let mut conn = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    response[split + 4..].to_vec()
}

#[tokio::test]
async fn presigned_shards_rebuild_and_decrypt_to_the_blob() {
    let moto = Moto::start().await;
    // Only the S3 providers: the broker's fs providers are not in this one.
    let broker = TestBroker::start_with(|c| c.providers.clear()).await;
    let providers = broker.admin().await;
    for i in 0..3 {
        let bucket = format!("direct-{i}");
        moto.create_bucket(&bucket).await;
        providers
            .join_provider(pb::JoinProviderRequest {
                name: format!("s3-{i}"),
                config: Some(pb::ProviderConfig {
                    kind: Some(pb::provider_config::Kind::S3(pb::S3Config {
                        bucket,
                        endpoint: moto.endpoint(),
                        access_key_id: "shardgate-test-key".into(),
                        secret_access_key: "shardgate-test-secret".into(),
                        ..Default::default()
                    })),
                }),
                weight: 0,
            })
            .await
            .expect("join");
    }
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // GetShardLocations is not wrapped by the SDK here: raw stub.
    let mut raw = broker.raw_storage().await;
    let data = bytes(2 * CHUNK + 100, 3);
    let id = put(&client, Some(&key), header("direct", None), &data)
        .await
        .expect("put")
        .blob_id;

    let offset = CHUNK as u64 - 10;
    let r = raw
        .get_shard_locations(with_key(
            pb::GetShardLocationsRequest {
                blob_id: id,
                range: Some(pb::ByteRange {
                    offset,
                    length: Some(20),
                }),
                url_ttl: None,
            },
            &key,
        ))
        .await
        .expect("locations")
        .into_inner();
    assert_eq!(r.chunks.len(), 2, "the range straddles chunks 0 and 1");
    let mut rebuilt = Vec::new();
    for chunk in &r.chunks {
        let params = ErasureParams::new(chunk.k as usize, chunk.m as usize).expect("params");
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; params.total()];
        for shard in chunk.shards.iter().take(params.k()) {
            let object = http_get(&shard.url).await;
            assert_eq!(object.len() as u64, shard.object_size_bytes);
            let (_, body) = decode_shard_object(&object).expect("valid shard");
            slots[shard.shard_index as usize] = Some(body.to_vec());
        }
        let views: Vec<Option<&[u8]>> = slots.iter().map(|s| s.as_deref()).collect();
        let sealed = params
            .rebuild(&views, chunk.ciphertext_length as usize)
            .expect("rebuild");
        assert_eq!(blake3::hash(&sealed).to_hex().to_string(), chunk.chunk_id);
        let mk = chunk.managed_key.as_ref().expect("managed key");
        let mut key_bytes = mk.key.clone();
        key_bytes.extend_from_slice(&mk.nonce);
        let plain = open(
            &ChunkKey::from_slice(&key_bytes).expect("key"),
            &mk.aad,
            &sealed,
        )
        .expect("decrypts");
        assert_eq!(plain.len() as u64, chunk.length);
        rebuilt.extend(plain);
    }
    let start = (offset - r.chunks[0].offset) as usize;
    assert!(rebuilt[start..start + 20] == data[offset as usize..offset as usize + 20]);
    broker.stop().await;
}

#[tokio::test]
async fn providers_that_cannot_presign_send_clients_to_get() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // GetShardLocations is not wrapped by the SDK here: raw stub.
    let mut raw = broker.raw_storage().await;
    let id = put(&client, Some(&key), header("f", None), &bytes(100, 1))
        .await
        .expect("put")
        .blob_id;
    let err = raw
        .get_shard_locations(with_key(
            pb::GetShardLocationsRequest {
                blob_id: id.clone(),
                range: None,
                url_ttl: None,
            },
            &key,
        ))
        .await
        .expect_err("fs cannot presign");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("Storage.Get"), "{}", err.message());
    let err = raw
        .get_shard_locations(with_key(
            pb::GetShardLocationsRequest {
                blob_id: id,
                range: None,
                url_ttl: Some(prost_types::Duration {
                    seconds: 7200,
                    nanos: 0,
                }),
            },
            &key,
        ))
        .await
        .expect_err("ttl too long");
    assert_eq!(err.code(), Code::InvalidArgument);
    broker.stop().await;
}
