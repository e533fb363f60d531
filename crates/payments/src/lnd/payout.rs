//! The broker paying out of its own node: `SendPaymentV2` to pay an
//! invoice within a fee limit, and
//! `TrackPaymentV2` to learn how a payment ended (after a restart, or when
//! the send call's stream broke). Unlike [`LightningNode::pay_invoice`],
//! these report a payment still in flight as such instead of failing:
//! money that may be on its way must never be treated as not sent.

use std::time::Duration;

use lnd_grpc_rust::lnrpc::payment::PaymentStatus;
use lnd_grpc_rust::{lnrpc, routerrpc};
use tonic::Code;

use super::LightningNode;
use super::status_map::map_status;
use crate::error::PaymentError;
use crate::l402::{PaymentHash, Preimage, strict_hex32};

/// Where a payment stands, as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutUpdate {
    /// Sent, not final: HTLCs may be locked along the route.
    InFlight,
    /// Paid: the proof and the routing fee.
    Succeeded {
        /// Proof of payment.
        preimage: Preimage,
        /// Routing fee paid, msat.
        fee_msat: u64,
    },
    /// Failed for good; no money left the node.
    Failed {
        /// LND's failure reason name (e.g. `FAILURE_REASON_NO_ROUTE`).
        reason: String,
    },
}

impl LightningNode {
    /// Pays `payment_request` (which must carry its amount) with routing
    /// fees up to `fee_limit_msat`, following the payment for at most
    /// `max_wait`: `InFlight` if it is not final by then. A payment the node
    /// already knows (in flight, or paid by an earlier call whose answer
    /// was lost) is tracked instead of sent again.
    pub async fn send_payout(
        &self,
        payment_request: &str,
        payment_hash: &PaymentHash,
        fee_limit_msat: u64,
        max_wait: Duration,
    ) -> Result<PayoutUpdate, PaymentError> {
        const OP: &str = "SendPaymentV2";
        let fee_limit = i64::try_from(fee_limit_msat)
            .map_err(|_| PaymentError::invalid("fee limit exceeds int64 msat"))?;
        let request = routerrpc::SendPaymentRequest {
            payment_request: payment_request.to_owned(),
            // LND's own give-up time for finding a route; a payment past it
            // fails with FAILURE_REASON_TIMEOUT, so it never stays "being
            // attempted" forever.
            timeout_seconds: 60,
            fee_limit_msat: fee_limit,
            ..Default::default()
        };
        let mut client = self.client.clone();
        let stream = match self
            .open(OP, client.router().send_payment_v2(request))
            .await?
        {
            Ok(stream) => stream,
            // "payment is in transition" / "invoice is already paid".
            Err(status) if status.code() == Code::AlreadyExists => {
                return self
                    .track_payout(payment_hash, max_wait)
                    .await?
                    .ok_or_else(|| PaymentError::LndProtocol {
                        op: OP,
                        detail: "node refused the payment as known, then did not know it".into(),
                    });
            }
            Err(status) => return Err(map_status(OP, status)),
        };
        follow(OP, stream, max_wait).await
    }

    /// How the payment of `payment_hash` stands, following it for at most
    /// `max_wait` while in flight. `Ok(None)`: the node never started it.
    pub async fn track_payout(
        &self,
        payment_hash: &PaymentHash,
        max_wait: Duration,
    ) -> Result<Option<PayoutUpdate>, PaymentError> {
        const OP: &str = "TrackPaymentV2";
        let mut client = self.client.clone();
        let request = routerrpc::TrackPaymentRequest {
            payment_hash: payment_hash.0.to_vec(),
            no_inflight_updates: false,
        };
        let stream = match self
            .open(OP, client.router().track_payment_v2(request))
            .await?
        {
            Ok(stream) => stream,
            // "payment isn't initiated"
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(map_status(OP, status)),
        };
        match follow(OP, stream, max_wait).await {
            // LND reports an unknown payment on the stream's first read.
            Err(PaymentError::LndRejected { detail, .. }) if detail.contains("isn't initiated") => {
                Ok(None)
            }
            other => other.map(Some),
        }
    }
}

impl LightningNode {
    /// Opens a payment stream within the per-call timeout; the node's
    /// refusal comes back as its status for the caller to read.
    async fn open<F>(
        &self,
        op: &'static str,
        call: F,
    ) -> Result<Result<tonic::Streaming<lnrpc::Payment>, tonic::Status>, PaymentError>
    where
        F: std::future::Future<
                Output = Result<tonic::Response<tonic::Streaming<lnrpc::Payment>>, tonic::Status>,
            >,
    {
        match tokio::time::timeout(self.call_timeout(), call).await {
            Err(_) => Err(PaymentError::LndTimeout {
                op,
                after: self.call_timeout(),
            }),
            Ok(opened) => Ok(opened.map(tonic::Response::into_inner)),
        }
    }
}

/// Reads payment updates until one is final or `max_wait` passes.
async fn follow(
    op: &'static str,
    mut stream: tonic::Streaming<lnrpc::Payment>,
    max_wait: Duration,
) -> Result<PayoutUpdate, PaymentError> {
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut seen = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            // Still going when our wait ends: in flight (if it ever started).
            Err(_) => {
                return seen.ok_or(PaymentError::LndTimeout {
                    op,
                    after: max_wait,
                });
            }
            Ok(Err(status)) if status.code() == Code::NotFound => {
                return Err(PaymentError::LndRejected {
                    op,
                    detail: status.message().to_owned(),
                });
            }
            Ok(Err(status)) => return Err(map_status(op, status)),
            Ok(Ok(None)) => {
                return seen.ok_or(PaymentError::LndUnavailable {
                    op,
                    detail: "payment stream ended before any update".into(),
                });
            }
            Ok(Ok(Some(payment))) => match update_of(op, &payment)? {
                PayoutUpdate::InFlight => seen = Some(PayoutUpdate::InFlight),
                done => return Ok(done),
            },
        }
    }
}

fn update_of(op: &'static str, p: &lnrpc::Payment) -> Result<PayoutUpdate, PaymentError> {
    let protocol = |detail: String| PaymentError::LndProtocol { op, detail };
    match PaymentStatus::try_from(p.status) {
        Ok(PaymentStatus::Succeeded) => Ok(PayoutUpdate::Succeeded {
            preimage: strict_hex32(&p.payment_preimage)
                .map(Preimage)
                .map_err(|_| protocol("payment_preimage is not 64 hex characters".into()))?,
            fee_msat: u64::try_from(p.fee_msat)
                .map_err(|_| protocol(format!("negative fee_msat {}", p.fee_msat)))?,
        }),
        Ok(PaymentStatus::Failed) => Ok(PayoutUpdate::Failed {
            reason: lnrpc::PaymentFailureReason::try_from(p.failure_reason)
                .map(|r| r.as_str_name().to_owned())
                .unwrap_or_else(|_| format!("failure reason {}", p.failure_reason)),
        }),
        Ok(_) => Ok(PayoutUpdate::InFlight),
        Err(_) => Err(protocol(format!("unknown payment status {}", p.status))),
    }
}
