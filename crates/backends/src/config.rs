//! Provider configuration: one serde struct per provider, read from TOML
//! (or any serde source) and validated before an operator is built.
//!
//! ```toml
//! [[providers]]
//! name = "aws-eu"
//! kind = "s3"
//! bucket = "shardgate-eu"
//! region = "eu-west-1"
//! access_key_id = { env = "AWS_ACCESS_KEY_ID" }
//! secret_access_key = { file = "/run/secrets/aws" }
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::BackendError;
use crate::health::HealthPolicy;
use crate::secret::Secret;

/// The backends section of the broker config: health policy and the
/// providers to join at start-up (`[[providers]]` tables).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendsConfig {
    /// When providers are marked DOWN and re-probed.
    #[serde(default)]
    pub health: HealthPolicy,
    /// Providers, in any order (placement does not depend on it).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

impl BackendsConfig {
    /// Parse TOML and validate every provider; errors name the provider and
    /// field. Secrets given as `{ env = .. }` / `{ file = .. }` are read here.
    pub fn from_toml(text: &str) -> Result<Self, BackendError> {
        let cfg: Self = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut names = std::collections::BTreeSet::new();
        for p in &cfg.providers {
            p.validate()?;
            if !names.insert(p.name.as_str()) {
                return Err(BackendError::invalid_config(
                    &p.name,
                    "name",
                    "two providers share this name",
                ));
            }
        }
        Ok(cfg)
    }
}

/// A parse error as a config error naming the field serde rejected (`kind`
/// for an unknown provider kind) and, when it can be found, the provider.
fn toml_error(text: &str, e: &toml::de::Error) -> BackendError {
    // Only the message and line: toml's Display quotes the offending
    // source line, which may hold an inline secret.
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    let msg = e.message();
    let quoted = |lead: &str| msg.strip_prefix(lead)?.split('`').next();
    let field = if msg.starts_with("unknown variant") {
        "kind"
    } else {
        quoted("missing field `")
            .or_else(|| quoted("unknown field `"))
            .unwrap_or("providers")
    };
    let provider = failing_provider(text).unwrap_or_else(|| "config".to_owned());
    BackendError::invalid_config(provider, field, format!("{msg}{at}"))
}

/// The `name` of the first `[[providers]]` table that does not deserialize.
fn failing_provider(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let bad = table
        .get("providers")?
        .as_array()?
        .iter()
        .find(|p| ProviderConfig::deserialize((*p).clone()).is_err())?;
    bad.get("name")?.as_str().map(str::to_owned)
}

/// One storage provider.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderConfig {
    /// Stable, unique provider id. Used by placement (changing it moves
    /// shards), in the index, and as the `provider` metric label.
    pub name: String,
    /// Relative capacity for placement: a provider with weight 2 receives
    /// about twice the shards of one with weight 1. Default 1.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Key prefix inside the bucket under which every Shardgate object lives
    /// (`<prefix>/shards/...`, `<prefix>/probe/...`). Default: empty.
    #[serde(default)]
    pub prefix: String,
    /// The provider kind and its kind-specific settings.
    #[serde(flatten)]
    pub kind: ProviderKind,
    /// Timeouts, retries and concurrency for this provider.
    #[serde(default)]
    pub limits: ProviderLimits,
}

fn default_weight() -> f64 {
    1.0
}

fn default_s3_region() -> String {
    "us-east-1".to_owned()
}

fn default_b2_region() -> String {
    "us-west-004".to_owned()
}

fn yes() -> bool {
    true
}

/// Kind-specific settings, selected by `kind = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderKind {
    /// Amazon S3 or any S3-compatible endpoint (MinIO, Garage, Ceph, R2, moto).
    S3 {
        /// Bucket name (must already exist).
        bucket: String,
        /// Endpoint URL; default is AWS for `region`.
        #[serde(default)]
        endpoint: Option<String>,
        /// Signing region. Default `us-east-1`.
        #[serde(default = "default_s3_region")]
        region: String,
        /// Access key id; absent means "from the environment / instance role".
        #[serde(default)]
        access_key_id: Option<Secret>,
        /// Secret access key, paired with `access_key_id`.
        #[serde(default)]
        secret_access_key: Option<Secret>,
        /// Use `bucket.host` URLs instead of `host/bucket`. Default false.
        #[serde(default)]
        virtual_host_style: bool,
        /// Use `If-None-Match: *` so a put never overwrites. Turn off for
        /// S3-compatible stores that reject conditional writes. Default true.
        #[serde(default = "yes")]
        conditional_writes: bool,
    },
    /// Backblaze B2 through its S3-compatible API (B2 profile: B2 region,
    /// endpoint `https://s3.<region>.backblazeb2.com`, no conditional writes).
    B2 {
        /// Bucket name.
        bucket: String,
        /// B2 region such as `us-west-004`. Default `us-west-004`.
        #[serde(default = "default_b2_region")]
        region: String,
        /// Endpoint override (tests, proxies); default derived from `region`.
        #[serde(default)]
        endpoint: Option<String>,
        /// Application key id.
        key_id: Secret,
        /// Application key.
        application_key: Secret,
    },
    /// Backblaze B2 through its native API (opendal's `b2` service).
    B2Native {
        /// Bucket name.
        bucket: String,
        /// Bucket id (shown in the B2 console).
        bucket_id: String,
        /// Application key id.
        key_id: Secret,
        /// Application key.
        application_key: Secret,
    },
    /// Google Cloud Storage (JSON API), or an emulator via `endpoint`.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Endpoint override, e.g. an emulator at `http://127.0.0.1:9023`.
        #[serde(default)]
        endpoint: Option<String>,
        /// Service-account JSON, base64-encoded.
        #[serde(default)]
        credential: Option<Secret>,
        /// Path to a service-account JSON file.
        #[serde(default)]
        credential_path: Option<PathBuf>,
        /// A ready OAuth2 access token.
        #[serde(default)]
        token: Option<Secret>,
        /// Send unsigned requests (emulators, public buckets). Also turns off
        /// ambient credential discovery. Default false.
        #[serde(default)]
        anonymous: bool,
        /// Use GCS preconditions (`ifGenerationMatch=0`) on writes. opendal
        /// implements them with resumable uploads, which emulators handle
        /// poorly, so the default is off: puts are single-shot uploads.
        #[serde(default)]
        conditional_writes: bool,
    },
    /// Azure Blob Storage.
    Azblob {
        /// Container name.
        container: String,
        /// Endpoint, e.g. `https://<account>.blob.core.windows.net`.
        endpoint: String,
        /// Storage account name.
        account_name: String,
        /// Shared key; or use `sas_token`.
        #[serde(default)]
        account_key: Option<Secret>,
        /// SAS token. It does not enable presigned URLs: opendal would put
        /// the token itself into every URL it hands out.
        #[serde(default)]
        sas_token: Option<Secret>,
    },
    /// A local directory (single-node deployments, tests).
    Fs {
        /// Root directory; created if missing.
        root: PathBuf,
    },
    /// Process memory (tests and `shardgate dev`). Lost on exit.
    Memory {},
}

impl ProviderKind {
    /// Short kind name, as written in `kind = "..."`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::S3 { .. } => "s3",
            Self::B2 { .. } => "b2",
            Self::B2Native { .. } => "b2_native",
            Self::Gcs { .. } => "gcs",
            Self::Azblob { .. } => "azblob",
            Self::Fs { .. } => "fs",
            Self::Memory {} => "memory",
        }
    }
}

/// Per-provider timeouts, retries and concurrency (all have defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderLimits {
    /// Upper bound for one whole request (stat, delete, ...), ms. Default 30000.
    pub timeout_ms: u64,
    /// Upper bound for one body read/write step, ms. Default 10000.
    pub io_timeout_ms: u64,
    /// Retries after the first attempt, temporary errors only. Default 3.
    pub retry_max_times: usize,
    /// First retry back-off, ms (doubles, with jitter). Default 100.
    pub retry_min_delay_ms: u64,
    /// Largest retry back-off, ms. Default 2000.
    pub retry_max_delay_ms: u64,
    /// Requests in flight to this provider at once. Default 64.
    pub max_concurrent_requests: usize,
}

impl Default for ProviderLimits {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            io_timeout_ms: 10_000,
            retry_max_times: 3,
            retry_min_delay_ms: 100,
            retry_max_delay_ms: 2_000,
            max_concurrent_requests: 64,
        }
    }
}

impl ProviderConfig {
    /// A memory provider (tests, dev mode).
    pub fn memory(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            weight: 1.0,
            prefix: String::new(),
            kind: ProviderKind::Memory {},
            limits: ProviderLimits::default(),
        }
    }
}
