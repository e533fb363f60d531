//! [`TransferLimits`]: Put and Get streams (and HTTP gateway downloads) in
//! flight at once per client address and per tenant. A stream holds a
//! [`TransferPermit`] from before
//! the payment gate runs until it ends (a Get's permit rides in its
//! response stream, [`WithPermit`]), so a refused stream never uses up a
//! credential. The (N+1)th stream is refused at once rather than queued:
//! a queue would hold the client's connection and the broker's memory for
//! a transfer that may never start.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;

use super::invoices::TenantKey;
use super::{Limit, refusal};
use crate::error::BrokerError;

/// The retry hint of a refusal: nobody knows when a transfer ends, so a
/// short, fixed delay.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Counts of streams in flight.
#[derive(Debug)]
pub(crate) struct TransferLimits {
    per_address: u32,
    per_tenant: u32,
    in_flight: Mutex<InFlight>,
}

#[derive(Debug, Default)]
struct InFlight {
    by_address: HashMap<IpAddr, u32>,
    by_tenant: HashMap<TenantKey, u32>,
}

impl TransferLimits {
    /// 0 turns a limit off.
    pub(crate) fn new(per_address: u32, per_tenant: u32) -> TransferLimits {
        TransferLimits {
            per_address,
            per_tenant,
            in_flight: Mutex::default(),
        }
    }

    /// A permit for one more stream from `address` (and `tenant`), or the
    /// refusal of the first limit that is full.
    pub(crate) fn admit(
        self: &Arc<Self>,
        address: Option<IpAddr>,
        tenant: Option<TenantKey>,
    ) -> Result<TransferPermit, BrokerError> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let address_full = address.is_some_and(|a| {
            self.per_address > 0 && count(&in_flight.by_address, &a) >= self.per_address
        });
        if address_full {
            return Err(refusal(Limit::TransfersPerAddress, RETRY_AFTER));
        }
        let tenant_full = tenant.is_some_and(|t| {
            self.per_tenant > 0 && count(&in_flight.by_tenant, &t) >= self.per_tenant
        });
        if tenant_full {
            return Err(refusal(Limit::TransfersPerTenant, RETRY_AFTER));
        }
        if let Some(a) = address {
            *in_flight.by_address.entry(a).or_default() += 1;
        }
        if let Some(t) = tenant {
            *in_flight.by_tenant.entry(t).or_default() += 1;
        }
        Ok(TransferPermit {
            limits: self.clone(),
            address,
            tenant,
        })
    }
}

fn count<K: Hash + Eq>(map: &HashMap<K, u32>, key: &K) -> u32 {
    map.get(key).copied().unwrap_or(0)
}

/// Drops a count, forgetting the key at zero so the maps hold only
/// clients with streams in flight.
fn release<K: Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// One stream in flight; dropping it makes room.
#[derive(Debug)]
pub(crate) struct TransferPermit {
    limits: Arc<TransferLimits>,
    address: Option<IpAddr>,
    tenant: Option<TenantKey>,
}

impl Drop for TransferPermit {
    fn drop(&mut self) {
        let mut in_flight = self
            .limits
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(a) = &self.address {
            release(&mut in_flight.by_address, a);
        }
        if let Some(t) = &self.tenant {
            release(&mut in_flight.by_tenant, t);
        }
    }
}

/// A response stream that holds its transfer permit until it ends or is
/// dropped (the client went away).
pub(crate) struct WithPermit<S> {
    inner: S,
    permit: Option<TransferPermit>,
}

impl<S> WithPermit<S> {
    pub(crate) fn new(inner: S, permit: TransferPermit) -> WithPermit<S> {
        WithPermit {
            inner,
            permit: Some(permit),
        }
    }
}

impl<S: Stream + Unpin> Stream for WithPermit<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = next {
            // Ended: room for the next transfer now, not when tonic gets
            // round to dropping the stream.
            self.permit = None;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use tonic::Code;

    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_n_plus_first_is_refused_and_admitted_once_one_ends() {
        let limits = Arc::new(TransferLimits::new(2, 3));
        let a = limits.admit(ip("10.0.0.1"), None).expect("1st");
        let _b = limits.admit(ip("10.0.0.1"), None).expect("2nd");
        let err = limits
            .admit(ip("10.0.0.1"), None)
            .expect_err("3rd from one address");
        assert_eq!(tonic::Status::from(err).code(), Code::ResourceExhausted);
        limits.admit(ip("10.0.0.2"), None).expect("another address");
        drop(a);
        let _c = limits
            .admit(ip("10.0.0.1"), None)
            .expect("admitted after one ended");

        // Per tenant, across addresses.
        let tenant = Some(TenantKey([7; 32]));
        let held: Vec<_> = (0..3)
            .map(|i| {
                limits
                    .admit(ip(&format!("10.1.0.{i}")), tenant)
                    .expect("tenant")
            })
            .collect();
        let err = limits
            .admit(ip("10.1.0.9"), tenant)
            .expect_err("4th of the tenant");
        assert!(err.to_string().contains("transfers_per_tenant"), "{err}");
        drop(held);
        limits.admit(ip("10.1.0.9"), tenant).expect("room again");
        assert!(
            limits.in_flight.lock().unwrap().by_tenant.is_empty(),
            "forgotten at zero"
        );
    }

    #[tokio::test]
    async fn a_stream_gives_its_permit_back_when_it_ends() {
        let limits = Arc::new(TransferLimits::new(1, 0));
        let permit = limits.admit(ip("10.0.0.1"), None).expect("1st");
        let mut stream = WithPermit::new(futures::stream::iter([1, 2]), permit);
        assert!(
            limits.admit(ip("10.0.0.1"), None).is_err(),
            "busy while streaming"
        );
        assert_eq!(stream.next().await, Some(1));
        assert_eq!(stream.next().await, Some(2));
        assert_eq!(stream.next().await, None);
        limits
            .admit(ip("10.0.0.1"), None)
            .expect("free once the stream ended");
    }
}
