//! The HTLC switch: how a payment moves between two nodes of a network.
//!
//! Every node is one hop from every other (no channels, no routing fees).
//! A payment locks the amount on the payer, offers an HTLC to the payee and
//! resolves from the payee's answer: normal invoices settle at once, hold
//! invoices leave the payment in flight until SettleInvoice/CancelInvoice.
//! Each step locks one ledger at a time, then publishes the change.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::bolt11::{Bolt11Error, PaymentRequest, REGTEST};
use crate::ledger::{HtlcOutcome, IncomingHtlc};
use crate::lnd_status::LndStatus;
use crate::node_state::NodeState;
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
    })
}

/// Starts a payment and carries it as far as it goes without waiting: to
/// SUCCEEDED/FAILED, or IN_FLIGHT for an accepted hold invoice.
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
        payment_request: intent.payment_request.clone(),
        creation_time_ns: network.now_unix_nanos(),
        payment_index: 0,
        status: PaymentStatus::InFlight,
    };
    let injected = payer.faults().payment_failure.map(|f| f.reason());
    let started = payer.ledger().start_payment(record, injected)?;
    payer.publish_payment(started.clone());
    if started.is_final() {
        return Ok(started);
    }

    let Some(payee) = network.reachable(&intent.payee_pubkey_hex) else {
        return Ok(finish(
            payer,
            &intent.hash,
            Err(PaymentFailureReason::FailureReasonNoRoute),
        )
        .unwrap_or(started));
    };
    let htlc = IncomingHtlc {
        hash: intent.hash,
        payment_addr: intent.payment_addr,
        amount_msat: intent.amount_msat,
        payer_pubkey: payer.pubkey_hex.clone(),
    };
    let (outcome, updated) = payee.ledger().receive_htlc(&htlc, network.now_unix());
    if let Some(invoice) = updated {
        payee.publish_invoice(invoice);
    }
    let result = match outcome {
        HtlcOutcome::Accepted => return Ok(started),
        HtlcOutcome::Settled(preimage) => Ok(preimage),
        HtlcOutcome::Rejected => Err(PaymentFailureReason::FailureReasonIncorrectPaymentDetails),
    };
    Ok(finish(payer, &intent.hash, result).unwrap_or(started))
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
