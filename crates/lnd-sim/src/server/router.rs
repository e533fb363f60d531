//! `routerrpc.Router`: sending payments (SendPaymentV2) and following them
//! (TrackPaymentV2). lnd_grpc_rust 2.16 ships LND protos from after
//! `lnrpc.Lightning/SendPaymentSync` was removed, so this is how a payer pays.

use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::lnd_status::LndStatus;
use crate::node_state::NodeState;
use crate::proto::lnrpc;
use crate::proto::routerrpc::{self, router_server::Router};
use crate::server::follow::{self, Follow, RpcStream};
use crate::switch;

pub(super) struct RouterService {
    pub node: Arc<NodeState>,
    pub stop: watch::Receiver<bool>,
}

impl RouterService {
    fn follow_payment(
        &self,
        hash: [u8; 32],
        feed: tokio::sync::broadcast::Receiver<crate::records::PaymentRecord>,
        initial: Option<crate::records::PaymentRecord>,
        final_only: bool,
    ) -> RpcStream<lnrpc::Payment> {
        let node = Arc::clone(&self.node);
        follow::stream(Follow {
            hash,
            feed,
            initial,
            reread: Box::new(move || node.ledger().payment(&hash).cloned()),
            final_only,
            stop: self.stop.clone(),
        })
    }
}

#[tonic::async_trait]
impl Router for RouterService {
    type SendPaymentV2Stream = RpcStream<lnrpc::Payment>;
    type TrackPaymentV2Stream = RpcStream<lnrpc::Payment>;

    async fn send_payment_v2(
        &self,
        request: Request<routerrpc::SendPaymentRequest>,
    ) -> Result<Response<Self::SendPaymentV2Stream>, Status> {
        self.node.gate().await;
        let req = request.into_inner();
        let intent = switch::intent_from_request(&req, self.node.network.now_unix())?;
        let hash = intent.hash;
        // Subscribe before sending: the stream then replays this payment's
        // own updates (IN_FLIGHT, then SUCCEEDED/FAILED) from the feed.
        let feed = self.node.payment_feed();
        switch::send(&self.node, intent)?;
        Ok(Response::new(self.follow_payment(
            hash,
            feed,
            None,
            req.no_inflight_updates,
        )))
    }

    async fn track_payment_v2(
        &self,
        request: Request<routerrpc::TrackPaymentRequest>,
    ) -> Result<Response<Self::TrackPaymentV2Stream>, Status> {
        self.node.gate().await;
        let req = request.into_inner();
        let hash = <[u8; 32]>::try_from(req.payment_hash.as_slice())
            .map_err(|_| LndStatus::HashLength(req.payment_hash.len()))?;
        let feed = self.node.payment_feed();
        let current = self
            .node
            .ledger()
            .payment(&hash)
            .cloned()
            .ok_or(LndStatus::PaymentNotInitiated)?;
        Ok(Response::new(self.follow_payment(
            hash,
            feed,
            Some(current),
            req.no_inflight_updates,
        )))
    }
}
