//! [`InvoiceLimits`]: how many invoices requests without a paid credential
//! may make, checked by the one issuer every invoice comes from
//! (`Cashier::issue`: Get challenges over gRPC and HTTP, and
//! Payments.CreateInvoice). So only requests that would create an invoice
//! count — a request with a valid credential creates none and is never
//! counted, and an unpaid flood cannot spend a buyer's budget.
//!
//! Per payer: over gRPC its address and tenant (`[limits]`); through the
//! gateway its address (behind trusted proxies, the forwarded one) and the
//! link (share or public blob) it asks through (`[gateway]`). Then the
//! node-wide cap, one for both transports and every replica on one index:
//! creations are spaced evenly at `limits.node_invoices_per_second`,
//! waiting up to [`NODE_WAIT`] for a slot, so the Lightning node never
//! sees more.

use std::net::IpAddr;
use std::time::Duration;

use shardgate_core::ContentId;
use shardgate_index::{Index, SlotBooking, TenantRecord};

use super::{KeyedRate, Limit, refusal};
use crate::config::{GatewayConfig, LimitsConfig};
use crate::error::BrokerError;

/// Longest an invoice creation waits for the node's next slot: a burst of
/// challenges is smoothed, a flood beyond this much queue is refused.
pub(crate) const NODE_WAIT: Duration = Duration::from_secs(5);

/// A tenant as the limits count it: the hash of the API key that
/// authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TenantKey(pub(crate) [u8; 32]);

impl TenantKey {
    pub(crate) fn of(tenant: &TenantRecord) -> TenantKey {
        TenantKey(tenant.api_key_hash)
    }
}

/// Through which transport, and so under which per-client limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Via {
    /// gRPC, or a caller that says nothing (embedding code, tests):
    /// `[limits]` per address and tenant.
    #[default]
    Grpc,
    /// The HTTP gateway: `[gateway]` per address and per link.
    Gateway,
}

/// Who asks for an invoice, for the invoice limits. The default is an
/// anonymous gRPC caller (only the node-wide cap applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payer {
    address: Option<IpAddr>,
    tenant: Option<TenantKey>,
    via: Via,
}

impl Payer {
    /// A gRPC caller from `address`, with the tenant its `x-api-key` named.
    pub(crate) fn grpc(address: Option<IpAddr>, tenant: Option<&TenantRecord>) -> Payer {
        Payer {
            address,
            tenant: tenant.map(TenantKey::of),
            via: Via::Grpc,
        }
    }

    /// A gateway client at `address` (after trusted proxies).
    pub(crate) fn gateway(address: IpAddr) -> Payer {
        Payer {
            address: Some(address),
            tenant: None,
            via: Via::Gateway,
        }
    }
}

/// The link a gateway invoice is asked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Link {
    Share([u8; 16]),
    Blob(ContentId),
}

/// Every invoice limit; see the module docs.
pub(crate) struct InvoiceLimits {
    per_address: KeyedRate<IpAddr>,
    per_tenant: KeyedRate<TenantKey>,
    gateway_per_address: KeyedRate<IpAddr>,
    gateway_per_link: KeyedRate<Link>,
    node: NodeSlots,
}

impl InvoiceLimits {
    /// From validated config.
    pub(crate) fn new(limits: &LimitsConfig, gateway: &GatewayConfig) -> InvoiceLimits {
        InvoiceLimits {
            per_address: KeyedRate::per_minute(limits.invoices_per_minute_per_address),
            per_tenant: KeyedRate::per_minute(limits.invoices_per_minute_per_tenant),
            gateway_per_address: KeyedRate::per_minute(gateway.invoices_per_minute_per_address),
            gateway_per_link: KeyedRate::per_minute(gateway.invoices_per_minute_per_link),
            node: NodeSlots::new(limits.node_invoices_per_second),
        }
    }

    /// Takes one invoice from `payer`'s budgets, then waits for the node's
    /// next slot; or says which limit refused and when to come back.
    /// The client's own budgets come first, so one noisy client spends its
    /// own budget before anyone's shared one.
    pub(crate) async fn admit(
        &self,
        index: &dyn Index,
        payer: &Payer,
        blob: ContentId,
        share: Option<[u8; 16]>,
    ) -> Result<(), BrokerError> {
        self.admit_client(payer, blob, share)?;
        self.node.wait_for_slot(index).await
    }

    fn admit_client(
        &self,
        payer: &Payer,
        blob: ContentId,
        share: Option<[u8; 16]>,
    ) -> Result<(), BrokerError> {
        match payer.via {
            Via::Grpc => {
                if let Some(address) = &payer.address {
                    self.per_address
                        .check(address)
                        .map_err(|wait| refusal(Limit::InvoicesPerAddress, wait))?;
                }
                if let Some(tenant) = &payer.tenant {
                    self.per_tenant
                        .check(tenant)
                        .map_err(|wait| refusal(Limit::InvoicesPerTenant, wait))?;
                }
            }
            Via::Gateway => {
                if let Some(address) = &payer.address {
                    self.gateway_per_address
                        .check(address)
                        .map_err(|wait| refusal(Limit::GatewayInvoicesPerAddress, wait))?;
                }
                let link = share.map_or(Link::Blob(blob), Link::Share);
                self.gateway_per_link
                    .check(&link)
                    .map_err(|wait| refusal(Limit::GatewayInvoicesPerLink, wait))?;
            }
        }
        Ok(())
    }
}

/// The node-wide cap: creation slots spaced `1/rate` apart. A caller
/// books the next free slot and sleeps until it (first come, first
/// served, no herd of retries); a slot further than [`NODE_WAIT`] away is
/// not booked, and the caller is refused with how long the queue is. The
/// queue is kept in the index (`Index::book_rate_slot`): replicas on one
/// PostgreSQL share it, so the node sees the configured rate whatever the
/// number of replicas (with redb, one process, it is kept in memory).
struct NodeSlots {
    spacing: Duration,
}

/// The node-wide cap's name in the index's rate slots.
const NODE_RATE: &str = "node_invoices";

impl NodeSlots {
    fn new(per_second: u32) -> NodeSlots {
        NodeSlots {
            spacing: Duration::from_secs(1) / per_second.max(1),
        }
    }

    /// How long until this caller's booked slot; or the refusal.
    async fn book(&self, index: &dyn Index) -> Result<Duration, BrokerError> {
        match index
            .book_rate_slot(NODE_RATE, self.spacing, NODE_WAIT)
            .await?
        {
            SlotBooking::Booked { wait } => Ok(wait),
            SlotBooking::Full { retry_after } => Err(refusal(Limit::NodeInvoices, retry_after)),
        }
    }

    async fn wait_for_slot(&self, index: &dyn Index) -> Result<(), BrokerError> {
        let wait = self.book(index).await?;
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, per_tenant: u32, gateway: (u32, u32)) -> InvoiceLimits {
        InvoiceLimits::new(
            &LimitsConfig {
                invoices_per_minute_per_address: per_address,
                invoices_per_minute_per_tenant: per_tenant,
                node_invoices_per_second: 1000,
                ..LimitsConfig::default()
            },
            &GatewayConfig {
                invoices_per_minute_per_address: gateway.0,
                invoices_per_minute_per_link: gateway.1,
                trusted_proxies: Vec::new(),
            },
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn blob() -> ContentId {
        ContentId::from_bytes([1; 32])
    }

    #[test]
    fn grpc_budgets_per_address_and_per_tenant() {
        let limits = limits(3, 4, (100, 100));
        let a = Payer {
            address: ip("10.0.0.1"),
            ..Payer::default()
        };
        for _ in 0..3 {
            limits.admit_client(&a, blob(), None).expect("within");
        }
        let err = limits
            .admit_client(&a, blob(), None)
            .expect_err("address spent");
        let BrokerError::RateLimited {
            what,
            retry_after_ms,
        } = err
        else {
            panic!("not a rate limit: {err}");
        };
        assert!(what.contains("invoices_per_minute_per_address"), "{what}");
        assert!((1..=60_000).contains(&retry_after_ms), "{retry_after_ms}");
        // One tenant across addresses: 4, then refused.
        let tenant = TenantKey([9; 32]);
        for i in 0..4 {
            let p = Payer {
                address: ip(&format!("10.0.1.{i}")),
                tenant: Some(tenant),
                via: Via::Grpc,
            };
            limits
                .admit_client(&p, blob(), None)
                .expect("tenant within");
        }
        let p = Payer {
            address: ip("10.0.1.9"),
            tenant: Some(tenant),
            via: Via::Grpc,
        };
        let err = limits
            .admit_client(&p, blob(), None)
            .expect_err("tenant spent");
        assert!(err.to_string().contains("per_tenant"), "{err}");
        // Anonymous callers meet only the node cap.
        for _ in 0..10 {
            limits
                .admit_client(&Payer::default(), blob(), None)
                .expect("no per-client limit");
        }
    }

    #[test]
    fn gateway_budgets_per_address_and_per_link() {
        let limits = limits(100, 100, (3, 5));
        let a = Payer::gateway("10.0.0.1".parse().unwrap());
        let b = Payer::gateway("10.0.0.2".parse().unwrap());
        let share = Some([4; 16]);
        for _ in 0..3 {
            limits
                .admit_client(&a, blob(), share)
                .expect("within the address budget");
        }
        let err = limits
            .admit_client(&a, blob(), share)
            .expect_err("address spent");
        assert!(err.to_string().contains("from your address"), "{err}");
        // Another client still gets invoices for the same link, until the
        // link's own budget (5) is spent.
        limits
            .admit_client(&b, blob(), share)
            .expect("b, 4th for the link");
        limits
            .admit_client(&b, blob(), share)
            .expect("b, 5th for the link");
        let err = limits
            .admit_client(&b, blob(), share)
            .expect_err("link spent");
        assert!(err.to_string().contains("for this link"), "{err}");
        // The blob itself (no share) is another link.
        let c = Payer::gateway("10.0.0.3".parse().unwrap());
        limits
            .admit_client(&c, blob(), None)
            .expect("c on another link");
    }

    #[tokio::test]
    async fn the_node_sees_creations_spaced_and_a_long_queue_is_refused() {
        // 10 per second: slots 100 ms apart, at most 5 s of queue.
        let dir = tempfile::tempdir().expect("temp dir");
        let index = shardgate_index::RedbIndex::open(dir.path())
            .await
            .expect("index");
        let node = NodeSlots::new(10);
        let mut waits = Vec::new();
        for _ in 0..51 {
            waits.push(node.book(&index).await.expect("within 5 s of queue"));
        }
        // Booked back to back: each 100 ms after the one before, less the
        // moment the booking itself took.
        for pair in waits.windows(2) {
            let gap = pair[1].saturating_sub(pair[0]);
            assert!(
                gap <= Duration::from_millis(100) && gap > Duration::from_millis(90),
                "{gap:?}"
            );
        }
        let err = node.book(&index).await.expect_err("past 5 s of queue");
        assert!(
            err.to_string().contains("node_invoices_per_second"),
            "{err}"
        );
    }
}
