//! Abuse limits: what one client address, one tenant, or a flood of unpaid
//! requests may cost the broker and its Lightning node (`[limits]`, and the
//! gateway's own invoice limits in `[gateway]`).
//!
//! | file | role |
//! |---|---|
//! | `client_address.rs` | the client behind trusted proxies (`X-Forwarded-For`), for every per-address limit |
//! | `keyed_rate.rs` | a token bucket per key (GCRA, `governor`), pruned as keys go idle |
//! | `requests.rs` | gRPC calls per client address, a tower layer in front of every service |
//! | `invoices.rs` | invoices per address, tenant and link, and the node-wide cap every invoice passes (gRPC and gateway alike) |
//! | `transfers.rs` | Put and Get streams in flight per address and tenant |
//!
//! Calls per tenant are counted where the tenant becomes known
//! (`auth.rs`). Every refusal is [`refusal`]: RESOURCE_EXHAUSTED with the
//! limit's name and a retry delay (`retry-after-ms` metadata, `Retry-After`
//! on the gateway), counted in `shardgate_limit_refusals_total{limit}`.

mod client_address;
mod invoices;
mod keyed_rate;
mod requests;
mod transfers;

use std::time::Duration;

pub(crate) use client_address::TrustedProxies;
pub use invoices::Payer;
pub(crate) use invoices::{InvoiceLimits, TenantKey};
pub(crate) use keyed_rate::KeyedRate;
pub(crate) use requests::{ClientAddress, RequestRateLayer};
pub(crate) use transfers::{TransferLimits, WithPermit};

use crate::error::BrokerError;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    RequestsPerAddress,
    RequestsPerTenant,
    InvoicesPerAddress,
    InvoicesPerTenant,
    GatewayInvoicesPerAddress,
    GatewayInvoicesPerLink,
    NodeInvoices,
    TransfersPerAddress,
    TransfersPerTenant,
}

impl Limit {
    /// The `limit` label of `shardgate_limit_refusals_total`: the config key.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Limit::RequestsPerAddress => "requests_per_second_per_address",
            Limit::RequestsPerTenant => "requests_per_second_per_tenant",
            Limit::InvoicesPerAddress => "invoices_per_minute_per_address",
            Limit::InvoicesPerTenant => "invoices_per_minute_per_tenant",
            Limit::GatewayInvoicesPerAddress => "gateway_invoices_per_minute_per_address",
            Limit::GatewayInvoicesPerLink => "gateway_invoices_per_minute_per_link",
            Limit::NodeInvoices => "node_invoices_per_second",
            Limit::TransfersPerAddress => "transfers_per_address",
            Limit::TransfersPerTenant => "transfers_per_tenant",
        }
    }

    /// What the client is told, naming the setting an operator would raise.
    fn what(self) -> &'static str {
        match self {
            Limit::RequestsPerAddress => {
                "too many calls from your address (limits.requests_per_second_per_address)"
            }
            Limit::RequestsPerTenant => {
                "too many calls with this API key (limits.requests_per_second_per_tenant)"
            }
            Limit::InvoicesPerAddress => {
                "too many invoices requested from your address without a paid credential (limits.invoices_per_minute_per_address)"
            }
            Limit::InvoicesPerTenant => {
                "too many invoices requested with this API key without a paid credential (limits.invoices_per_minute_per_tenant)"
            }
            Limit::GatewayInvoicesPerAddress => {
                "too many invoices requested from your address (gateway.invoices_per_minute_per_address)"
            }
            Limit::GatewayInvoicesPerLink => {
                "too many invoices requested for this link (gateway.invoices_per_minute_per_link)"
            }
            Limit::NodeInvoices => {
                "the broker's Lightning node is creating as many invoices as it may (limits.node_invoices_per_second)"
            }
            Limit::TransfersPerAddress => {
                "too many uploads and downloads in flight from your address (limits.transfers_per_address); retry when one ends"
            }
            Limit::TransfersPerTenant => {
                "too many uploads and downloads in flight with this API key (limits.transfers_per_tenant); retry when one ends"
            }
        }
    }
}

/// The refusal of `limit`, to be retried after `wait`; counted.
pub(crate) fn refusal(limit: Limit, wait: Duration) -> BrokerError {
    crate::metrics::limit_refused(limit.label());
    tracing::debug!(
        limit = limit.label(),
        wait_ms = wait.as_millis() as u64,
        "limit refused a request"
    );
    BrokerError::RateLimited {
        what: limit.what().to_owned(),
        // Rounded up: a client retrying on the dot finds room.
        retry_after_ms: u64::try_from(wait.as_micros().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1),
    }
}
