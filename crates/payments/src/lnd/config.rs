//! How to reach an LND node: endpoint, TLS certificate and macaroon, each
//! given inline or as a file (the files LND writes: `tls.cert`,
//! `admin.macaroon` / `invoice.macaroon`).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::PaymentError;

/// Default per-call timeout: LND answers invoice calls in milliseconds; a
/// node that takes seconds is treated as unavailable so downloads fail
/// closed quickly instead of hanging.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest certificate or macaroon file we read (real ones are < 4 KiB).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The node's TLS certificate (PEM), to trust its self-signed identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsCertSource {
    /// PEM text.
    Pem(String),
    /// Path of a PEM file (LND's `tls.cert`).
    File(PathBuf),
}

/// The macaroon that authorizes our calls.
#[derive(Clone, PartialEq, Eq)]
pub enum MacaroonSource {
    /// Hex of the binary macaroon (as `lncli bakemacaroon` prints it).
    Hex(String),
    /// Path of the binary macaroon file.
    File(PathBuf),
}

impl std::fmt::Debug for MacaroonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The macaroon is a bearer credential for the node's funds.
        match self {
            MacaroonSource::Hex(_) => f.write_str("Hex([REDACTED])"),
            MacaroonSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Connection settings of one LND node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LndConfig {
    /// `host:port` of the gRPC listener (an `https://` prefix is allowed).
    pub endpoint: String,
    /// The node's `tls.cert`, pinned: no other certificate is accepted.
    pub tls_cert: TlsCertSource,
    /// The macaroon sent with every call (invoice and, for payers, offchain
    /// permissions).
    pub macaroon: MacaroonSource,
    /// Upper bound on every unary call (and on opening a stream).
    pub call_timeout: Duration,
}

impl LndConfig {
    /// Settings with the default per-call timeout ([`DEFAULT_CALL_TIMEOUT`]).
    /// Nothing is read or checked until the client connects.
    pub fn new(
        endpoint: impl Into<String>,
        tls_cert: TlsCertSource,
        macaroon: MacaroonSource,
    ) -> Self {
        LndConfig {
            endpoint: endpoint.into(),
            tls_cert,
            macaroon,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Replaces the per-call timeout (see [`LndConfig::call_timeout`]).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// `host:port`, checked here so a bad value is a clear settings error
    /// rather than a URI parse failure later.
    pub(crate) fn socket(&self) -> Result<String, PaymentError> {
        let socket = self
            .endpoint
            .strip_prefix("https://")
            .unwrap_or(&self.endpoint)
            .trim_end_matches('/');
        let port_ok = socket
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        let chars_ok = socket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
        if port_ok && chars_ok {
            Ok(socket.to_string())
        } else {
            Err(PaymentError::LndConfig {
                reason: format!("endpoint {:?} is not host:port", self.endpoint),
            })
        }
    }

    /// The certificate as PEM bytes.
    pub(crate) async fn cert_pem(&self) -> Result<Vec<u8>, PaymentError> {
        let pem = match &self.tls_cert {
            TlsCertSource::Pem(text) => text.as_bytes().to_vec(),
            TlsCertSource::File(path) => read_bounded(path, "TLS certificate").await?,
        };
        if !pem.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(PaymentError::LndConfig {
                reason: "TLS certificate is not PEM (expected -----BEGIN CERTIFICATE-----)".into(),
            });
        }
        Ok(pem)
    }

    /// The macaroon as lowercase hex (what goes into the `macaroon`
    /// metadata), validated so the settings error names the macaroon.
    pub(crate) async fn macaroon_hex(&self) -> Result<String, PaymentError> {
        let bytes = match &self.macaroon {
            MacaroonSource::Hex(text) => {
                hex::decode(text.trim()).map_err(|_| PaymentError::LndConfig {
                    reason: "macaroon is not hex".into(),
                })?
            }
            MacaroonSource::File(path) => read_bounded(path, "macaroon").await?,
        };
        if bytes.is_empty() {
            return Err(PaymentError::LndConfig {
                reason: "macaroon is empty".into(),
            });
        }
        Ok(hex::encode(bytes))
    }
}

async fn read_bounded(path: &PathBuf, what: &str) -> Result<Vec<u8>, PaymentError> {
    let config_err = |detail: String| PaymentError::LndConfig {
        reason: format!("{what} file {}: {detail}", path.display()),
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| config_err(e.to_string()))?;
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(config_err(format!(
            "larger than {MAX_SECRET_FILE_BYTES} bytes"
        )));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| config_err(e.to_string()))
}
