//! Metrics through the `metrics` facade (the broker installs the Prometheus
//! recorder). Labels are low-cardinality by construction: provider name,
//! operation, outcome, direction — never a key, chunk id, blob or tenant.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `shardgate_backend_requests_total` | counter | provider, operation, outcome |
//! | `shardgate_backend_request_duration_seconds` | histogram | provider, operation, outcome |
//! | `shardgate_backend_bytes_total` | counter | provider, direction (`read`/`write`) |
//! | `shardgate_backend_retries_total` | counter | provider, operation |
//! | `shardgate_backend_http_requests_total` | counter | provider, method, status |
//! | `shardgate_backend_http_request_duration_seconds` | histogram | provider, method, status |
//! | `shardgate_backend_repairs_total` | counter | provider |
//! | `shardgate_backend_provider_up` | gauge (1 up, 0 down) | provider |
//! | `shardgate_reads_hedged_total` | counter | |

use std::future::Future;
use std::time::{Duration, Instant};

use opendal::layers::{RetryEvent, RetryInterceptor};

use crate::error::{BackendError, BackendErrorKind};

/// Counter: finished shard operations.
pub const REQUESTS_TOTAL: &str = "shardgate_backend_requests_total";
/// Histogram: shard operation latency in seconds.
pub const REQUEST_DURATION_SECONDS: &str = "shardgate_backend_request_duration_seconds";
/// Counter: shard bytes moved.
pub const BYTES_TOTAL: &str = "shardgate_backend_bytes_total";
/// Counter: retries done by the opendal retry layer.
pub const RETRIES_TOTAL: &str = "shardgate_backend_retries_total";
/// Counter: corrupt objects overwritten by a put.
pub const REPAIRS_TOTAL: &str = "shardgate_backend_repairs_total";
/// Gauge: provider health as seen by the registry.
pub const PROVIDER_UP: &str = "shardgate_backend_provider_up";
/// Counter: chunk reads that hit the hedge delay with shards left to ask
/// (`chunk_read.rs`). Named before the fetch moved here from the broker;
/// dashboards keep the name.
pub const READS_HEDGED_TOTAL: &str = "shardgate_reads_hedged_total";

/// The `outcome` label of an error (a small fixed set).
pub fn outcome_label(err: &BackendError) -> &'static str {
    match err.kind() {
        BackendErrorKind::NotFound => "not_found",
        BackendErrorKind::Corrupt => "corrupt",
        BackendErrorKind::Conflict => "conflict",
        BackendErrorKind::Unavailable => "unavailable",
        BackendErrorKind::Timeout => "timeout",
        BackendErrorKind::PermissionDenied => "denied",
        BackendErrorKind::Unsupported => "unsupported",
        _ => "error",
    }
}

/// Per-provider metric handle, carried by a [`crate::ShardStore`].
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    provider: String,
}

impl StoreMetrics {
    /// Metrics labelled with this provider name.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
        }
    }

    /// Run one operation and record its count, latency and outcome.
    pub async fn observe<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let start = Instant::now();
        let res = fut.await;
        let outcome = match &res {
            Ok(_) => "ok",
            Err(e) => outcome_label(e),
        };
        self.request(operation, outcome, start.elapsed());
        res
    }

    /// Count one request that ended with `outcome` after `took`.
    pub(crate) fn request(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        let labels = [
            ("provider", self.provider.clone()),
            ("operation", operation.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
        metrics::histogram!(REQUEST_DURATION_SECONDS, &labels).record(took.as_secs_f64());
    }

    /// Count shard bytes read or written.
    pub fn bytes(&self, direction: &'static str, n: usize) {
        metrics::counter!(BYTES_TOTAL, "provider" => self.provider.clone(), "direction" => direction)
            .increment(n as u64);
    }

    /// Count a corrupt object replaced by a put.
    pub fn repaired(&self) {
        metrics::counter!(REPAIRS_TOTAL, "provider" => self.provider.clone()).increment(1);
    }

    /// Publish the provider's health.
    pub fn set_up(&self, up: bool) {
        metrics::gauge!(PROVIDER_UP, "provider" => self.provider.clone()).set(if up {
            1.0
        } else {
            0.0
        });
    }
}

/// Hooked into opendal's retry layer: counts each retry and logs it without
/// the request (which may carry signed URLs).
#[derive(Debug, Clone)]
pub struct RetryMetrics {
    provider: String,
}

impl RetryMetrics {
    /// Retry counter for this provider.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
        }
    }
}

impl RetryInterceptor for RetryMetrics {
    fn intercept(&self, event: RetryEvent<'_>) {
        let operation: &'static str = event.op.into_static();
        metrics::counter!(RETRIES_TOTAL, "provider" => self.provider.clone(), "operation" => operation)
            .increment(1);
        tracing::debug!(
            provider = %self.provider,
            operation,
            attempt = event.attempt,
            kind = %event.err.kind(),
            "retrying storage request"
        );
    }
}
