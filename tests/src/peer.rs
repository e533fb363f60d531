//! A running peer process: spawned, watched and stopped by PID.
//!
//! Each peer gets its own supervisor thread that spawns the child, polls it
//! for an early exit, and kills and reaps it when asked. Two reasons:
//! - the child is started with `PR_SET_PDEATHSIG`, which fires when the
//!   *thread* that forked it ends. A thread that lives exactly as long as the
//!   `Peer` means a test binary that is killed (timeout, Ctrl-C) takes its
//!   peers with it, while a peer never dies early because the tokio worker
//!   that happened to start it went away;
//! - only the thread that owns the `Child` kills it, and only before reaping,
//!   so a recycled PID is never signalled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tempfile::TempDir;

use crate::PeerError;

/// How often the supervisor checks whether the child exited on its own.
const EXIT_POLL: Duration = Duration::from_millis(50);
/// How much of the log file an error message quotes.
const LOG_TAIL_BYTES: u64 = 4096;

/// Which server a [`Peer`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// moto's S3 API (accepts any credentials).
    Moto,
    /// gcp-storage-emulator's GCS JSON API (no authentication).
    GcsEmulator,
    /// s3s-fs: S3 API that checks SigV4 signatures.
    S3sFs,
    /// azurite's Blob service (checks shared-key signatures).
    Azurite,
}

impl PeerKind {
    /// The peer's program name, used in logs, thread names and
    /// [`PeerError`](crate::PeerError) messages.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Moto => "moto",
            PeerKind::GcsEmulator => "gcp-storage-emulator",
            PeerKind::S3sFs => "s3s-fs",
            PeerKind::Azurite => "azurite",
        }
    }
}

/// A storage server running as a child process on 127.0.0.1.
///
/// Dropping it (or calling [`Peer::stop`]) kills the process by PID and reaps
/// it; the data directory and log file are removed with it.
pub struct Peer {
    pub(crate) kind: PeerKind,
    pub(crate) port: u16,
    pub(crate) pid: u32,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) log_path: PathBuf,
    pub(crate) exit: Arc<Mutex<Option<ExitStatus>>>,
    stop_tx: Option<mpsc::Sender<()>>,
    supervisor: Option<JoinHandle<()>>,
    // Last field: dropped after the process is gone.
    dir: TempDir,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint())
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Spawns `command` (stdout and stderr to `<dir>/peer.log`) under a
    /// supervisor thread. Readiness is the caller's business.
    pub(crate) fn spawn(
        kind: PeerKind,
        mut command: Command,
        port: u16,
        dir: TempDir,
        credentials: (&str, &str),
    ) -> Result<Peer, PeerError> {
        let log_path = dir.path().join("peer.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|err| PeerError::io(format!("create {}", log_path.display()), err))?;
        let log_err = log
            .try_clone()
            .map_err(|err| PeerError::io("clone log file handle", err))?;
        command
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err);
        set_parent_death_signal(&mut command);

        let (pid_tx, pid_rx) = mpsc::channel::<std::io::Result<u32>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exit = Arc::new(Mutex::new(None));
        let exit_seen = Arc::clone(&exit);
        let supervisor = std::thread::Builder::new()
            .name(format!("peer-{}", kind.name()))
            .spawn(move || match command.spawn() {
                Err(err) => {
                    let _ = pid_tx.send(Err(err));
                }
                Ok(child) => {
                    let _ = pid_tx.send(Ok(child.id()));
                    supervise(child, &stop_rx, &exit_seen);
                }
            })
            .map_err(|err| PeerError::io("start supervisor thread", err))?;
        let pid = match pid_rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(source)) => {
                let _ = supervisor.join();
                return Err(PeerError::Spawn {
                    peer: kind.name(),
                    source,
                });
            }
            Err(_) => {
                let _ = supervisor.join();
                return Err(PeerError::Spawn {
                    peer: kind.name(),
                    source: std::io::Error::other("supervisor thread ended before spawning"),
                });
            }
        };
        Ok(Peer {
            kind,
            port,
            pid,
            access_key: credentials.0.to_owned(),
            secret_key: credentials.1.to_owned(),
            log_path,
            exit,
            stop_tx: Some(stop_tx),
            supervisor: Some(supervisor),
            dir,
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The socket address the peer listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// PID of the peer process; the harness stops it by this PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The TCP port on 127.0.0.1 the peer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Which program this peer runs.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// S3 access key the peer accepts (empty for the GCS emulator; the
    /// account name for azurite).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// S3 secret key the peer accepts (empty for the GCS emulator; the
    /// base64 account key for azurite).
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The peer's own data directory (removed when the peer is dropped).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The peer's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last few KiB of the log, for error messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path)
    }

    /// How the process ended, if it already has (crashed or stopped).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self
            .exit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Kills the process by PID and waits until it is reaped. Idempotent.
    pub fn stop(&mut self) {
        if let Some(stop_tx) = self.stop_tx.take() {
            let _ = stop_tx.send(());
        }
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The supervisor loop: record an early exit, or kill on request.
fn supervise(mut child: Child, stop_rx: &mpsc::Receiver<()>, exit: &Mutex<Option<ExitStatus>>) {
    let record = |status: ExitStatus| {
        *exit.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(status);
    };
    loop {
        match stop_rx.recv_timeout(EXIT_POLL) {
            // Asked to stop, or the Peer vanished without asking: either way, kill.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    // Reaped: the PID may be reused now, so never signal it again.
                    record(status);
                    return;
                }
            }
        }
    }
    if let Ok(Some(status)) = child.try_wait() {
        record(status);
        return;
    }
    // SIGKILL: test peers hold nothing worth a graceful shutdown.
    let _ = child.kill();
    if let Ok(status) = child.wait() {
        record(status);
    }
}

#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid, _exit).
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test process may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Last [`LOG_TAIL_BYTES`] of a file, lossily decoded.
pub(crate) fn read_tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
