//! State-machine tests of one ledger, without servers.

use super::*;
use crate::records::InvoiceState;

const NOW: u64 = 1_700_000_000;

fn invoice(hash: u8, value_msat: u64, hold: bool) -> InvoiceRecord {
    InvoiceRecord {
        hash: [hash; 32],
        preimage: (!hold).then_some([hash.wrapping_add(100); 32]),
        memo: String::new(),
        description_hash: Vec::new(),
        value_msat,
        creation_date: NOW,
        settle_date: 0,
        expiry: 60,
        cltv_expiry: 80,
        payment_request: String::new(),
        payment_addr: [hash; 32],
        private: false,
        add_index: 0,
        settle_index: 0,
        amt_paid_msat: 0,
        state: InvoiceState::Open,
        hold,
        held_htlc: None,
    }
}

fn htlc(hash: u8, amount_msat: u64) -> IncomingHtlc {
    IncomingHtlc {
        hash: [hash; 32],
        payment_addr: Some([hash; 32]),
        amount_msat,
        payer_pubkey: "02aa".into(),
    }
}

fn payment(hash: u8, value_msat: u64) -> PaymentRecord {
    PaymentRecord {
        hash: [hash; 32],
        preimage: None,
        value_msat,
        fee_msat: 0,
        payment_request: String::new(),
        creation_time_ns: 0,
        payment_index: 0,
        status: PaymentStatus::InFlight,
    }
}

#[test]
fn normal_invoice_settles_on_arrival_and_credits_the_payee() {
    let mut ledger = Ledger::new(0);
    ledger.add_invoice(invoice(1, 5_000, false)).expect("added");
    let (outcome, updated) = ledger.receive_htlc(&htlc(1, 5_000), NOW + 1);
    assert_eq!(outcome, HtlcOutcome::Settled([101; 32]));
    let updated = updated.expect("changed");
    assert_eq!(updated.state, InvoiceState::Settled);
    assert_eq!(updated.settle_index, 1);
    assert_eq!(ledger.balance_msat(), 5_000);
    // A second HTLC for the same invoice is rejected, not double-credited.
    assert_eq!(
        ledger.receive_htlc(&htlc(1, 5_000), NOW + 2).0,
        HtlcOutcome::Rejected
    );
    assert_eq!(ledger.balance_msat(), 5_000);
}

#[test]
fn htlc_is_rejected_for_wrong_amount_secret_or_expiry() {
    let mut ledger = Ledger::new(0);
    ledger.add_invoice(invoice(1, 5_000, false)).expect("added");
    assert_eq!(
        ledger.receive_htlc(&htlc(1, 4_999), NOW).0,
        HtlcOutcome::Rejected
    );
    let mut wrong_secret = htlc(1, 5_000);
    wrong_secret.payment_addr = Some([9; 32]);
    assert_eq!(
        ledger.receive_htlc(&wrong_secret, NOW).0,
        HtlcOutcome::Rejected
    );
    assert_eq!(
        ledger.receive_htlc(&htlc(1, 5_000), NOW + 61).0,
        HtlcOutcome::Rejected
    );
    assert_eq!(
        ledger.receive_htlc(&htlc(2, 5_000), NOW).0,
        HtlcOutcome::Rejected
    );
    assert_eq!(ledger.balance_msat(), 0);
}

#[test]
fn hold_invoice_accepts_then_settles_once() {
    let mut ledger = Ledger::new(0);
    ledger.add_invoice(invoice(3, 7_000, true)).expect("added");
    assert_eq!(
        ledger.receive_htlc(&htlc(3, 7_000), NOW).0,
        HtlcOutcome::Accepted
    );
    assert_eq!(ledger.balance_msat(), 0, "nothing credited while held");

    let resolution = ledger
        .settle_hold([42; 32], [3; 32], NOW + 5)
        .expect("settles")
        .expect("changed");
    assert_eq!(resolution.invoice.state, InvoiceState::Settled);
    assert_eq!(resolution.held.expect("held htlc").amount_msat, 7_000);
    assert_eq!(ledger.balance_msat(), 7_000);
    // Settling again is a no-op, as in LND.
    assert!(
        ledger
            .settle_hold([42; 32], [3; 32], NOW + 6)
            .expect("ok")
            .is_none()
    );
    assert_eq!(ledger.balance_msat(), 7_000);
    assert_eq!(
        ledger.cancel(&[3; 32]).unwrap_err(),
        LndStatus::InvoiceAlreadySettled
    );
}

#[test]
fn canceled_hold_invoice_hands_back_the_htlc() {
    let mut ledger = Ledger::new(0);
    ledger.add_invoice(invoice(4, 7_000, true)).expect("added");
    ledger.receive_htlc(&htlc(4, 7_000), NOW);
    let resolution = ledger.cancel(&[4; 32]).expect("cancels").expect("changed");
    assert_eq!(resolution.invoice.state, InvoiceState::Canceled);
    assert_eq!(resolution.invoice.amt_paid_msat, 0);
    assert!(resolution.held.is_some());
    assert!(ledger.cancel(&[4; 32]).expect("ok").is_none(), "idempotent");
    assert_eq!(
        ledger.settle_hold([1; 32], [4; 32], NOW).unwrap_err(),
        LndStatus::InvoiceAlreadyCanceled
    );
}

#[test]
fn expiry_cancels_only_open_invoices() {
    let mut ledger = Ledger::new(0);
    ledger.add_invoice(invoice(5, 1, false)).expect("added");
    ledger.add_invoice(invoice(6, 1, true)).expect("added");
    ledger.receive_htlc(&htlc(6, 1), NOW);
    assert!(ledger.expire_due(NOW + 60).is_empty(), "not yet");
    let expired = ledger.expire_due(NOW + 61);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].hash, [5; 32]);
    assert_eq!(
        ledger.invoice(&[6; 32]).expect("kept").state,
        InvoiceState::Accepted
    );
}

#[test]
fn payments_lock_funds_and_refund_on_failure() {
    let mut ledger = Ledger::new(10_000);
    let started = ledger
        .start_payment(payment(7, 6_000), 0, None)
        .expect("starts");
    assert_eq!(started.status, PaymentStatus::InFlight);
    assert_eq!(ledger.balance_msat(), 4_000);
    assert_eq!(ledger.in_flight_msat(), 6_000);
    assert_eq!(
        ledger
            .start_payment(payment(7, 6_000), 0, None)
            .unwrap_err(),
        LndStatus::PaymentInFlight
    );

    let failed = ledger
        .finish_payment(
            &[7; 32],
            Err(PaymentFailureReason::FailureReasonIncorrectPaymentDetails),
        )
        .expect("was in flight");
    assert!(failed.is_final());
    assert_eq!(ledger.balance_msat(), 10_000, "refunded");

    // Retry after failure is allowed and may succeed.
    ledger
        .start_payment(payment(7, 6_000), 0, None)
        .expect("retry");
    ledger
        .finish_payment(&[7; 32], Ok([1; 32]))
        .expect("in flight");
    assert_eq!(ledger.balance_msat(), 4_000);
    assert_eq!(
        ledger
            .start_payment(payment(7, 6_000), 0, None)
            .unwrap_err(),
        LndStatus::AlreadyPaid
    );
}

#[test]
fn unaffordable_or_faulted_payments_fail_without_moving_funds() {
    let mut ledger = Ledger::new(1_000);
    let poor = ledger
        .start_payment(payment(8, 1_001), 0, None)
        .expect("recorded");
    assert_eq!(
        poor.status,
        PaymentStatus::Failed(PaymentFailureReason::FailureReasonInsufficientBalance)
    );
    let faulted = ledger
        .start_payment(
            payment(9, 10),
            0,
            Some(PaymentFailureReason::FailureReasonNoRoute),
        )
        .expect("recorded");
    assert_eq!(
        faulted.status,
        PaymentStatus::Failed(PaymentFailureReason::FailureReasonNoRoute)
    );
    assert_eq!(ledger.balance_msat(), 1_000);
}

fn payment_with_fee(hash: u8, value_msat: u64, fee_msat: u64) -> PaymentRecord {
    PaymentRecord {
        fee_msat,
        ..payment(hash, value_msat)
    }
}

#[test]
fn fees_are_locked_with_the_amount_and_refunded_with_it() {
    let mut ledger = Ledger::new(10_000);
    ledger
        .start_payment(payment_with_fee(1, 6_000, 500), 500, None)
        .expect("starts");
    assert_eq!(ledger.balance_msat(), 3_500, "amount + fee locked");
    assert_eq!(ledger.in_flight_msat(), 6_500);
    ledger
        .finish_payment(&[1; 32], Err(PaymentFailureReason::FailureReasonTimeout))
        .expect("was in flight");
    assert_eq!(ledger.balance_msat(), 10_000, "amount and fee refunded");

    ledger
        .start_payment(payment_with_fee(2, 6_000, 500), u64::MAX, None)
        .expect("starts");
    ledger
        .finish_payment(&[2; 32], Ok([2; 32]))
        .expect("was in flight");
    assert_eq!(ledger.balance_msat(), 3_500, "amount + fee spent");
    assert_eq!(ledger.in_flight_msat(), 0);
}

#[test]
fn fee_over_limit_or_over_balance_is_no_route_and_moves_nothing() {
    let mut ledger = Ledger::new(10_000);
    let over_limit = ledger
        .start_payment(payment_with_fee(3, 1_000, 501), 500, None)
        .expect("recorded");
    assert_eq!(
        over_limit.status,
        PaymentStatus::Failed(PaymentFailureReason::FailureReasonNoRoute)
    );
    // The amount fits the balance, amount + fee does not: LND's path
    // finding finds no route whose first hop can carry it.
    let over_balance = ledger
        .start_payment(payment_with_fee(4, 9_800, 201), u64::MAX, None)
        .expect("recorded");
    assert_eq!(
        over_balance.status,
        PaymentStatus::Failed(PaymentFailureReason::FailureReasonNoRoute)
    );
    let over_amount = ledger
        .start_payment(payment_with_fee(5, 10_001, 0), u64::MAX, None)
        .expect("recorded");
    assert_eq!(
        over_amount.status,
        PaymentStatus::Failed(PaymentFailureReason::FailureReasonInsufficientBalance)
    );
    assert_eq!(ledger.balance_msat(), 10_000);
    assert_eq!(ledger.in_flight_msat(), 0);
}
