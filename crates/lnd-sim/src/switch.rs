//! The HTLC switch: how a payment moves between two nodes of a network.
//!
//! Every node is one hop from every other (no channels); the payer's
//! `RoutingFee` stands for the route's fees. A payment locks amount + fee on
//! the payer, offers an HTLC for the amount to the payee and resolves from
//! the payee's answer: normal invoices settle at once, hold invoices leave
//! the payment in flight until SettleInvoice/CancelInvoice. A payer that
//! stalls its payments parks the HTLC before the payee until the test
//! resolves it. Each step locks one ledger at a time, then publishes the
//! change.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::bolt11::{Bolt11Error, PaymentRequest, REGTEST};
use crate::fees;
use crate::ledger::{HtlcOutcome, IncomingHtlc};
use crate::lnd_status::LndStatus;
use crate::node_state::{NodeState, StalledHtlc};
use crate::proto::lnrpc::PaymentFailureReason;
use crate::proto::routerrpc::SendPaymentRequest;
use crate::records::{PaymentRecord, PaymentStatus};

/// What to pay, extracted from a SendPaymentV2 request.
#[derive(Debug, Clone)]
pub(crate) struct PaymentIntent {
    pub hash: [u8; 32],
    pub payment_addr: Option<[u8; 32]>,
    pub amount_msat: u64,
    pub payee_pubkey_hex: String,
    pub payment_request: String,
    /// The most the route may cost (see `fees::fee_limit_msat`).
    pub fee_limit_msat: u64,
}

/// Validates a send request the way LND's router RPC does before it starts
/// a payment (errors here are RPC errors, not FAILED payments).
pub(crate) fn intent_from_request(
    req: &SendPaymentRequest,
    now: u64,
) -> Result<PaymentIntent, LndStatus> {
    if req.amt != 0 && req.amt_msat != 0 {
        return Err(LndStatus::AmtMutuallyExclusive);
    }
    let requested_msat = if req.amt != 0 {
        u64::try_from(req.amt)
            .map_err(|_| LndStatus::NegativeAmount)?
            .saturating_mul(1000)
    } else {
        u64::try_from(req.amt_msat).map_err(|_| LndStatus::NegativeAmount)?
    };
    let explicit_addr = <[u8; 32]>::try_from(req.payment_addr.as_slice()).ok();
    let fee_limit_msat = fees::fee_limit_msat(req.fee_limit_sat, req.fee_limit_msat)?;

    if req.payment_request.is_empty() {
        // Pay by hash: dest, amt and payment_hash are all required.
        let hash = <[u8; 32]>::try_from(req.payment_hash.as_slice())
            .map_err(|_| LndStatus::MissingPaymentTarget)?;
        if req.dest.len() != 33 || requested_msat == 0 {
            return Err(LndStatus::MissingPaymentTarget);
        }
        return Ok(PaymentIntent {
            hash,
            payment_addr: explicit_addr,
            amount_msat: requested_msat,
            payee_pubkey_hex: hex::encode(&req.dest),
            payment_request: String::new(),
            fee_limit_msat,
        });
    }

    let invoice = PaymentRequest::decode(&req.payment_request)
        .map_err(|e| LndStatus::BadPaymentRequest(e.to_string()))?;
    if invoice.network != REGTEST {
        return Err(LndStatus::BadPaymentRequest(
            Bolt11Error::WrongNetwork.to_string(),
        ));
    }
    if now > invoice.expires_at() {
        return Err(LndStatus::InvoiceExpired(invoice.expires_at()));
    }
    let amount_msat = match (invoice.amount_msat, requested_msat) {
        (Some(_), requested) if requested != 0 => return Err(LndStatus::AmountNotAllowed),
        (Some(amount), _) => amount,
        (None, 0) => return Err(LndStatus::AmountRequired),
        (None, requested) => requested,
    };
    Ok(PaymentIntent {
        hash: invoice.payment_hash,
        payment_addr: explicit_addr.or(invoice.payment_secret),
        amount_msat,
        payee_pubkey_hex: hex::encode(invoice.payee),
        payment_request: req.payment_request.clone(),
        fee_limit_msat,
    })
}

/// Starts a payment and carries it as far as it goes without waiting: to
/// SUCCEEDED/FAILED, or IN_FLIGHT for an accepted hold invoice or while the
/// payer stalls its payments.
pub(crate) fn send(
    payer: &Arc<NodeState>,
    intent: PaymentIntent,
) -> Result<PaymentRecord, LndStatus> {
    if intent.payee_pubkey_hex == payer.pubkey_hex {
        return Err(LndStatus::SelfPayment(hex::encode(intent.hash)));
    }
    let network = &payer.network;
    let record = PaymentRecord {
        hash: intent.hash,
        preimage: None,
        value_msat: intent.amount_msat,
        fee_msat: payer.routing_fee().fee_msat(intent.amount_msat),
        payment_request: intent.payment_request.clone(),
        creation_time_ns: network.now_unix_nanos(),
        payment_index: 0,
        status: PaymentStatus::InFlight,
    };
    let injected = payer.faults().payment_failure.map(|f| f.reason());
    let stall = payer.stalls_payments();
    let started = payer
        .ledger()
        .start_payment(record, intent.fee_limit_msat, injected)?;
    let htlc = IncomingHtlc {
        hash: intent.hash,
        payment_addr: intent.payment_addr,
        amount_msat: intent.amount_msat,
        payer_pubkey: payer.pubkey_hex.clone(),
    };
    if stall && !started.is_final() {
        // Parked before the IN_FLIGHT update goes out, so a test reacting
        // to SendPaymentV2's first update always finds it to resolve.
        payer.stalled().insert(
            intent.hash,
            StalledHtlc {
                payee_pubkey: intent.payee_pubkey_hex,
                htlc,
            },
        );
        payer.publish_payment(started.clone());
        return Ok(started);
    }
    payer.publish_payment(started.clone());
    if started.is_final() {
        return Ok(started);
    }
    Ok(deliver(payer, &intent.payee_pubkey_hex, &htlc).unwrap_or(started))
}

/// Offers a locked payment's HTLC to the payee and resolves the payment
/// from its answer. None while it stays in flight (an accepted hold
/// invoice) or when it was no longer in flight.
fn deliver(payer: &NodeState, payee_pubkey: &str, htlc: &IncomingHtlc) -> Option<PaymentRecord> {
    let network = &payer.network;
    let Some(payee) = network.reachable(payee_pubkey) else {
        return finish(
            payer,
            &htlc.hash,
            Err(PaymentFailureReason::FailureReasonNoRoute),
        );
    };
    let (outcome, updated) = payee.ledger().receive_htlc(htlc, network.now_unix());
    if let Some(invoice) = updated {
        payee.publish_invoice(invoice);
    }
    let result = match outcome {
        HtlcOutcome::Accepted => return None,
        HtlcOutcome::Settled(preimage) => Ok(preimage),
        HtlcOutcome::Rejected => Err(PaymentFailureReason::FailureReasonIncorrectPaymentDetails),
    };
    finish(payer, &htlc.hash, result)
}

/// Releases a payment stalled by `SimNode::stall_payments`. `succeed`: the
/// HTLC carries on to the payee as if it had never stopped (the payee's
/// invoice settles and the preimage comes back, or a hold invoice is
/// ACCEPTED; a payee that is down or refuses fails it as usual). Otherwise
/// the network fails it back: FAILED with NO_ROUTE, which is what LND
/// reports once a failed-back HTLC leaves no route to retry, and the amount
/// and fee are refunded. Returns false when no payment with this hash is
/// stalled.
pub(crate) fn resolve_stalled(payer: &NodeState, hash: &[u8; 32], succeed: bool) -> bool {
    let Some(stalled) = payer.stalled().remove(hash) else {
        return false;
    };
    if succeed {
        deliver(payer, &stalled.payee_pubkey, &stalled.htlc);
    } else {
        finish(payer, hash, Err(PaymentFailureReason::FailureReasonNoRoute));
    }
    true
}

/// SettleInvoice on the payee: settles the hold invoice and completes the
/// payer's payment with the preimage.
pub(crate) fn settle_hold_invoice(payee: &NodeState, preimage: &[u8]) -> Result<(), LndStatus> {
    let preimage =
        <[u8; 32]>::try_from(preimage).map_err(|_| LndStatus::PreimageLength(preimage.len()))?;
    let hash: [u8; 32] = Sha256::digest(preimage).into();
    let now = payee.network.now_unix();
    let resolution = payee.ledger().settle_hold(preimage, hash, now)?;
    if let Some(resolution) = resolution {
        payee.publish_invoice(resolution.invoice);
        if let Some(held) = resolution.held
            && let Some(payer) = payee.network.registered(&held.payer_pubkey)
        {
            finish(&payer, &hash, Ok(preimage));
        }
    }
    Ok(())
}

/// CancelInvoice on the payee: cancels the invoice and fails the payer's
/// payment with INCORRECT_PAYMENT_DETAILS, refunding the locked amount.
pub(crate) fn cancel_invoice(payee: &NodeState, hash: &[u8]) -> Result<(), LndStatus> {
    let hash = <[u8; 32]>::try_from(hash).map_err(|_| LndStatus::HashLength(hash.len()))?;
    let resolution = payee.ledger().cancel(&hash)?;
    if let Some(resolution) = resolution {
        payee.publish_invoice(resolution.invoice);
        if let Some(held) = resolution.held
            && let Some(payer) = payee.network.registered(&held.payer_pubkey)
        {
            finish(
                &payer,
                &hash,
                Err(PaymentFailureReason::FailureReasonIncorrectPaymentDetails),
            );
        }
    }
    Ok(())
}

fn finish(
    payer: &NodeState,
    hash: &[u8; 32],
    outcome: Result<[u8; 32], PaymentFailureReason>,
) -> Option<PaymentRecord> {
    let finished = payer.ledger().finish_payment(hash, outcome)?;
    payer.publish_payment(finished.clone());
    Some(finished)
}
