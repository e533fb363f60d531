//! Finding the `shardgate` binary: `SHARDGATE_BIN` if set, else
//! `cargo build -p shardgate-cli --bin shardgate` in the profile this
//! test (or bench) binary was built with, then `<target>/<profile>/shardgate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::PeerError;

/// Overrides where the harness takes the broker binary from.
pub(super) const SHARDGATE_BIN_ENV: &str = "SHARDGATE_BIN";

/// Path of an up-to-date `shardgate` binary (built once per process).
pub fn shardgate_binary() -> Result<PathBuf, PeerError> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(locate)
        .clone()
        .map_err(|reason| PeerError::io("find the shardgate binary", std::io::Error::other(reason)))
}

fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(SHARDGATE_BIN_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = profile_dir(&exe)
        .ok_or_else(|| format!("{} is not inside a cargo target dir", exe.display()))?;
    let binary = profile_dir.join("shardgate");
    let target_dir = profile_dir
        .parent()
        .ok_or("the profile dir has no parent")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the tests crate has no parent dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "shardgate-cli",
            "--bin",
            "shardgate",
        ])
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    match build.status() {
        Ok(status) if status.success() => Ok(binary),
        // Someone else's half-edited crate may not build right now: a
        // binary from an earlier build still tests the broker, say so.
        _ if binary.exists() => {
            eprintln!(
                "warning: `cargo build -p shardgate-cli` failed; using the existing {}",
                binary.display()
            );
            Ok(binary)
        }
        Ok(status) => Err(format!("cargo build -p shardgate-cli failed ({status})")),
        Err(e) => Err(format!("cannot run cargo: {e} (set {SHARDGATE_BIN_ENV})")),
    }
}

/// `target/<profile>` from `target/<profile>/deps/<test>` or
/// `target/<profile>/<bin>`.
fn profile_dir(exe: &Path) -> Option<PathBuf> {
    let parent = exe.parent()?;
    if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().map(Path::to_path_buf)
    } else {
        Some(parent.to_path_buf())
    }
}
