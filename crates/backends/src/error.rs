//! The one error type of this crate.
//!
//! Every error names the provider, the operation and (when there is one) the
//! object key, and its [`BackendErrorKind`] tells the caller what to do:
//! retry elsewhere, repair, fix the config, or give up. Messages are built from
//! our own words plus opendal's short message; request URLs, headers and
//! credentials never reach them.

use std::fmt;

/// What went wrong, phrased as what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The object (or provider) does not exist. Not retryable.
    NotFound,
    /// The object exists but is not a valid shard (bad header, length or
    /// hash). Its bytes must not be used; the repair worker should rewrite it.
    Corrupt,
    /// A *valid* but different shard already occupies the key, so writing ours
    /// would destroy data another manifest may reference. Needs an operator.
    Conflict,
    /// The provider failed in a way that may pass (5xx, connection reset,
    /// throttling). Retry later or use another provider.
    Unavailable,
    /// The provider did not answer in time. Retry later or hedge.
    Timeout,
    /// Credentials were rejected or lack permission. Fix the config.
    PermissionDenied,
    /// The provider configuration is wrong; `field` names the setting.
    InvalidConfig {
        /// The config field (or `kind`) that is wrong.
        field: String,
    },
    /// The requested byte range lies outside the object.
    InvalidRange,
    /// The provider cannot do this (for example presigning on a local disk).
    Unsupported,
    /// Placement cannot find enough distinct healthy providers.
    InsufficientProviders,
    /// No provider with that name is registered.
    UnknownProvider,
    /// A provider with that name is already registered.
    AlreadyExists,
    /// Anything else; treat as a bug report with the message attached.
    Unexpected,
}

impl fmt::Display for BackendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found"),
            Self::Corrupt => f.write_str("corrupt shard"),
            Self::Conflict => f.write_str("conflicting shard"),
            Self::Unavailable => f.write_str("provider unavailable"),
            Self::Timeout => f.write_str("timeout"),
            Self::PermissionDenied => f.write_str("permission denied"),
            Self::InvalidConfig { field } => write!(f, "invalid config field `{field}`"),
            Self::InvalidRange => f.write_str("range not satisfiable"),
            Self::Unsupported => f.write_str("unsupported"),
            Self::InsufficientProviders => f.write_str("not enough providers"),
            Self::UnknownProvider => f.write_str("unknown provider"),
            Self::AlreadyExists => f.write_str("already exists"),
            Self::Unexpected => f.write_str("unexpected error"),
        }
    }
}

/// An error from a storage provider, with context.
#[derive(Debug, Clone)]
pub struct BackendError {
    kind: BackendErrorKind,
    provider: String,
    operation: &'static str,
    key: Option<String>,
    message: String,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (provider `{}`, {}",
            self.kind, self.provider, self.operation
        )?;
        if let Some(key) = &self.key {
            write!(f, " `{key}`")?;
        }
        write!(f, "): {}", self.message)
    }
}

impl std::error::Error for BackendError {}

impl BackendError {
    /// A new error; `provider` is the provider's configured name.
    pub fn new(
        kind: BackendErrorKind,
        provider: impl Into<String>,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            provider: provider.into(),
            operation,
            key: None,
            message: message.into(),
        }
    }

    /// A config error naming the field that is wrong.
    pub fn invalid_config(
        provider: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            BackendErrorKind::InvalidConfig {
                field: field.into(),
            },
            provider,
            "configure",
            message,
        )
    }

    /// Attach the object key the operation was about.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Convert an opendal error, keeping only its kind, temporariness and
    /// short message (its full Display may carry request details).
    pub fn from_opendal(
        err: &opendal::Error,
        provider: &str,
        operation: &'static str,
        key: Option<&str>,
    ) -> Self {
        use opendal::ErrorKind as K;
        let msg = err.message();
        let kind = match err.kind() {
            K::NotFound => BackendErrorKind::NotFound,
            K::PermissionDenied => BackendErrorKind::PermissionDenied,
            // S3's NoSuchBucket arrives as ConfigInvalid.
            K::ConfigInvalid if msg.contains("NoSuchBucket") => BackendErrorKind::InvalidConfig {
                field: "bucket".to_owned(),
            },
            K::ConfigInvalid => BackendErrorKind::InvalidConfig {
                field: "config".to_owned(),
            },
            K::Unsupported => BackendErrorKind::Unsupported,
            K::RangeNotSatisfied => BackendErrorKind::InvalidRange,
            K::RateLimited => BackendErrorKind::Unavailable,
            K::AlreadyExists | K::ConditionNotMatch => BackendErrorKind::AlreadyExists,
            // opendal's timeout layer reports an `Unexpected`, temporary error.
            _ if msg.contains("timeout reached") => BackendErrorKind::Timeout,
            // `persistent` = was temporary, but the retry layer gave up: the
            // provider is still the problem, not the request.
            _ if err.is_temporary() || err.is_persistent() => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Unexpected,
        };
        let mut out = Self::new(kind, provider, operation, format!("{}: {msg}", err.kind()));
        out.key = key.map(str::to_owned);
        out
    }

    /// Convert an I/O error from a local (`fs`) provider's direct data path.
    /// A full or failing disk may pass (or another provider can take the
    /// shard), so anything but a missing file, a permission or a bad key
    /// is `Unavailable`.
    pub fn from_io(
        err: &std::io::Error,
        provider: &str,
        operation: &'static str,
        key: &str,
    ) -> Self {
        use std::io::ErrorKind as K;
        let kind = match err.kind() {
            K::NotFound => BackendErrorKind::NotFound,
            K::PermissionDenied | K::ReadOnlyFilesystem => BackendErrorKind::PermissionDenied,
            K::InvalidInput => BackendErrorKind::InvalidConfig {
                field: "prefix".to_owned(),
            },
            _ => BackendErrorKind::Unavailable,
        };
        Self::new(kind, provider, operation, format!("local disk: {err}")).with_key(key)
    }

    /// What went wrong.
    pub fn kind(&self) -> &BackendErrorKind {
        &self.kind
    }

    /// The provider's configured name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The operation that failed (`put`, `get`, `probe`, ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The object key, when the error is about one object.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether trying again later (or elsewhere) may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind,
            BackendErrorKind::Unavailable | BackendErrorKind::Timeout
        )
    }

    /// Whether this failure says something about the provider's health.
    /// A missing object or a conflict does not. A corrupt object does: one
    /// rotten shard among good reads is reset by the next success, but a
    /// provider that corrupts `failure_threshold` reads in a row (a bad
    /// disk, a broken proxy) must stop receiving new shards.
    pub fn counts_against_health(&self) -> bool {
        matches!(
            self.kind,
            BackendErrorKind::Unavailable
                | BackendErrorKind::Timeout
                | BackendErrorKind::PermissionDenied
                | BackendErrorKind::Corrupt
                | BackendErrorKind::Unexpected
        )
    }

    /// True for [`BackendErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind == BackendErrorKind::NotFound
    }
}
