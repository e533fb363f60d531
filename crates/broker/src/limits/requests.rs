//! [`RequestRateLayer`]: names each gRPC call's client address (the TCP
//! peer tonic records per connection, or behind `limits.trusted_proxies`
//! the forwarded one) as a [`ClientAddress`] extension for the other
//! per-address limits, and counts calls per address before a request is
//! decoded or authenticated, so a flood costs one map look-up per call.
//! Health checks are never counted: a probe refused under load would take
//! a healthy replica out of its Service.

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::Either;
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;
use tower_layer::Layer;
use tower_service::Service;

use super::{KeyedRate, Limit, TrustedProxies, refusal};

/// Paths never counted (`grpc.health.v1.Health/Check` and `/Watch`).
const EXEMPT_PREFIX: &str = "/grpc.health.v1.Health/";

/// The client a call is counted against, set by [`RequestRateLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

/// Refuses calls from an address past `limits.requests_per_second_per_address`.
#[derive(Clone)]
pub(crate) struct RequestRateLayer {
    per_address: Option<Arc<KeyedRate<IpAddr>>>,
    proxies: Arc<TrustedProxies>,
}

impl RequestRateLayer {
    /// `per_second` 0: every call passes (the address is still named).
    pub(crate) fn new(per_second: u32, proxies: TrustedProxies) -> RequestRateLayer {
        RequestRateLayer {
            per_address: KeyedRate::per_second(per_second).map(Arc::new),
            proxies: Arc::new(proxies),
        }
    }
}

impl<S> Layer<S> for RequestRateLayer {
    type Service = RequestRateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestRateService {
            inner,
            per_address: self.per_address.clone(),
            proxies: self.proxies.clone(),
        }
    }
}

/// See [`RequestRateLayer`].
#[derive(Clone)]
pub(crate) struct RequestRateService<S> {
    inner: S,
    per_address: Option<Arc<KeyedRate<IpAddr>>>,
    proxies: Arc<TrustedProxies>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RequestRateService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let Some(peer) = peer_of(&request) else {
            return Either::Right(self.inner.call(request));
        };
        let client = self.proxies.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
        if let Some(rate) = &self.per_address
            && !request.uri().path().starts_with(EXEMPT_PREFIX)
            && let Err(wait) = rate.check(&client)
        {
            let status = Status::from(refusal(Limit::RequestsPerAddress, wait));
            crate::metrics::rpc_error(status.code());
            return Either::Left(ready(Ok(status.into_http())));
        }
        Either::Right(self.inner.call(request))
    }
}

/// The TCP peer's address, as tonic's server records it per connection.
fn peer_of<B>(request: &http::Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|addr| addr.ip())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use tonic::Code;

    use super::*;

    /// A service that answers every call OK.
    #[derive(Clone)]
    struct Ok200;

    impl Service<http::Request<()>> for Ok200 {
        type Response = http::Response<()>;
        type Error = Infallible;
        type Future = Ready<Result<http::Response<()>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            ready(Ok(http::Response::new(())))
        }
    }

    fn call_from(svc: &mut RequestRateService<Ok200>, peer: &str, path: &str) -> Option<Status> {
        let mut request = http::Request::builder()
            .uri(path)
            .header("x-forwarded-for", "203.0.113.7")
            .body(())
            .unwrap();
        let addr: SocketAddr = format!("{peer}:4000").parse().unwrap();
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(addr),
        });
        let response = futures::executor::block_on(svc.call(request)).unwrap();
        Status::from_header_map(response.headers())
    }

    #[test]
    fn calls_past_the_rate_are_refused_per_address_health_never() {
        let mut svc = RequestRateLayer::new(2, TrustedProxies::default()).layer(Ok200);
        let get = "/shardgate.v1.Storage/Get";
        assert!(call_from(&mut svc, "10.0.0.1", get).is_none());
        assert!(call_from(&mut svc, "10.0.0.1", get).is_none());
        let refused = call_from(&mut svc, "10.0.0.1", get).expect("third refused");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            refused
                .message()
                .contains("requests_per_second_per_address"),
            "{}",
            refused.message()
        );
        assert!(
            call_from(&mut svc, "10.0.0.2", get).is_none(),
            "another address"
        );
        let health = "/grpc.health.v1.Health/Check";
        assert!(
            call_from(&mut svc, "10.0.0.1", health).is_none(),
            "health exempt"
        );
        let mut off = RequestRateLayer::new(0, TrustedProxies::default()).layer(Ok200);
        for _ in 0..10 {
            assert!(call_from(&mut off, "10.0.0.1", get).is_none(), "0 = off");
        }
        // Behind a trusted proxy every forwarded client has its own bucket
        // (the forwarded address, 203.0.113.7, here spends its 2).
        let proxies = TrustedProxies::parse(&["10.9.0.0/16".to_owned()], "t").unwrap();
        let mut proxied = RequestRateLayer::new(2, proxies).layer(Ok200);
        assert!(call_from(&mut proxied, "10.9.0.1", get).is_none());
        assert!(call_from(&mut proxied, "10.9.0.2", get).is_none());
        assert!(
            call_from(&mut proxied, "10.9.0.3", get).is_some(),
            "the forwarded client's budget is spent, whichever proxy it came through"
        );
    }
}
