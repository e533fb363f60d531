//! Local checks of a [`ProviderConfig`]: everything that can be known
//! wrong without the network. Each error names the field to fix.

use shardgate_core::ProviderName;

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::BackendError;
use crate::secret::Secret;

impl ProviderConfig {
    /// Check everything that can be checked without the network; the error
    /// names the offending field.
    pub fn validate(&self) -> Result<(), BackendError> {
        let bad =
            |field: &str, msg: &str| Err(BackendError::invalid_config(&self.name, field, msg));
        if ProviderName::check(&self.name).is_err() {
            return bad("name", &format!("must be {}", ProviderName::RULE));
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return bad("weight", "must be a finite number > 0");
        }
        if self.prefix.starts_with('/') || self.prefix.contains("..") || self.prefix.contains('\\')
        {
            return bad("prefix", "must be relative, without '..' or '\\'");
        }
        if self.limits.timeout_ms == 0 || self.limits.io_timeout_ms == 0 {
            return bad("limits.timeout_ms", "timeouts must be > 0");
        }
        if self.limits.max_concurrent_requests == 0 {
            return bad("limits.max_concurrent_requests", "must be > 0");
        }
        let nonempty = |field: &str, v: &str| {
            if v.trim().is_empty() {
                bad(field, "must not be empty")
            } else {
                Ok(())
            }
        };
        let secret = |field: &str, v: &Secret| {
            if v.is_empty() {
                bad(field, "must not be empty")
            } else {
                Ok(())
            }
        };
        let url = |field: &str, v: &Option<String>| match v {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                bad(field, "must start with http:// or https://")
            }
            _ => Ok(()),
        };
        match &self.kind {
            ProviderKind::S3 {
                bucket,
                endpoint,
                access_key_id,
                secret_access_key,
                region,
                ..
            } => {
                nonempty("bucket", bucket)?;
                nonempty("region", region)?;
                url("endpoint", endpoint)?;
                if access_key_id.is_some() != secret_access_key.is_some() {
                    return bad(
                        "secret_access_key",
                        "access_key_id and secret_access_key go together",
                    );
                }
            }
            ProviderKind::B2 {
                bucket,
                region,
                endpoint,
                key_id,
                application_key,
            } => {
                nonempty("bucket", bucket)?;
                nonempty("region", region)?;
                url("endpoint", endpoint)?;
                secret("key_id", key_id)?;
                secret("application_key", application_key)?;
            }
            ProviderKind::B2Native {
                bucket,
                bucket_id,
                key_id,
                application_key,
            } => {
                nonempty("bucket", bucket)?;
                nonempty("bucket_id", bucket_id)?;
                secret("key_id", key_id)?;
                secret("application_key", application_key)?;
            }
            ProviderKind::Gcs {
                bucket, endpoint, ..
            } => {
                nonempty("bucket", bucket)?;
                url("endpoint", endpoint)?;
            }
            ProviderKind::Azblob {
                container,
                endpoint,
                account_name,
                ..
            } => {
                nonempty("container", container)?;
                nonempty("account_name", account_name)?;
                url("endpoint", &Some(endpoint.clone()))?;
            }
            ProviderKind::Fs { root } => {
                if root.as_os_str().is_empty() {
                    return bad("root", "must not be empty");
                }
            }
            ProviderKind::Memory {} => {}
        }
        Ok(())
    }
}
