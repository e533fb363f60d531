//! Runs the built `shardgate` binary: a `serve` process on 127.0.0.1:0
//! (stopped by PID on drop) and client commands against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test: `SHARDGATE_BIN` if set (a private copy, when
/// several checkouts share one target directory and its
/// `target/debug/shardgate`), else the one cargo built for this test.
pub(crate) fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("SHARDGATE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_shardgate").to_owned())
    })
}
pub(crate) const ADMIN_KEY: &str = "sga_cli-test-admin-key";
const MASTER_KEY: &str = "8e1f0c2b3a49586776a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0aa";

/// A `shardgate serve` child process with three fs providers.
pub(crate) struct Served {
    pub url: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Served {
    /// Writes a config, starts `serve --listen 127.0.0.1:0`, reads the
    /// bound address from its `listening on` line, then polls the health
    /// check (via `shardgate ls`-free gRPC: the `providers ls` command)
    /// until the broker answers.
    pub(crate) fn start() -> Served {
        Served::start_with("")
    }

    /// As [`Served::start`], with `extra` appended to the config file
    /// (e.g. a `[payments]` table).
    pub(crate) fn start_with(extra: &str) -> Served {
        Served::start_with_flags(extra, &[])
    }

    /// As [`Served::start_with`], with `flags` added to `serve`'s command line.
    pub(crate) fn start_with_flags(extra: &str, flags: &[String]) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = format!(
            "data_dir = {:?}\nadmin_key_hash = \"{}\"\ndefault_chunk_size = 262144\ngc_interval_secs = 0\n",
            dir.path().join("index").display().to_string(),
            blake3::hash(ADMIN_KEY.as_bytes()).to_hex()
        );
        for name in ["p0", "p1", "p2"] {
            config.push_str(&format!(
                "[[providers]]\nname = \"{name}\"\nkind = \"fs\"\nroot = {:?}\n",
                dir.path().join(name).display().to_string()
            ));
        }
        config.push_str(extra);
        let config_path = dir.path().join("broker.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
            .args(flags)
            .env("SHARDGATE_MASTER_KEY", MASTER_KEY)
            .env_remove("SHARDGATE_BROKER")
            .env_remove("SHARDGATE_API_KEY")
            .env_remove("SHARDGATE_ADMIN_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let served = Served {
            url: format!("http://{addr}"),
            dir,
            child,
        };
        served.wait_serving();
        served
    }

    /// Polls the gRPC health service (bounded, 25 ms apart).
    fn wait_serving(&self) {
        assert!(
            self.poll_health(true),
            "serve did not become SERVING within 10 s"
        );
    }

    /// Polls (bounded) until the health check stops answering SERVING
    /// (status changed, or new connections refused): shutdown has begun.
    pub(crate) fn wait_not_serving(&self) {
        assert!(
            self.poll_health(false),
            "serve still SERVING 10 s after SIGTERM"
        );
    }

    /// True once `serving(url) == want`, at most 400 × 25 ms.
    fn poll_health(&self, want: bool) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = self.url.clone();
        runtime.block_on(async move {
            for _ in 0..400 {
                if serving(&url).await == want {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            false
        })
    }

    /// `shardgate ARGS` against this broker (admin key in the env).
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, None)
    }

    /// As [`Served::cli`], with `SHARDGATE_API_KEY` set.
    pub(crate) fn cli_as(&self, api_key: &str, args: &[&str]) -> Output {
        self.cli_with(args, Some(api_key))
    }

    /// `shardgate ARGS` with piped stdin, not waited for.
    pub(crate) fn spawn_stdin(&self, api_key: &str, args: &[&str]) -> Child {
        Command::new(bin())
            .args(args)
            .env("SHARDGATE_BROKER", &self.url)
            .env("SHARDGATE_API_KEY", api_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shardgate")
    }

    /// As [`Served::cli_as`], with `input` on stdin.
    pub(crate) fn cli_stdin(&self, api_key: &str, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(bin())
            .args(args)
            .env("SHARDGATE_BROKER", &self.url)
            .env("SHARDGATE_API_KEY", api_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shardgate");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        child.wait_with_output().expect("wait")
    }

    fn cli_with(&self, args: &[&str], api_key: Option<&str>) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("SHARDGATE_BROKER", &self.url)
            .env("SHARDGATE_ADMIN_KEY", ADMIN_KEY)
            .env_remove("SHARDGATE_API_KEY");
        if let Some(key) = api_key {
            cmd.env("SHARDGATE_API_KEY", key);
        }
        cmd.output().expect("run shardgate")
    }

    /// Shard objects in the three provider directories.
    pub(crate) fn shard_files(&self) -> usize {
        ["p0", "p1", "p2"]
            .iter()
            .map(|p| count_files(&self.dir.path().join(p).join("shards")))
            .sum()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sends SIGTERM and waits: serve must shut down cleanly (exit 0).
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.child.wait().expect("wait for serve")
    }

    /// SIGTERM to this serve process (by PID), without waiting.
    pub(crate) fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    }

    /// Waits for serve to exit.
    pub(crate) fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for serve")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // By PID, only the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub(crate) fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Asserts a failure with exactly one `error:` line naming `code`; returns it.
pub(crate) fn fails_with(o: Output, code: &str) -> String {
    assert!(
        !o.status.success(),
        "expected failure, stdout: {}",
        stdout(&o)
    );
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line expected: {err:?}");
    assert!(lines[0].starts_with("error: "), "{err:?}");
    assert!(lines[0].contains(code), "expected {code} in {err:?}");
    lines[0].to_owned()
}

/// The value after `label` on a `label   value` line.
pub(crate) fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {label:?} line in {text}"))
}

/// Deterministic test data of `len` bytes that does not repeat per chunk.
pub(crate) fn data(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(b"shardgate-cli test data")
        .finalize_xof()
        .fill(&mut out);
    out
}

pub(crate) fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// One health check of the Storage service.
async fn serving(url: &str) -> bool {
    use tonic_health::pb::health_check_response::ServingStatus;
    let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_owned())
        .expect("url")
        .connect()
        .await
    else {
        return false;
    };
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "shardgate.v1.Storage".into(),
        })
        .await
        .is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32)
}
