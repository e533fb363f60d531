//! How many invoices unpaid requests may make: per client address and per
//! link (share or public blob), GCRA token buckets from `governor`. Paid
//! requests (with a credential) are never counted, so a flood of unpaid
//! requests cannot starve buyers.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client_address::{AddressRange, client_address};
use crate::config::GatewayConfig;
use crate::error::BrokerError;

/// Forget idle keys every this many checks, so the maps stay the size of
/// the recent clients, not of every client ever seen.
const PRUNE_EVERY: u64 = 1024;

pub(super) struct InvoiceLimits {
    trusted_proxies: Vec<AddressRange>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_link: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(n).allow_burst(n)
}

impl InvoiceLimits {
    /// `config` was validated (its proxy ranges parse).
    pub(super) fn new(config: &GatewayConfig) -> InvoiceLimits {
        InvoiceLimits {
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .filter_map(|r| AddressRange::parse(r).ok())
                .collect(),
            per_address: RateLimiter::dashmap(per_minute(config.invoices_per_minute_per_address)),
            per_link: RateLimiter::dashmap(per_minute(config.invoices_per_minute_per_link)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// The client a request from `peer` is counted against.
    pub(super) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_address(peer, headers, &self.trusted_proxies)
    }

    /// Takes one invoice from `client`'s and `link`'s budgets, or says when
    /// to come back. The address is checked first, so one noisy client
    /// spends its own budget before the link's.
    pub(super) fn check(&self, client: IpAddr, link: &str) -> Result<(), BrokerError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.per_address.retain_recent();
            self.per_link.retain_recent();
        }
        let refused = |what: &str, not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::warn!(%client, what, "invoice rate limit");
            BrokerError::RateLimited {
                what: format!("too many invoices requested {what}"),
                retry_after_secs: wait.as_secs().max(1),
            }
        };
        self.per_address
            .check_key(&client)
            .map_err(|n| refused("from your address", n))?;
        self.per_link
            .check_key(&link.to_owned())
            .map_err(|n| refused("for this link", n))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_budget_runs_out_on_its_own() {
        let limits = InvoiceLimits::new(&GatewayConfig {
            invoices_per_minute_per_address: 3,
            invoices_per_minute_per_link: 5,
            trusted_proxies: Vec::new(),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            limits
                .check(a, "link-1")
                .expect("within the address budget");
        }
        let err = limits.check(a, "link-1").expect_err("address budget spent");
        let BrokerError::RateLimited {
            what,
            retry_after_secs,
        } = err
        else {
            panic!("not a rate limit: {err}");
        };
        assert!(what.contains("your address"), "{what}");
        assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
        // Another client still gets invoices for the same link, until the
        // link's own budget (5) is spent.
        limits.check(b, "link-1").expect("b, 4th for the link");
        limits.check(b, "link-1").expect("b, 5th for the link");
        let err = limits.check(b, "link-1").expect_err("link budget spent");
        assert!(err.to_string().contains("for this link"), "{err}");
        // Another link is not affected (a third client: b's refused
        // request still counted against b's own address budget).
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        limits.check(c, "link-2").expect("c on another link");
    }
}
