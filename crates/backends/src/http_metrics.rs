//! `HttpMetricsLayer`: an opendal layer of ours that meters every HTTP
//! request a provider's operator sends — including each retry attempt, which
//! the per-operation metrics in [`crate::metrics`] cannot see.
//!
//! It wraps the operator's HTTP transport (opendal's `apply_context` hook),
//! so it sees method, status and time-to-headers, never the URL: labels stay
//! `provider`, `method` and `status` (`2xx`…`5xx`, `error`, `cancelled`).

use std::sync::Arc;
use std::time::Instant;

use opendal::raw::{Layer, Servicer};
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, OperationContext, Result};

/// Counter: HTTP requests sent to providers.
pub const HTTP_REQUESTS_TOTAL: &str = "shardgate_backend_http_requests_total";
/// Histogram: time from sending a request to its response headers, seconds.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "shardgate_backend_http_request_duration_seconds";

/// Meters the HTTP requests of one provider's operator.
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    provider: Arc<str>,
}

impl HttpMetricsLayer {
    /// Label every request with this provider name.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: Arc::from(provider),
        }
    }
}

impl Layer for HttpMetricsLayer {
    fn apply_context(&self, _srv: Servicer, inner: OperationContext) -> OperationContext {
        let transport = HttpTransporter::new(MeteredTransport {
            inner: inner.http_transport().clone(),
            provider: self.provider.clone(),
        });
        inner.with_http_transport(transport)
    }
}

struct MeteredTransport {
    inner: HttpTransporter,
    provider: Arc<str>,
}

impl HttpTransport for MeteredTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> Result<http::Response<HttpBody>> {
        let mut record = Record {
            provider: self.provider.clone(),
            method: method_label(req.method()),
            start: Instant::now(),
            status: None,
        };
        let res = self.inner.fetch(req).await;
        record.status = Some(match &res {
            Ok(resp) => status_label(resp.status()),
            Err(_) => "error",
        });
        res
    }
}

/// Records on drop, so a request abandoned by the timeout layer (its future
/// dropped mid-flight) is still counted, as `cancelled`.
struct Record {
    provider: Arc<str>,
    method: &'static str,
    start: Instant,
    status: Option<&'static str>,
}

impl Drop for Record {
    fn drop(&mut self) {
        let labels = [
            ("provider", self.provider.to_string()),
            ("method", self.method.to_owned()),
            ("status", self.status.unwrap_or("cancelled").to_owned()),
        ];
        metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
        metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels)
            .record(self.start.elapsed().as_secs_f64());
    }
}

/// A fixed label set: unknown methods collapse to `other`.
fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::HEAD => "HEAD",
        http::Method::DELETE => "DELETE",
        _ => "other",
    }
}

fn status_label(s: http::StatusCode) -> &'static str {
    match s.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
