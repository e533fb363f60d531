//! `[limits]`: request bounds, price bounds, and the abuse limits that
//! keep one client, one tenant or a flood of unpaid requests from taking
//! the broker (or its Lightning node) away from everyone else.
//!
//! Rates are token buckets: a burst of the stated number, refilled evenly
//! over the period. Refusals are RESOURCE_EXHAUSTED with `retry-after-ms`
//! metadata (HTTP 429 with `Retry-After` on the gateway).

use serde::Deserialize;

use crate::error::BrokerError;
use crate::limits::TrustedProxies;

/// Bounds enforced on requests (reported by Storage.GetLimits) and the
/// abuse limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest upload data frame, and the size of download frames. 1 MiB.
    pub max_data_frame_bytes: u32,
    /// Largest blob, bytes. Default 1 TiB.
    pub max_blob_bytes: u64,
    /// Largest Price.flat_msat. Default 100,000,000 (0.001 BTC).
    pub max_flat_msat: u64,
    /// Largest Price.per_mib_msat. Default 100,000,000.
    pub max_per_mib_msat: u64,
    /// Smallest invoice, msat (at least 1).
    pub min_invoice_msat: u64,
    /// Price of a blob whose upload sets none: flat part. Default 0 (free).
    pub default_flat_msat: u64,
    /// Price of a blob whose upload sets none: per MiB. Default 0 (free).
    pub default_per_mib_msat: u64,
    /// gRPC calls one client address may make per second (health checks
    /// excepted). Default 500; 0 turns the limit off (behind a proxy that
    /// hides client addresses every client shares one address).
    pub requests_per_second_per_address: u32,
    /// gRPC calls one tenant (its `x-api-key`) may make per second.
    /// Default 500; 0 turns the limit off.
    pub requests_per_second_per_tenant: u32,
    /// Invoices that requests from one client address may make the
    /// Lightning node create per minute over gRPC (Get challenges,
    /// Payments.CreateInvoice). Requests with a valid credential make none
    /// and are never counted. Default 600 (partner backends buy for many
    /// users from one address). The HTTP gateway has its own, lower
    /// per-address limit (`[gateway]`).
    pub invoices_per_minute_per_address: u32,
    /// Invoices requests with one tenant's `x-api-key` may make per minute.
    /// Default 600.
    pub invoices_per_minute_per_tenant: u32,
    /// Invoices the broker's Lightning node is asked to create per second,
    /// from every client, over gRPC and the gateway together: the node
    /// never sees more. A creation over it waits up to 2 s for room, then
    /// is refused. Default 100.
    pub node_invoices_per_second: u32,
    /// Put and Get streams in flight at once from one client address,
    /// HTTP gateway downloads included. Default 512; 0 turns the limit off.
    pub transfers_per_address: u32,
    /// Put and Get streams in flight at once with one tenant's
    /// `x-api-key`. Default 256; 0 turns the limit off.
    pub transfers_per_tenant: u32,
    /// Seconds a download waits for its client to take the next frame
    /// (its HTTP/2 window and the broker's small buffer full) before it is
    /// cut off with ABORTED, so an idle reader cannot hold its chunks'
    /// share of the memory budget for ever. Default 60; 1..=3600.
    pub stalled_download_secs: u32,
    /// Proxies in front of the gRPC port (a gRPC-aware load balancer, a
    /// mesh sidecar) whose `x-forwarded-for` is believed for the
    /// per-address limits: addresses or ranges like `10.0.0.0/8`. Empty
    /// (the default): every call counts against the address it comes
    /// from. (The HTTP gateway has its own list, `[gateway]`.)
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_data_frame_bytes: 1 << 20,
            max_blob_bytes: 1 << 40,
            max_flat_msat: 100_000_000,
            max_per_mib_msat: 100_000_000,
            min_invoice_msat: 1,
            default_flat_msat: 0,
            default_per_mib_msat: 0,
            requests_per_second_per_address: 500,
            requests_per_second_per_tenant: 500,
            invoices_per_minute_per_address: 600,
            invoices_per_minute_per_tenant: 600,
            node_invoices_per_second: 100,
            transfers_per_address: 512,
            transfers_per_tenant: 256,
            stalled_download_secs: 60,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Longest wait for a stalled download's client: an hour is already
/// longer than any client pauses on purpose.
const MAX_STALLED_DOWNLOAD_SECS: u32 = 3600;

/// Largest rate accepted: above it a limit is as good as off, and the
/// number is more likely a typo than a plan.
const MAX_RATE: u32 = 1_000_000;

impl LimitsConfig {
    /// Checks the abuse limits; the error names the field.
    pub(crate) fn validate_abuse_limits(&self) -> Result<(), BrokerError> {
        let bad = |field: &str, rule: &str, value: u32| {
            Err(BrokerError::Config(format!(
                "limits.{field} must be {rule} (got {value})"
            )))
        };
        // Invoices cannot be "off": a zero would refuse every sale.
        for (field, value) in [
            (
                "invoices_per_minute_per_address",
                self.invoices_per_minute_per_address,
            ),
            (
                "invoices_per_minute_per_tenant",
                self.invoices_per_minute_per_tenant,
            ),
            ("node_invoices_per_second", self.node_invoices_per_second),
        ] {
            if value == 0 || value > MAX_RATE {
                return bad(field, "within 1..=1000000", value);
            }
        }
        for (field, value) in [
            (
                "requests_per_second_per_address",
                self.requests_per_second_per_address,
            ),
            (
                "requests_per_second_per_tenant",
                self.requests_per_second_per_tenant,
            ),
            ("transfers_per_address", self.transfers_per_address),
            ("transfers_per_tenant", self.transfers_per_tenant),
        ] {
            if value > MAX_RATE {
                return bad(field, "within 0..=1000000 (0 = off)", value);
            }
        }
        if !(1..=MAX_STALLED_DOWNLOAD_SECS).contains(&self.stalled_download_secs) {
            return bad(
                "stalled_download_secs",
                "within 1..=3600",
                self.stalled_download_secs,
            );
        }
        TrustedProxies::parse(&self.trusted_proxies, "limits.trusted_proxies")?;
        Ok(())
    }

    /// How long a download waits for its client to take a frame.
    pub(crate) fn stalled_download(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.stalled_download_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<LimitsConfig, String> {
        let limits: LimitsConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        limits.validate_abuse_limits().map_err(|e| e.to_string())?;
        Ok(limits)
    }

    #[test]
    fn defaults_are_on_and_valid() {
        let limits = parse("").expect("defaults");
        assert_eq!(limits.node_invoices_per_second, 100);
        assert_eq!(limits.requests_per_second_per_address, 500);
        assert_eq!(limits.transfers_per_tenant, 256);
        assert_eq!(limits.stalled_download_secs, 60);
        let set = parse("transfers_per_address = 0\nnode_invoices_per_second = 5").expect("set");
        assert_eq!(set.transfers_per_address, 0, "0 turns it off");
        assert_eq!(set.node_invoices_per_second, 5);
    }

    #[test]
    fn bad_values_name_the_field() {
        for (text, field) in [
            (
                "node_invoices_per_second = 0",
                "limits.node_invoices_per_second",
            ),
            (
                "invoices_per_minute_per_address = 0",
                "limits.invoices_per_minute_per_address",
            ),
            (
                "invoices_per_minute_per_tenant = 0",
                "limits.invoices_per_minute_per_tenant",
            ),
            (
                "requests_per_second_per_tenant = 2000000",
                "limits.requests_per_second_per_tenant",
            ),
            (
                "transfers_per_address = 1000001",
                "limits.transfers_per_address",
            ),
            ("stalled_download_secs = 0", "limits.stalled_download_secs"),
            (
                "stalled_download_secs = 3601",
                "limits.stalled_download_secs",
            ),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(field), "{text}: {err}");
        }
        let err = parse("trusted_proxies = [\"10.0.0.0/33\"]").expect_err("bad range");
        assert!(err.contains("limits.trusted_proxies"), "{err}");
        // A misspelt key is refused by name too.
        let err = parse("transfers_per_adress = 3").expect_err("unknown key");
        assert!(err.contains("transfers_per_adress"), "{err}");
        // A negative number is not a u32.
        let err = parse("requests_per_second_per_address = -1").expect_err("negative");
        assert!(err.contains("requests_per_second_per_address"), "{err}");
    }
}
