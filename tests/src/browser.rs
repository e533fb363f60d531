//! The share download page in a real headless Chromium, driven by
//! `tests/browser/share_download.mjs` ([`NodeDriver`]) as a buyer would:
//! open the link, take the invoice the page shows, pay it from the test's
//! Lightning payer (as a phone wallet scanning the QR would) and wait for
//! the page to save the file, or for the error it should show.
//!
//! The driver runs in a process group of its own, so a failed or stuck run
//! is ended with its Chromium by the group's id, never by name.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::PeerError;
use crate::lightning::Lightning;
use crate::tools::{CHROMIUM_ENV, NodeDriver, TOOLS_ENV, tools_dir};

/// Longest one whole page run may take: Chromium start, page load, one
/// payment, a 20 MiB download and decryption on a loaded 2-core box.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// What the driver itself waits for the payment (its `--timeout`).
const DRIVER_PAY_TIMEOUT_SECS: u64 = 60;
const PEER: &str = "share_download.mjs";

/// One visit of a share link.
#[derive(Clone, Debug)]
pub struct PageVisit {
    /// The link, fragment included.
    pub link: String,
    /// Where the driver puts the saved file and `requests.json`.
    pub out: PathBuf,
    /// Where it writes screenshots of each step, if anywhere.
    pub screenshots: Option<PathBuf>,
    /// The `data-error` kind the page must show instead of saving.
    pub expect_error: Option<String>,
}

/// How the visit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageOutcome {
    /// The page saved this file (copied into [`PageVisit::out`]).
    Saved(PathBuf),
    /// The page showed this error kind (as [`PageVisit::expect_error`] asked).
    Refused(String),
}

/// What the visit did.
#[derive(Debug)]
pub struct PageReport {
    /// Saved file or error shown.
    pub outcome: PageOutcome,
    /// The invoices the page showed, each paid from the payer.
    pub invoices: Vec<String>,
    /// `requests.json`: every request the browser sent (URL, method,
    /// headers, body), as the driver wrote it.
    pub requests_json: String,
}

/// Ends the driver and its Chromium by process group id unless it exited.
struct DriverGroup {
    child: Child,
    pgid: libc::pid_t,
    exited: bool,
}

impl Drop for DriverGroup {
    fn drop(&mut self) {
        if !self.exited {
            // SAFETY: kill(2) on the process group this harness created for
            // its own child, which has not been reaped (so not recycled).
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
            let _ = self.child.start_kill();
        }
    }
}

fn failed(reason: String, stderr: &str) -> PeerError {
    PeerError::Protocol {
        peer: PEER.into(),
        reason: format!("{reason}\n--- driver stderr ---\n{stderr}"),
    }
}

/// Visits `visit.link` in Chromium, paying every invoice the page shows
/// from `lightning`'s payer. Fails when the driver fails, says something
/// unexpected, or takes longer than three minutes.
pub async fn visit_share_page(
    driver: &NodeDriver,
    visit: &PageVisit,
    lightning: &Lightning,
) -> Result<PageReport, PeerError> {
    let mut command = Command::new(&driver.node);
    command
        .arg(&driver.script)
        .arg("--url")
        .arg(&visit.link)
        .arg("--out")
        .arg(&visit.out)
        .arg("--timeout")
        .arg(DRIVER_PAY_TIMEOUT_SECS.to_string())
        .env(TOOLS_ENV, tools_dir())
        .env(CHROMIUM_ENV, &driver.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &visit.screenshots {
        command.arg("--screenshots").arg(dir);
    }
    if let Some(kind) = &visit.expect_error {
        command.arg("--expect-error").arg(kind);
    }
    let mut child = command
        .spawn()
        .map_err(|source| PeerError::Spawn { peer: PEER, source })?;
    let pid = child
        .id()
        .ok_or_else(|| failed("exited at once".into(), ""))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut group = DriverGroup {
        child,
        pgid: pid as libc::pid_t,
        exited: false,
    };
    // Read stderr alongside, so a chatty driver never blocks on a full pipe.
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut lines = BufReader::new(stdout).lines();
    let mut invoices = Vec::new();
    let mut outcome = None;
    let mut problem = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, lines.next_line()).await {
            Err(_) => {
                problem = Some(format!("no result within {} s", RUN_TIMEOUT.as_secs()));
                break;
            }
            Ok(Err(e)) => {
                problem = Some(format!("reading its stdout: {e}"));
                break;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(line))) => line,
        };
        if let Some(invoice) = line.strip_prefix("INVOICE ") {
            invoices.push(invoice.to_owned());
            if let Err(e) = lightning.pay(invoice).await {
                problem = Some(format!("paying the page's invoice failed: {e}"));
                break;
            }
        } else if let Some(path) = line.strip_prefix("SAVED ") {
            outcome = Some(PageOutcome::Saved(PathBuf::from(path)));
        } else if let Some(kind) = line.strip_prefix("ERROR ") {
            outcome = Some(PageOutcome::Refused(kind.to_owned()));
        } else {
            problem = Some(format!("unexpected line on stdout: {line:?}"));
            break;
        }
    }
    let status = if problem.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, group.child.wait()).await {
            Ok(Ok(status)) => {
                group.exited = true;
                Some(status)
            }
            Ok(Err(e)) => {
                problem = Some(format!("waiting for it: {e}"));
                None
            }
            Err(_) => {
                problem = Some(format!("did not exit within {} s", RUN_TIMEOUT.as_secs()));
                None
            }
        }
    } else {
        None
    };
    if problem.is_some() {
        // Kill before collecting stderr: the pipe closes when the group dies.
        drop(group);
    }
    let stderr = stderr_text.await.unwrap_or_default();
    if let Some(problem) = problem {
        return Err(failed(problem, &stderr));
    }
    match (status, outcome) {
        (Some(status), Some(outcome)) if status.success() => Ok(PageReport {
            outcome,
            invoices,
            requests_json: read_requests(&visit.out)?,
        }),
        (status, _) => Err(failed(
            format!("ended ({status:?}) without SAVED or ERROR"),
            &stderr,
        )),
    }
}

fn read_requests(out: &Path) -> Result<String, PeerError> {
    let path = out.join("requests.json");
    std::fs::read_to_string(&path).map_err(|e| PeerError::io(format!("read {}", path.display()), e))
}
