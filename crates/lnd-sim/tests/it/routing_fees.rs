//! Routing fees on outgoing payments: charged on top of the amount,
//! reported as LND reports them, and bounded by the request's fee limit.

use crate::common;

use common::{
    TestNet, add_invoice, connect, local_balance_msat, lookup, pay_with, send_request, state_of,
    status_of, track,
};
use lnd_grpc_rust::lnrpc::{PaymentFailureReason, invoice::InvoiceState, payment::PaymentStatus};
use shardgate_lnd_sim::{SimNode, SimNodeConfig};

/// 200 sat at 1 sat base + 5,000 ppm: 1,000 + 1,000 = 2,000 msat of fee.
const AMOUNT_MSAT: i64 = 200_000;
const BASE_MSAT: u64 = 1_000;
const PPM: u64 = 5_000;
const FEE_MSAT: i64 = 2_000;

#[tokio::test]
async fn fee_is_charged_to_the_payer_and_reported_on_every_stream() {
    let net = TestNet::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A payer configured with a fee from the start (the other tests set
    // it at run time).
    let payer_node = SimNode::start(
        &net.network,
        SimNodeConfig::new("payer-with-fee", dir.path())
            .with_balance_msat(common::PAYER_BALANCE_MSAT)
            .with_routing_fee(BASE_MSAT, PPM),
    )
    .await
    .expect("payer starts");
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&payer_node).await;
    let broker_before = local_balance_msat(&mut broker).await;

    let added = add_invoice(&mut broker, AMOUNT_MSAT, "payout").await;
    let updates = pay_with(&mut payer, send_request(&added.payment_request, FEE_MSAT))
        .await
        .expect("payment runs");

    let first = updates.first().expect("an update");
    assert_eq!(status_of(first), PaymentStatus::InFlight);
    assert_eq!(first.fee_msat, 0, "no settled HTLC yet, so no fee yet");
    let done = updates.last().expect("an update");
    assert_eq!(status_of(done), PaymentStatus::Succeeded, "{updates:?}");
    assert_eq!(
        done.value_msat, AMOUNT_MSAT,
        "value is the amount, not amount + fee"
    );
    assert_eq!(done.value_sat, AMOUNT_MSAT / 1000);
    assert_eq!(done.fee_msat, FEE_MSAT);
    assert_eq!(done.fee_sat, FEE_MSAT / 1000);

    let tracked = common::collect(track(&mut payer, &added.r_hash).await)
        .await
        .expect("track");
    assert_eq!(
        tracked.len(),
        1,
        "a final payment is one update: {tracked:?}"
    );
    assert_eq!(tracked[0].fee_msat, FEE_MSAT);
    assert_eq!(tracked[0].value_msat, AMOUNT_MSAT);

    let invoice = lookup(&mut broker, &added.r_hash).await;
    assert_eq!(state_of(&invoice), InvoiceState::Settled);
    assert_eq!(invoice.amt_paid_msat, AMOUNT_MSAT);
    let charged = u64::try_from(AMOUNT_MSAT + FEE_MSAT).expect("positive");
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - charged
    );
    assert_eq!(
        local_balance_msat(&mut broker).await,
        broker_before + AMOUNT_MSAT as u64,
        "the payee gets the amount; the fee went to the route"
    );
    payer_node.shutdown().await.expect("payer stops");
    net.shutdown().await;
}

#[tokio::test]
async fn fee_above_the_limit_fails_with_no_route_and_moves_nothing() {
    let net = TestNet::start().await;
    net.payer.set_routing_fee(BASE_MSAT, PPM);
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, AMOUNT_MSAT, "too dear").await;

    // One msat short of the fee; then no limit at all, which LND reads as
    // "zero-fee routes only"; then a limit in whole sat (1 sat < 2 sat).
    let below = send_request(&added.payment_request, FEE_MSAT - 1);
    let unset = send_request(&added.payment_request, 0);
    let in_sat = lnd_grpc_rust::routerrpc::SendPaymentRequest {
        fee_limit_sat: 1,
        ..send_request(&added.payment_request, 0)
    };
    for request in [below, unset, in_sat] {
        let updates = pay_with(&mut payer, request).await.expect("stream");
        let last = updates.last().expect("an update");
        assert_eq!(status_of(last), PaymentStatus::Failed, "{updates:?}");
        assert_eq!(
            last.failure_reason,
            PaymentFailureReason::FailureReasonNoRoute as i32
        );
        assert_eq!(last.fee_msat, 0);
        assert_eq!(
            local_balance_msat(&mut payer).await,
            common::PAYER_BALANCE_MSAT,
            "nothing locked or spent"
        );
    }
    assert_eq!(local_balance_msat(&mut broker).await, 0);
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Open
    );

    // Both limits at once is a request error, as in LND.
    let both = lnd_grpc_rust::routerrpc::SendPaymentRequest {
        fee_limit_sat: 3,
        ..send_request(&added.payment_request, 3_000)
    };
    let err = pay_with(&mut payer, both).await.expect_err("refused");
    assert_eq!(
        err.message(),
        "sat and msat arguments are mutually exclusive"
    );

    // The fee changes at run time: with no fee, the default limit suffices.
    net.payer.set_routing_fee(0, 0);
    let updates = pay_with(&mut payer, send_request(&added.payment_request, 0))
        .await
        .expect("stream");
    let last = updates.last().expect("an update");
    assert_eq!(status_of(last), PaymentStatus::Succeeded, "{updates:?}");
    assert_eq!(last.fee_msat, 0);
    net.shutdown().await;
}

#[tokio::test]
async fn balance_must_cover_amount_and_fee() {
    // Enough for the amount, 1 msat short of amount + fee.
    let balance = u64::try_from(AMOUNT_MSAT + FEE_MSAT - 1).expect("positive");
    let net = TestNet::with_payer_balance(balance).await;
    net.payer.set_routing_fee(BASE_MSAT, PPM);
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;

    // LND's path finding compares the balance with the amount alone
    // (INSUFFICIENT_BALANCE); an amount that fits but not with its fee
    // finds no route whose first hop can carry it (NO_ROUTE).
    let affordable = add_invoice(&mut broker, AMOUNT_MSAT, "amount fits").await;
    let beyond = add_invoice(&mut broker, AMOUNT_MSAT + FEE_MSAT, "amount does not").await;
    let cases = [
        (affordable, PaymentFailureReason::FailureReasonNoRoute),
        (
            beyond,
            PaymentFailureReason::FailureReasonInsufficientBalance,
        ),
    ];
    for (invoice, reason) in cases {
        let request = send_request(&invoice.payment_request, i64::MAX);
        let updates = pay_with(&mut payer, request).await.expect("stream");
        let last = updates.last().expect("an update");
        assert_eq!(status_of(last), PaymentStatus::Failed, "{updates:?}");
        assert_eq!(last.failure_reason, reason as i32, "{updates:?}");
        assert_eq!(local_balance_msat(&mut payer).await, balance);
        assert_eq!(
            state_of(&lookup(&mut broker, &invoice.r_hash).await),
            InvoiceState::Open
        );
    }
    assert_eq!(local_balance_msat(&mut broker).await, 0);
    net.shutdown().await;
}
