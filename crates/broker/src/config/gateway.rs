//! `[gateway]`: limits of the HTTP gateway (its address is the top-level
//! `http_listen`).

use serde::Deserialize;

/// What the gateway lets one client or one link cost the broker's
/// Lightning node: every unpaid `POST …/content` makes an invoice, so a
/// script could otherwise flood the node with them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Invoices one client address may have made per minute (a burst of
    /// that many, refilled evenly). Default 30.
    pub invoices_per_minute_per_address: u32,
    /// Invoices one share link or public blob may have made per minute,
    /// from all clients together. Default 120.
    pub invoices_per_minute_per_link: u32,
    /// Reverse proxies (an Ingress, a load balancer) whose
    /// `X-Forwarded-For` is believed for the per-address limit: addresses
    /// or ranges like `10.0.0.0/8`. Empty (the default): every request
    /// counts against the address it comes from.
    pub trusted_proxies: Vec<String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            invoices_per_minute_per_address: 30,
            invoices_per_minute_per_link: 120,
            trusted_proxies: Vec::new(),
        }
    }
}
