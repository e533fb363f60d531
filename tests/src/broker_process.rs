//! A real `shardgate serve` process for end-to-end tests and load runs.
//!
//! [`BrokerProcess::start`] writes a broker TOML (index in the process's
//! own data directory, providers on the peers you pass), spawns the built
//! `shardgate` binary on `127.0.0.1:0`, reads the bound address from its
//! `listening on ADDR` line, and polls the gRPC health check until Storage
//! is SERVING. The process is stopped by PID: gracefully
//! ([`BrokerProcess::terminate`], SIGTERM) or not at all
//! ([`BrokerProcess::kill`], SIGKILL); dropping it kills it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), shardgate_tests::PeerError> {
//! use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
//! let dirs = tempfile::tempdir().unwrap();
//! let providers: Vec<_> = (0..3)
//!     .map(|i| ProviderSpec::fs(&format!("p{i}"), dirs.path().join(format!("p{i}"))))
//!     .collect();
//! let broker = BrokerProcess::start(&providers, "").await?;
//! let (_tenant, api_key) = broker.create_tenant("alice", None).await.unwrap();
//! # Ok(()) }
//! ```

mod binary;
pub mod client;
pub mod pattern;
mod providers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shardgate_client::{Client, ClientError, ErrorKind, pb};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::PeerError;

pub use binary::shardgate_binary;
pub use providers::{PeerProviders, ProviderSpec, ProviderTarget};

/// The admin key every harness broker accepts (its hash is in the config).
pub const ADMIN_KEY: &str = "sga_broker-process-test-admin-key";
/// Master key of harness brokers (passed through the environment).
const MASTER_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";
/// A loaded 2-core box can take a while to open the index and probe providers.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(25);
/// Grace for SIGTERM before the harness falls back to SIGKILL.
const TERM_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `shardgate serve` child process.
pub struct BrokerProcess {
    dir: tempfile::TempDir,
    config_path: PathBuf,
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    gateway: SocketAddr,
}

impl BrokerProcess {
    /// The setup most end-to-end tests share: three real peers (moto as
    /// `s3`, the GCS emulator as `gcs`, moto via the B2 profile as `b2`)
    /// in buckets named after `bucket`, a broker on them with the default
    /// config, and a tenant `alice`. Returns the peers (they stop when
    /// dropped), the broker and alice's API key. Panics with what to run
    /// when the test peers are not installed.
    pub async fn on_peers(bucket: &str) -> (PeerProviders, BrokerProcess, String) {
        assert!(
            crate::tools_available(),
            "run scripts/install-test-peers.sh"
        );
        let peers = PeerProviders::start(bucket).await.expect("peers");
        let broker = BrokerProcess::start(&peers.specs, "")
            .await
            .expect("broker");
        let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
        (peers, broker, key)
    }

    /// Writes the config and starts the broker. `extra_toml` is appended
    /// after the harness's top-level keys and before the providers (top-level
    /// keys such as `default_chunk_size = 262144`, or tables like
    /// `[pipeline]`).
    pub async fn start(providers: &[ProviderSpec], extra_toml: &str) -> Result<Self, PeerError> {
        let dir = tempfile::Builder::new()
            .prefix("shardgate-broker-")
            .tempdir()
            .map_err(|e| PeerError::io("create broker dir", e))?;
        let mut config = format!(
            "data_dir = {:?}\nadmin_key_hash = \"{}\"\ngc_interval_secs = 0\n{extra_toml}\n",
            dir.path().join("data").display().to_string(),
            blake3::hash(ADMIN_KEY.as_bytes()).to_hex(),
        );
        for provider in providers {
            config.push_str(&provider.toml());
        }
        let config_path = dir.path().join("broker.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| PeerError::io(format!("write {}", config_path.display()), e))?;
        let (child, addr, gateway) = spawn(dir.path(), &config_path).await?;
        let broker = BrokerProcess {
            pid: child.id(),
            child: Some(child),
            dir,
            config_path,
            addr,
            gateway,
        };
        broker.wait_serving().await?;
        Ok(broker)
    }

    /// Starts the broker again on the same config, data directory and
    /// providers (after [`BrokerProcess::kill`] or `terminate`).
    pub async fn restart(&mut self) -> Result<(), PeerError> {
        self.kill();
        let (child, addr, gateway) = spawn(self.dir.path(), &self.config_path).await?;
        self.pid = child.id();
        self.child = Some(child);
        self.addr = addr;
        self.gateway = gateway;
        self.wait_serving().await
    }

    /// PID of the current child process; changes after [`Self::restart`].
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The gRPC address the broker bound (an ephemeral port on
    /// 127.0.0.1); changes after [`Self::restart`].
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// [`Self::addr`] as an `http://` URL, the form tonic and the CLI take.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTP gateway's base URL (`http://127.0.0.1:PORT`, share pages
    /// and L402 over HTTP); changes after [`Self::restart`].
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The broker's `data_dir` (the index lives here, and nothing else).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Every file under [`Self::data_dir`], recursively (tests check that
    /// it holds an index and no file bytes).
    pub fn data_dir_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir())
    }

    /// Everything the broker has logged so far (its stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The last few KiB of the broker's stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let start = text.len().saturating_sub(4096);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }

    /// Peak resident set (VmHWM) of the live process, KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// Resident set (VmRSS) of the live process now, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU seconds (user + system, all threads) the live process has used
    /// so far, from `/proc/<pid>/stat`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(self.pid)
    }

    /// SIGKILL by PID and reap: no shutdown code runs. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM by PID (graceful shutdown), waits for the exit; SIGKILL if it
    /// takes longer than 30 s. Returns whether it exited cleanly by itself.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // SAFETY: kill(2) with a PID of our own unreaped child (not yet
        // waited for, so it cannot have been recycled).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + TERM_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Whether the process runs and its health check says Storage SERVING.
    pub async fn is_serving(&self) -> bool {
        let Ok(channel) = Channel::from_shared(self.url()) else {
            return false;
        };
        let Ok(channel) = channel
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
        else {
            return false;
        };
        let mut health = HealthClient::new(channel);
        let check = health.check(HealthCheckRequest {
            service: "shardgate.v1.Storage".into(),
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(5), check).await,
            Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32
        )
    }

    async fn wait_serving(&self) -> Result<(), PeerError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.is_serving().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(PeerError::NotReady {
                    peer: "shardgate serve",
                    seconds: READY_TIMEOUT.as_secs(),
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// An SDK client without keys on a fresh connection; act as a tenant
    /// with [`client::as_tenant`] or `Client::with_api_key`.
    pub async fn client(&self) -> Result<Client, ClientError> {
        Client::connect(self.url()).await
    }

    /// An SDK client with the harness admin key, on a fresh connection.
    pub async fn admin_client(&self) -> Result<Client, ClientError> {
        Client::builder(self.url())
            .admin_key(ADMIN_KEY)
            .connect()
            .await
    }

    /// Creates a tenant through the Admin API: (tenant id, API key).
    pub async fn create_tenant(
        &self,
        name: &str,
        quota_bytes: Option<u64>,
    ) -> Result<(String, String), ClientError> {
        let response = self
            .admin_client()
            .await?
            .create_tenant(name, quota_bytes)
            .await?;
        let tenant = response.tenant.ok_or_else(|| {
            ClientError::new(ErrorKind::Internal, "CreateTenant returned no tenant")
        })?;
        Ok((tenant.tenant_id, response.api_key))
    }

    /// Runs one GC pass (Admin.RunGc) and returns its report.
    pub async fn run_gc(&self) -> Result<pb::GcReport, ClientError> {
        self.admin_client().await?.run_gc(false).await
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// CPU seconds (user + system, all threads) process `pid` has used so far,
/// from `/proc/<pid>/stat`; `None` if it is gone or not readable.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may hold spaces;
    // utime is field 14 of stat(5), stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let field = |n: usize| -> Option<u64> { rest.split(' ').nth(n - 3)?.parse().ok() };
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some((field(14)? + field(15)?) as f64 / ticks as f64)
}

/// Spawns `shardgate serve` and waits for its `listening on` line, after
/// its `http gateway on` line (stdout goes to a file, so the broker never
/// blocks on or dies of a closed pipe).
async fn spawn(dir: &Path, config: &Path) -> Result<(Child, SocketAddr, SocketAddr), PeerError> {
    let binary = shardgate_binary()?;
    let open = |name: &str| {
        std::fs::File::create(dir.join(name))
            .map_err(|e| PeerError::io(format!("create {name}"), e))
    };
    let stdout_path = dir.join("stdout.log");
    let mut command = Command::new(&binary);
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--http-listen", "127.0.0.1:0"])
        .env("SHARDGATE_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(open("stdout.log")?)
        .stderr(open("stderr.log")?);
    die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|source| PeerError::Spawn {
        peer: "shardgate serve",
        source,
    })?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let line = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        };
        if let (Some(addr), Some(gateway)) = (line("listening on "), line("http gateway on ")) {
            return Ok((child, addr, gateway));
        }
        let stderr = || std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(PeerError::Exited {
                peer: "shardgate serve",
                status: status.to_string(),
                log_tail: stderr(),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PeerError::NotReady {
                peer: "shardgate serve",
                seconds: READY_TIMEOUT.as_secs(),
                log_tail: stderr(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The broker gets SIGKILL if the thread that spawned it ends (a test
/// binary killed by a timeout takes its broker with it).
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Every file under `dir`, recursively (none if it does not exist): what a
/// broker or an `fs` provider wrote, for tests that search stored bytes.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
}
