//! Where the installed test peers live, and whether they are there.

use std::path::{Path, PathBuf};

use crate::PeerError;

/// Env var that points the harness at another tools directory.
pub const TOOLS_ENV: &str = "SHARDGATE_TOOLS";

/// The tools directory: `$SHARDGATE_TOOLS`, else `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os(TOOLS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        // This crate sits one level below the workspace root.
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|root| root.join(".tools"))
            .unwrap_or_else(|| PathBuf::from(".tools")),
    }
}

/// One executable the harness starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// moto's standalone S3 server (in the tools venv).
    MotoServer,
    /// gcp-storage-emulator (in the tools venv).
    GcsEmulator,
    /// s3s-fs, an S3 server that checks SigV4 signatures (a Rust binary).
    S3sFs,
    /// azurite's Blob service (an npm package, run by Node).
    Azurite,
    /// kubernetes-validate, the offline schema check of `deploy/k8s` (in a
    /// venv of its own); no peer, so not in [`Tool::ALL`].
    KubernetesValidate,
}

impl Tool {
    /// Every storage peer the install script provides; [`tools_available`]
    /// checks them all.
    pub const ALL: [Tool; 4] = [
        Tool::MotoServer,
        Tool::GcsEmulator,
        Tool::S3sFs,
        Tool::Azurite,
    ];

    /// The executable's name, as the install script lays it out.
    pub fn name(self) -> &'static str {
        match self {
            Tool::MotoServer => "moto_server",
            Tool::GcsEmulator => "gcp-storage-emulator",
            Tool::S3sFs => "s3s-fs",
            Tool::Azurite => "azurite-blob",
            Tool::KubernetesValidate => "kubernetes-validate",
        }
    }

    /// Full path of the executable inside [`tools_dir`].
    pub fn path(self) -> PathBuf {
        let dir = tools_dir();
        match self {
            Tool::MotoServer | Tool::GcsEmulator => dir.join("venv").join("bin").join(self.name()),
            Tool::S3sFs => dir.join("bin").join(self.name()),
            // npm links each package's executables into node_modules/.bin.
            Tool::Azurite => dir
                .join("node")
                .join("node_modules")
                .join(".bin")
                .join(self.name()),
            Tool::KubernetesValidate => dir.join("k8s-validate").join("bin").join(self.name()),
        }
    }

    /// Whether the executable is there (and executable).
    pub fn installed(self) -> bool {
        is_executable(&self.path())
    }

    /// The path when the executable exists, else an error naming the install script.
    pub fn require(self) -> Result<PathBuf, PeerError> {
        let path = self.path();
        if self.installed() {
            Ok(path)
        } else {
            Err(PeerError::ToolsMissing {
                tool: self.name(),
                path,
            })
        }
    }
}

/// True when every peer executable is installed. Tests that need peers must
/// fail (not skip) when this is false; `start_*` already return
/// [`PeerError::ToolsMissing`] naming the install script.
pub fn tools_available() -> bool {
    Tool::ALL.iter().all(|tool| tool.installed())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Env var naming the Chromium the browser tests drive (default
/// `/usr/bin/chromium`, Debian's package, which the install script installs).
pub const CHROMIUM_ENV: &str = "SHARDGATE_CHROMIUM";

/// What `tests/browser/share_download.mjs` needs to drive the download page
/// in a real browser: Node, the script, playwright-core in the tools
/// directory and a Chromium.
#[derive(Clone, Debug)]
pub struct NodeDriver {
    /// The `node` executable (from `PATH`).
    pub node: PathBuf,
    /// The driver script.
    pub script: PathBuf,
    /// The Chromium it starts (passed on as `SHARDGATE_CHROMIUM`).
    pub chromium: PathBuf,
}

/// The browser driver with everything it needs, or an error naming the first
/// missing piece and the install script. Browser tests call this first and
/// fail (never skip) on the error.
pub fn node_driver() -> Result<NodeDriver, PeerError> {
    let node = find_on_path("node").ok_or(PeerError::ToolsMissing {
        tool: "node",
        path: PathBuf::from("node (on PATH)"),
    })?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let script = workspace
        .join("tests")
        .join("browser")
        .join("share_download.mjs");
    if !script.is_file() {
        return Err(PeerError::ToolsMissing {
            tool: "share_download.mjs",
            path: script,
        });
    }
    // The driver resolves playwright-core from <tools>/node, as npm laid it out.
    let playwright = tools_dir()
        .join("node")
        .join("node_modules")
        .join("playwright-core")
        .join("package.json");
    if !playwright.is_file() {
        return Err(PeerError::ToolsMissing {
            tool: "playwright-core",
            path: playwright,
        });
    }
    let chromium = match std::env::var_os(CHROMIUM_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("/usr/bin/chromium"),
    };
    if !is_executable(&chromium) {
        return Err(PeerError::ToolsMissing {
            tool: "chromium",
            path: chromium,
        });
    }
    Ok(NodeDriver {
        node,
        script,
        chromium,
    })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}
