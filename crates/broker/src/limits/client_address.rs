//! Which client a request comes from, for the per-address limits, on the
//! HTTP gateway (`[gateway] trusted_proxies`) and on gRPC
//! (`[limits] trusted_proxies`).
//! Behind a reverse proxy, an Ingress, a gRPC load balancer or a mesh
//! sidecar every request comes from the proxy's address, so requests from
//! configured trusted proxies are
//! attributed to the rightmost address in `X-Forwarded-For` that is not a
//! trusted proxy itself (the nearest hop a trusted proxy vouches for).
//! Requests from anyone else are attributed to their own address: a client
//! cannot choose its bucket by sending the header.

use std::net::IpAddr;

use http::HeaderMap;

use crate::error::BrokerError;

/// A `trusted_proxies` list, parsed once.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<AddressRange>);

impl TrustedProxies {
    /// Parses `ranges`; the error names `field` (the config key).
    pub(crate) fn parse(ranges: &[String], field: &str) -> Result<TrustedProxies, BrokerError> {
        ranges
            .iter()
            .map(|r| AddressRange::parse(r, field))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// The client a request from `peer` is counted against.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_address(peer, headers, &self.0)
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8` (a bare address is /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddressRange {
    base: IpAddr,
    prefix: u8,
}

impl AddressRange {
    pub(crate) fn parse(text: &str, field: &str) -> Result<AddressRange, BrokerError> {
        let bad = || {
            BrokerError::Config(format!(
                "{field}: {text:?} is not an address or a range like 10.0.0.0/8"
            ))
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let base: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(AddressRange { base, prefix })
    }

    fn contains(&self, addr: IpAddr) -> bool {
        let (a, b, bits) = match (self.base, addr) {
            (IpAddr::V4(base), IpAddr::V4(addr)) => {
                (u128::from(u32::from(base)), u128::from(u32::from(addr)), 32)
            }
            (IpAddr::V6(base), IpAddr::V6(addr)) => (u128::from(base), u128::from(addr), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

/// The client address of a request from `peer`.
pub(crate) fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[AddressRange],
) -> IpAddr {
    let is_trusted = |addr: IpAddr| trusted.iter().any(|r| r.contains(addr));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for hop in text.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(addr) => hops.push(addr),
                // A malformed chain is not evidence of anything.
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|addr| !is_trusted(*addr))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(chain: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", chain.parse().unwrap());
        h
    }

    #[test]
    fn ranges_parse_and_contain() {
        let r = AddressRange::parse("10.0.0.0/8", "gateway.trusted_proxies").unwrap();
        assert!(r.contains(ip("10.200.3.4")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(!r.contains(ip("::1")));
        assert!(
            AddressRange::parse("127.0.0.1", "gateway.trusted_proxies")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            AddressRange::parse("0.0.0.0/0", "gateway.trusted_proxies")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(
            AddressRange::parse("fd00::/8", "gateway.trusted_proxies")
                .unwrap()
                .contains(ip("fd12::1"))
        );
        for bad in ["", "10.0.0.0/33", "ten", "10.0.0.0/x", "::/129"] {
            assert!(
                AddressRange::parse(bad, "gateway.trusted_proxies").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted = [AddressRange::parse("10.0.0.0/8", "gateway.trusted_proxies").unwrap()];
        let chain = forwarded("203.0.113.9, 198.51.100.7, 10.1.1.1");
        // From the Ingress: the rightmost hop it does not run.
        assert_eq!(
            client_address(ip("10.0.0.5"), &chain, &trusted),
            ip("198.51.100.7")
        );
        // From anyone else: their own address, whatever they claim.
        assert_eq!(
            client_address(ip("192.0.2.1"), &chain, &trusted),
            ip("192.0.2.1")
        );
        // No trusted proxies configured: the peer.
        assert_eq!(client_address(ip("10.0.0.5"), &chain, &[]), ip("10.0.0.5"));
        // From a proxy, but no or a broken header: the proxy.
        assert_eq!(
            client_address(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &forwarded("1.2.3.4, garbage"), &trusted),
            ip("10.0.0.5")
        );
    }
}
