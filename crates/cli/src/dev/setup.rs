//! The dev environment: a directory, keys, three local providers, and the
//! broker running in this process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits, Secret};
use shardgate_broker::{BrokerConfig, BrokerError};
use shardgate_client::{Client, ClientError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::lightning::DevLightning;
use crate::serve::{new_admin_key, new_master_key};

/// Three local directories standing in for three clouds: with k=2, m=1
/// every chunk has one shard on each.
pub(super) const PROVIDERS: [&str; 3] = ["cloud-a", "cloud-b", "cloud-c"];
/// Name of the tenant dev mode uploads as.
pub(super) const TENANT: &str = "dev";
/// Keys file in a kept `--dir`, so a second run can read the first run's
/// blobs (every key derives from the master key).
const KEYS_FILE: &str = "dev-keys.toml";
/// Readiness poll: at most 400 × 25 ms = 10 s.
const READY_ATTEMPTS: u32 = 400;
const READY_INTERVAL: Duration = Duration::from_millis(25);

/// Keys of a dev broker. Printed only with `--keep`, on purpose.
#[derive(Deserialize)]
pub(super) struct DevKeys {
    pub master_key: String,
    pub admin_key: String,
}

impl DevKeys {
    /// Reads `dir/dev-keys.toml`, or creates it (owner-only) with fresh keys.
    pub(super) fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEYS_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()));
        }
        let keys = Self {
            master_key: new_master_key(),
            admin_key: new_admin_key().0,
        };
        let text = format!(
            "# shardgate dev keys: every blob in this directory needs them.\nmaster_key = \"{}\"\nadmin_key = \"{}\"\n",
            keys.master_key, keys.admin_key
        );
        write_private(&path, &text)?;
        Ok(keys)
    }

    fn admin_key_hash(&self) -> String {
        blake3::hash(self.admin_key.as_bytes()).to_hex().to_string()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot create {}", path.display()))
}

/// Root directory of provider `name`.
pub(super) fn provider_root(dir: &Path, name: &str) -> PathBuf {
    dir.join("providers").join(name)
}

/// The dev broker's config: redb in `dir/index`, fs providers under
/// `dir/providers/`, `[payments]` through the dev broker node, defaults for
/// everything else (4 MiB chunks, k=2 m=1, the default revenue split).
pub(super) fn broker_config(dir: &Path, keys: &DevKeys, lightning: &DevLightning) -> BrokerConfig {
    BrokerConfig {
        data_dir: dir.join("index"),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        master_key: Some(Secret::new(keys.master_key.clone())),
        admin_key_hash: Some(keys.admin_key_hash()),
        providers: PROVIDERS
            .iter()
            .map(|name| ProviderConfig {
                name: (*name).to_owned(),
                weight: 1.0,
                prefix: String::new(),
                kind: ProviderKind::Fs {
                    root: provider_root(dir, name),
                },
                limits: ProviderLimits::default(),
            })
            .collect(),
        payments: Some(lightning.broker_payments()),
        ..BrokerConfig::default()
    }
}

/// A broker task in this process.
pub(super) struct RunningBroker {
    pub url: String,
    pub metrics_url: String,
    /// The HTTP gateway (share links), `http://127.0.0.1:PORT`.
    pub gateway_url: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), BrokerError>>,
}

impl RunningBroker {
    /// Binds 127.0.0.1:0 for gRPC, /metrics and the HTTP gateway, starts
    /// the broker, and waits (bounded) until the health service says
    /// SERVING.
    pub(super) async fn start(mut config: BrokerConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let metrics_url = format!("http://{}/metrics", metrics.local_addr()?);
        let gateway_url = format!("http://{}", http.local_addr()?);
        config.public_url = Some(gateway_url.clone());
        let (shutdown, rx) = oneshot::channel::<()>();
        let listeners = shardgate_broker::Listeners {
            grpc: listener,
            metrics: Some(metrics),
            http: Some(http),
        };
        let mut task = tokio::spawn(shardgate_broker::run_with(config, listeners, async move {
            let _ = rx.await;
        }));
        for _ in 0..READY_ATTEMPTS {
            if task.is_finished() {
                let outcome = (&mut task).await.context("the broker task panicked")?;
                outcome.context("the broker failed to start")?;
                bail!("the broker stopped before serving");
            }
            if check_serving(&url).await.is_ok() {
                return Ok(Self {
                    url,
                    metrics_url,
                    gateway_url,
                    shutdown,
                    task,
                });
            }
            tokio::time::sleep(READY_INTERVAL).await;
        }
        bail!("the dev broker did not become SERVING within 10 s")
    }

    /// Graceful shutdown; waits for in-flight calls.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task
            .await
            .context("the broker task panicked")?
            .context("the broker failed")
    }
}

/// The dev tenant's API key: created on a fresh index, rotated on a kept
/// one (keys are shown only once, so the old one is not recoverable).
pub(super) async fn dev_tenant_key(op: &Client) -> anyhow::Result<String> {
    match op.create_tenant(TENANT, None).await {
        Ok(r) => Ok(r.api_key),
        Err(e) if e.code() == Some(Code::AlreadyExists) => {
            let tenants = op.list_tenants(1000, "").await?.tenants;
            let Some(tenant) = tenants.into_iter().find(|t| t.name == TENANT) else {
                bail!("tenant {TENANT:?} exists but is not listed");
            };
            Ok(op.rotate_tenant_key(&tenant.tenant_id).await?.api_key)
        }
        Err(e) => Err(e.into()),
    }
}

/// One health check: Ok when the Storage service is SERVING. The SDK
/// wraps no health call; its channel carries tonic-health's client.
async fn check_serving(url: &str) -> anyhow::Result<()> {
    let client = Client::connect(url).await?;
    let status = HealthClient::new(client.channel().clone())
        .check(HealthCheckRequest {
            service: "shardgate.v1.Storage".to_owned(),
        })
        .await
        .map_err(ClientError::from)?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        bail!("health status is {status}")
    }
}
