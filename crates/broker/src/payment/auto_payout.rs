//! Automatic payouts to a Lightning Address (LUD-16 over LNURL-pay,
//! LUD-06): on a schedule, every standing order whose account holds at
//! least its threshold gets the balance (less the routing-fee reserve)
//! paid to an invoice fetched from the address's wallet service.
//!
//! ```text
//! balance ≥ threshold, not backing off
//!   → pay params (min/max sendable, metadata) → amount = most the balance
//!     covers with its reserve, ≤ max; below min → accrue, try next pass
//!   → invoice for exactly that amount → DecodePayReq → amount and
//!     description hash (sha256 of the metadata) checked
//!   → payouts::withdraw (the ledger moves first; never paid twice)
//! failure → failures + 1, next attempt after interval · 2^failures
//!           (capped), last_error kept for the account holder
//! ```
//!
//! Each pass asks for a fresh invoice, and a payout in flight has already
//! left the balance, so the same money is never sent twice.

use std::sync::Arc;
use std::time::Duration;

use shardgate_index::{PayoutAddressRecord, PayoutOrigin, PayoutState};
use shardgate_payments::lnurl::{LightningAddress, verify_invoice};

use crate::clock::now_unix_ms;
use crate::config::PaymentsConfig;
use crate::error::BrokerError;
use crate::payment::cashier::Cashier;
use crate::payment::payouts;

/// Runs passes forever (a broker worker).
pub(crate) async fn auto_payouts(cashier: Arc<Cashier>) {
    let every = Duration::from_secs(cashier.config.auto_payout_interval_secs);
    loop {
        tokio::time::sleep(every).await;
        match auto_payout_pass(&cashier).await {
            Ok(0) => {}
            Ok(paid) => tracing::info!(paid, "automatic payouts sent"),
            Err(e) => {
                tracing::warn!(error = %e, "automatic payout pass failed; retrying next pass")
            }
        }
    }
}

/// One pass over every standing order; returns how many payouts it sent.
pub(crate) async fn auto_payout_pass(cashier: &Cashier) -> Result<usize, BrokerError> {
    let now = now_unix_ms();
    let mut paid = 0;
    for order in cashier.index.payout_addresses().await? {
        if now < order.next_attempt_at_unix_ms {
            continue;
        }
        let balance = cashier
            .index
            .ledger_balance(&order.account)
            .await?
            .balance_msat();
        if balance < order.threshold_msat {
            continue;
        }
        let outcome = pay_order(cashier, &order, balance).await;
        let mut next = order.clone();
        match outcome {
            Ok(Some(())) => {
                paid += 1;
                next.failures = 0;
                next.next_attempt_at_unix_ms = 0;
                next.last_error = None;
            }
            // Below what the service takes: it accrues; nothing failed.
            Ok(None) => continue,
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(address = %order.address, %error, failures = order.failures + 1, "automatic payout failed");
                next.failures = order.failures.saturating_add(1);
                next.next_attempt_at_unix_ms =
                    now.saturating_add(backoff_ms(&cashier.config, next.failures));
                next.last_error = Some(payouts::truncate(error));
            }
        }
        // The holder may have changed or removed the order meanwhile: only
        // the schedule's fields of the order as it is now change.
        if let Some(current) = cashier.index.payout_address(&order.account).await?
            && current.address == order.address
        {
            cashier
                .index
                .put_payout_address(PayoutAddressRecord {
                    threshold_msat: current.threshold_msat,
                    updated_at_unix_ms: current.updated_at_unix_ms,
                    ..next
                })
                .await?;
        }
    }
    Ok(paid)
}

/// Fetches, checks and pays one invoice; `Ok(None)` when the amount is
/// below what the service (or the broker) accepts.
async fn pay_order(
    cashier: &Cashier,
    order: &PayoutAddressRecord,
    balance_msat: u64,
) -> Result<Option<()>, BrokerError> {
    let lnurl = cashier.lnurl.as_ref().ok_or_else(|| {
        BrokerError::Unavailable(
            "this broker has no HTTP client for Lightning Addresses".to_owned(),
        )
    })?;
    let address = LightningAddress::parse(&order.address)?;
    let params = lnurl.pay_params(&address).await?;
    let amount = payable_amount(&cashier.config, balance_msat).min(params.max_sendable_msat);
    if amount < params.min_sendable_msat || amount < cashier.config.min_withdrawal_msat {
        tracing::debug!(address = %order.address, amount, min = params.min_sendable_msat, "balance below the address's minimum; it accrues");
        return Ok(None);
    }
    let invoice = lnurl.invoice(&params, amount).await?;
    let decoded = cashier.lnd.node()?.decode_payment_request(&invoice).await?;
    verify_invoice(&params, amount, &decoded)?;
    let payout = payouts::withdraw(
        cashier,
        order.account.clone(),
        &invoice,
        PayoutOrigin::LightningAddress,
    )
    .await?;
    match payout.state {
        PayoutState::Failed { reason } => Err(BrokerError::Unavailable(format!(
            "payment to {} failed: {reason}",
            order.address
        ))),
        // Succeeded, or in flight (the reconciler finishes it; its money
        // has left the balance either way).
        _ => Ok(Some(())),
    }
}

/// The largest amount whose amount + routing-fee reserve fits `balance`.
pub(crate) fn payable_amount(config: &PaymentsConfig, balance_msat: u64) -> u64 {
    let ppm = u128::from(config.payout_fee_limit_ppm);
    let estimate = u128::from(balance_msat) * 1_000_000 / (1_000_000 + ppm);
    let mut amount = u64::try_from(estimate)
        .unwrap_or(u64::MAX)
        .min(balance_msat.saturating_sub(config.payout_min_fee_reserve_msat));
    let fits = |a: u64| a.saturating_add(config.payout_fee_reserve_msat(a)) <= balance_msat;
    // The reserve rounds down, so the estimate is off by a few msat either
    // way; walk to the exact largest amount that fits.
    while amount > 0 && !fits(amount) {
        amount -= 1;
    }
    while amount < balance_msat && fits(amount + 1) {
        amount += 1;
    }
    if fits(amount) { amount } else { 0 }
}

/// interval · 2^(failures − 1), at most the configured cap.
fn backoff_ms(config: &PaymentsConfig, failures: u32) -> u64 {
    let base = config.auto_payout_interval_secs.saturating_mul(1000);
    let factor = 1u64 << failures.saturating_sub(1).min(20);
    base.saturating_mul(factor)
        .min(config.auto_payout_max_backoff_secs.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payable_amount_leaves_exactly_room_for_its_reserve() {
        let config = PaymentsConfig {
            payout_fee_limit_ppm: 5_000,
            payout_min_fee_reserve_msat: 10_000,
            ..PaymentsConfig::default()
        };
        for balance in [
            0,
            9_999,
            10_000,
            10_001,
            50_000,
            2_010_000,
            2_010_001,
            987_654_321,
        ] {
            let amount = payable_amount(&config, balance);
            let reserve = config.payout_fee_reserve_msat(amount);
            if amount > 0 {
                assert!(
                    amount + reserve <= balance,
                    "{balance}: {amount} + {reserve}"
                );
            }
            let more = amount + 1;
            assert!(
                more + config.payout_fee_reserve_msat(more) > balance,
                "{balance}: {more} would still fit"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = PaymentsConfig {
            auto_payout_interval_secs: 10,
            auto_payout_max_backoff_secs: 60,
            ..PaymentsConfig::default()
        };
        assert_eq!(backoff_ms(&config, 1), 10_000);
        assert_eq!(backoff_ms(&config, 2), 20_000);
        assert_eq!(backoff_ms(&config, 3), 40_000);
        assert_eq!(backoff_ms(&config, 4), 60_000);
        assert_eq!(backoff_ms(&config, 40), 60_000);
    }
}
