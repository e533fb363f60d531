//! The streaming calls: following one invoice, and paying an invoice from a
//! payer's wallet (SendPaymentV2 until the payment is final).

use std::time::Duration;

use lnd_grpc_rust::lnrpc::payment::PaymentStatus;
use lnd_grpc_rust::{invoicesrpc, lnrpc, routerrpc};

use super::invoice::{InvoiceStatus, status_from};
use super::{LightningNode, status_map::map_status};
use crate::error::PaymentError;
use crate::l402::{PaymentHash, Preimage, strict_hex32};

/// Updates of one invoice: its current state first, then each change; the
/// stream ends after SETTLED or CANCELED.
pub struct InvoiceSubscription {
    stream: tonic::Streaming<lnrpc::Invoice>,
    payment_hash: PaymentHash,
}

impl std::fmt::Debug for InvoiceSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoiceSubscription")
            .field("payment_hash", &self.payment_hash)
            .finish_non_exhaustive()
    }
}

impl InvoiceSubscription {
    /// The next update; `Ok(None)` once the invoice reached a final state
    /// (or the node ended the stream). No timeout here: waiting for a payer
    /// is open-ended, so callers bound it (`tokio::time::timeout`).
    pub async fn next(&mut self) -> Result<Option<InvoiceStatus>, PaymentError> {
        match self.stream.message().await {
            Ok(Some(inv)) => {
                let status = status_from("SubscribeSingleInvoice", inv)?;
                if status.payment_hash != self.payment_hash {
                    return Err(PaymentError::LndProtocol {
                        op: "SubscribeSingleInvoice",
                        detail: "update is about another invoice".into(),
                    });
                }
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(status) => Err(map_status("SubscribeSingleInvoice", status)),
        }
    }
}

impl LightningNode {
    /// Follows one invoice (opening the stream is bounded by the per-call
    /// timeout; the updates are not).
    pub async fn subscribe_single_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceSubscription, PaymentError> {
        let mut client = self.client.clone();
        let stream = self
            .call_for(
                "SubscribeSingleInvoice",
                payment_hash,
                client.invoices().subscribe_single_invoice(
                    invoicesrpc::SubscribeSingleInvoiceRequest {
                        r_hash: payment_hash.0.to_vec(),
                    },
                ),
            )
            .await?;
        Ok(InvoiceSubscription {
            stream,
            payment_hash: *payment_hash,
        })
    }

    /// Pays a BOLT 11 `payment_request` from this node's wallet and returns
    /// the preimage. Waits until the payment is final, at most `max_wait`
    /// (a hold invoice keeps the payment in flight until the payee settles,
    /// so run this in its own task for those). `fee_limit_msat` caps
    /// routing fees.
    pub async fn pay_invoice(
        &self,
        payment_request: &str,
        fee_limit_msat: u64,
        max_wait: Duration,
    ) -> Result<Preimage, PaymentError> {
        const OP: &str = "SendPaymentV2";
        let fee_limit = i64::try_from(fee_limit_msat)
            .map_err(|_| PaymentError::invalid("fee limit exceeds int64 msat"))?;
        // LND gives up on its own after timeout_seconds; keep it inside
        // our bound (at least 1 s, LND refuses 0).
        let lnd_timeout = i32::try_from(max_wait.as_secs().clamp(1, 3600)).unwrap_or(3600);
        let request = routerrpc::SendPaymentRequest {
            payment_request: payment_request.to_string(),
            timeout_seconds: lnd_timeout,
            fee_limit_msat: fee_limit,
            no_inflight_updates: true,
            ..Default::default()
        };
        let mut client = self.client.clone();
        let wait = async move {
            let mut stream = client
                .router()
                .send_payment_v2(request)
                .await
                .map_err(|s| map_status(OP, s))?
                .into_inner();
            while let Some(update) = stream.message().await.map_err(|s| map_status(OP, s))? {
                if let Some(done) = final_outcome(&update) {
                    return done;
                }
            }
            Err(PaymentError::LndUnavailable {
                op: OP,
                detail: "payment stream ended before a final state".into(),
            })
        };
        let started = std::time::Instant::now();
        let result =
            tokio::time::timeout(max_wait, wait)
                .await
                .unwrap_or(Err(PaymentError::LndTimeout {
                    op: OP,
                    after: max_wait,
                }));
        super::metrics::record(OP, &result, started.elapsed());
        result
    }
}

/// `Some(result)` once the payment succeeded or failed (or the update is
/// unusable); `None` while it is in flight.
fn final_outcome(p: &lnrpc::Payment) -> Option<Result<Preimage, PaymentError>> {
    const OP: &str = "SendPaymentV2";
    match PaymentStatus::try_from(p.status) {
        Ok(PaymentStatus::Succeeded) => Some(
            strict_hex32(&p.payment_preimage)
                .map(Preimage)
                .map_err(|_| PaymentError::LndProtocol {
                    op: OP,
                    detail: "payment_preimage is not 64 hex characters".into(),
                }),
        ),
        Ok(PaymentStatus::Failed) => {
            let reason = lnrpc::PaymentFailureReason::try_from(p.failure_reason)
                .map(|r| r.as_str_name().to_string())
                .unwrap_or_else(|_| format!("failure reason {}", p.failure_reason));
            Some(Err(PaymentError::PaymentFailed { reason }))
        }
        Ok(_) => None,
        Err(_) => Some(Err(PaymentError::LndProtocol {
            op: OP,
            detail: format!("unknown payment status {}", p.status),
        })),
    }
}
