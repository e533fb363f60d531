//! Money out: paying an account holder's BOLT 11 invoice from the broker's
//! node, with the ledger moving first and the node's answer deciding how
//! it ends.
//!
//! ```text
//! decode (DecodePayReq) → checks → index: start_payout (amount + reserve
//! leave the account, or InsufficientBalance and nothing moves)
//!   → SendPaymentV2(fee limit = reserve), followed ≤ payout_wait
//!       SUCCEEDED → finish: amount + fee out of the node, rest of reserve back
//!       FAILED    → finish: everything back
//!       IN_FLIGHT / node unreachable → stays InFlight; `reconcile` asks
//!                   TrackPaymentV2 later (also after a restart)
//! ```
//!
//! The payment hash is the key: a second Withdraw with the same invoice
//! finds the record and follows it instead of paying again, and LND itself
//! refuses to pay one hash twice.

use std::time::Duration;

use shardgate_index::{
    IndexError, LedgerAccount, PayoutOrigin, PayoutRecord, PayoutStart, PayoutState,
};
use shardgate_payments::{LightningNode, PaymentError, PaymentHash, PayoutUpdate};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::payment::cashier::Cashier;
use crate::payment::ledger::{payout_finished, payout_started};

/// A payout the node never heard of is reversed only after this long: a
/// sender still between `start_payout` and SendPaymentV2 must not see its
/// money handed back while it pays (see `SEND_DEADLINE`).
const UNKNOWN_TO_NODE_AFTER: Duration = Duration::from_secs(300);
/// A sender does not call SendPaymentV2 for a payout started longer ago
/// than this (it leaves it to the reconciler), so the reversal above can
/// never race a payment.
const SEND_DEADLINE: Duration = Duration::from_secs(60);
/// How long the reconciler follows one in-flight payment.
const TRACK_WAIT: Duration = Duration::from_secs(2);
/// Payouts per index page in a reconcile pass.
const PAGE: usize = 200;

/// Pays `payment_request` out of `account`. Returns the payout as it
/// stands after at most `payout_wait` (it may be InFlight).
pub(crate) async fn withdraw(
    cashier: &Cashier,
    account: LedgerAccount,
    payment_request: &str,
    origin: PayoutOrigin,
) -> Result<PayoutRecord, BrokerError> {
    let node = cashier.lnd.node()?;
    let decoded = match node.decode_payment_request(payment_request.trim()).await {
        Ok(decoded) => decoded,
        Err(PaymentError::LndRejected { detail, .. }) => {
            return Err(BrokerError::invalid(
                "payment_request",
                format!("not a payable BOLT11 invoice: {detail}"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let config = &cashier.config;
    let now = now_unix_ms();
    if decoded.amount_msat == 0 {
        return Err(BrokerError::invalid(
            "payment_request",
            "the invoice carries no amount; create one for the amount to withdraw",
        ));
    }
    if decoded.expires_at_unix() <= now / 1000 {
        return Err(BrokerError::invalid(
            "payment_request",
            "the invoice has expired; create a new one",
        ));
    }
    if decoded.amount_msat < config.min_withdrawal_msat {
        return Err(BrokerError::invalid(
            "payment_request",
            format!(
                "{} msat is below the smallest withdrawal, {} msat",
                decoded.amount_msat, config.min_withdrawal_msat
            ),
        ));
    }
    let hash = decoded.payment_hash;
    let attempt = match cashier.index.payout(&hash.0).await? {
        Some(p) if matches!(p.state, PayoutState::Failed { .. }) => p.attempt + 1,
        _ => 1,
    };
    let payout = PayoutRecord {
        payment_hash: hash.0,
        account,
        amount_msat: decoded.amount_msat,
        fee_reserve_msat: config.payout_fee_reserve_msat(decoded.amount_msat),
        payment_request: payment_request.trim().to_owned(),
        attempt,
        origin,
        started_at_unix_ms: now,
        finished_at_unix_ms: None,
        state: PayoutState::InFlight,
    };
    let entry = payout_started(&payout, now);
    let started = match cashier.index.start_payout(payout, entry).await {
        Ok(PayoutStart::Started(p)) => p,
        // Withdraw again with the same invoice: follow it, never pay again.
        Ok(PayoutStart::Existing(p)) if p.state == PayoutState::InFlight => {
            return follow(cashier, &node, p, config.payout_wait()).await;
        }
        Ok(PayoutStart::Existing(p)) => return Ok(p),
        Err(IndexError::InsufficientBalance {
            account,
            balance_msat,
            needed_msat,
        }) => {
            return Err(BrokerError::FailedPrecondition(format!(
                "{account} holds {balance_msat} msat; this withdrawal needs {needed_msat} msat (amount + routing-fee reserve, the unused reserve comes back)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        payment_hash = %hash,
        amount_msat = started.amount_msat,
        fee_reserve_msat = started.fee_reserve_msat,
        attempt = started.attempt,
        "payout started"
    );
    if age_of(&started) > SEND_DEADLINE {
        // The index write took so long that a reconciler may treat this
        // payout as never sent: leave it to the reconciler.
        return Ok(started);
    }
    let sent = node
        .send_payout(
            &started.payment_request,
            &hash,
            started.fee_reserve_msat,
            config.payout_wait(),
        )
        .await;
    apply(cashier, &node, started, sent).await
}

/// Follows an in-flight payout for up to `wait` and books its end.
async fn follow(
    cashier: &Cashier,
    node: &LightningNode,
    payout: PayoutRecord,
    wait: Duration,
) -> Result<PayoutRecord, BrokerError> {
    let hash = PaymentHash(payout.payment_hash);
    match node.track_payout(&hash, wait).await {
        Ok(Some(update)) => apply(cashier, node, payout, Ok(update)).await,
        Ok(None) => {
            // Its sender may still be about to pay (it gives up after
            // SEND_DEADLINE, well inside this): leave it.
            if age_of(&payout) < UNKNOWN_TO_NODE_AFTER {
                return Ok(payout);
            }
            let reason = "the broker stopped before its node took the payment".to_owned();
            finish(cashier, payout, PayoutState::Failed { reason }).await
        }
        // Unknown: leave it in flight; the next pass asks again.
        Err(e) => {
            tracing::warn!(payment_hash = %hash, error = %e, "cannot ask the node about a payout");
            Ok(payout)
        }
    }
}

/// Books what the node answered for a payout it was asked to pay.
async fn apply(
    cashier: &Cashier,
    node: &LightningNode,
    payout: PayoutRecord,
    sent: Result<PayoutUpdate, PaymentError>,
) -> Result<PayoutRecord, BrokerError> {
    match sent {
        Ok(PayoutUpdate::Succeeded { preimage, fee_msat }) => {
            let outcome = PayoutState::Succeeded {
                fee_msat: fee_msat.min(payout.fee_reserve_msat),
                preimage: preimage.0,
            };
            if fee_msat > payout.fee_reserve_msat {
                // The fee limit was the reserve; a node that paid more broke
                // it. Book the reserve and say so loudly.
                tracing::error!(payment_hash = %hex::encode(payout.payment_hash), fee_msat, reserve = payout.fee_reserve_msat, "node paid a routing fee above the limit");
            }
            finish(cashier, payout, outcome).await
        }
        Ok(PayoutUpdate::Failed { reason }) => {
            finish(cashier, payout, PayoutState::Failed { reason }).await
        }
        Ok(PayoutUpdate::InFlight) => Ok(payout),
        // Refused before any HTLC left (bad invoice, self-payment, …): make
        // sure the node has no such payment, then give the money back.
        Err(e @ PaymentError::LndRejected { .. }) => {
            let hash = PaymentHash(payout.payment_hash);
            match node.track_payout(&hash, TRACK_WAIT).await {
                Ok(None) => {
                    let reason = truncate(format!("refused by the broker's node: {e}"));
                    finish(cashier, payout, PayoutState::Failed { reason }).await
                }
                Ok(Some(update)) => Box::pin(apply(cashier, node, payout, Ok(update))).await,
                Err(_) => Ok(payout),
            }
        }
        // The node may or may not have started it: only it can say.
        Err(e) => {
            tracing::warn!(payment_hash = %hex::encode(payout.payment_hash), error = %e, "payout outcome unknown; the reconciler will ask the node");
            Ok(payout)
        }
    }
}

fn age_of(payout: &PayoutRecord) -> Duration {
    Duration::from_millis(now_unix_ms().saturating_sub(payout.started_at_unix_ms))
}

/// `reason` cut to what the index keeps (`MAX_PAYOUT_REASON_LEN`), on a
/// character boundary.
pub(crate) fn truncate(mut reason: String) -> String {
    let max = shardgate_index::payouts::MAX_PAYOUT_REASON_LEN;
    if reason.len() > max {
        let mut end = max;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

async fn finish(
    cashier: &Cashier,
    payout: PayoutRecord,
    outcome: PayoutState,
) -> Result<PayoutRecord, BrokerError> {
    let now = now_unix_ms();
    let entry = payout_finished(&payout, &outcome, now);
    let done = cashier
        .index
        .finish_payout(&payout.payment_hash, payout.attempt, outcome, now, entry)
        .await?;
    tracing::info!(
        payment_hash = %hex::encode(done.payment_hash),
        state = ?done.state,
        "payout finished"
    );
    Ok(done)
}

/// The payout of `hash`, brought up to date with the node if in flight.
pub(crate) async fn current(
    cashier: &Cashier,
    hash: &PaymentHash,
) -> Result<Option<PayoutRecord>, BrokerError> {
    let Some(payout) = cashier.index.payout(&hash.0).await? else {
        return Ok(None);
    };
    if payout.state.is_final() {
        return Ok(Some(payout));
    }
    let Ok(node) = cashier.lnd.node() else {
        return Ok(Some(payout));
    };
    follow(cashier, &node, payout, Duration::ZERO)
        .await
        .map(Some)
}

/// One pass over every payout in flight; returns how many became final.
pub(crate) async fn reconcile(cashier: &Cashier) -> Result<usize, BrokerError> {
    let node = cashier.lnd.node()?;
    let mut after = None;
    let mut finished = 0;
    loop {
        let page = cashier.index.payouts_in_flight(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.payment_hash);
        let full = page.len() >= PAGE;
        for payout in page {
            if follow(cashier, &node, payout, TRACK_WAIT)
                .await?
                .state
                .is_final()
            {
                finished += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(finished)
}

/// Runs reconcile passes forever (a broker worker): once at start, for the
/// payouts a previous run left in flight, then every `payout_reconcile_secs`.
pub(crate) async fn reconcile_payouts(cashier: std::sync::Arc<Cashier>) {
    let every = Duration::from_secs(cashier.config.payout_reconcile_secs);
    loop {
        match reconcile(&cashier).await {
            Ok(0) => {}
            Ok(finished) => tracing::info!(finished, "payouts reconciled with the node"),
            Err(e) => {
                tracing::warn!(error = %e, "payout reconcile pass failed; retrying next pass")
            }
        }
        tokio::time::sleep(every).await;
    }
}
