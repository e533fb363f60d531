//! Payments that stay in flight until the test resolves them (a payout
//! stuck at a hop): what SendPaymentV2, TrackPaymentV2 and ChannelBalance
//! show meanwhile and after, including across the payer going down.

use crate::common;

use common::{
    TestNet, add_invoice, balances_msat, connect, local_balance_msat, lookup, next_update,
    send_request, state_of, status_of, track,
};
use lnd_grpc_rust::lnrpc::{
    self, PaymentFailureReason, invoice::InvoiceState, payment::PaymentStatus,
};
use sha2::{Digest, Sha256};
use shardgate_lnd_sim::SimError;

const AMOUNT_MSAT: i64 = 50_000;
/// 500 msat base + 10,000 ppm of 50,000 msat = 500 + 500.
const FEE_MSAT: i64 = 1_000;
const LOCKED_MSAT: u64 = (AMOUNT_MSAT + FEE_MSAT) as u64;

/// A test net whose payer charges `FEE_MSAT` and stalls its payments.
async fn stalling_net() -> TestNet {
    let net = TestNet::start().await;
    net.payer.set_routing_fee(500, 10_000);
    net.payer.stall_payments(true);
    net
}

/// Starts a payment and returns its stream after the first update, which
/// must be IN_FLIGHT.
async fn start_stalled(
    payer: &mut lnd_grpc_rust::LndClient,
    payment_request: &str,
) -> tonic::Streaming<lnrpc::Payment> {
    let mut stream = payer
        .router()
        .send_payment_v2(send_request(payment_request, FEE_MSAT))
        .await
        .expect("SendPaymentV2")
        .into_inner();
    let first = next_update(&mut stream).await.expect("ok").expect("update");
    assert_eq!(status_of(&first), PaymentStatus::InFlight);
    stream
}

fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32-byte hash")
}

#[tokio::test]
async fn stalled_payment_is_in_flight_until_it_succeeds() {
    let net = stalling_net().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, AMOUNT_MSAT, "stuck payout").await;
    let mut sent = start_stalled(&mut payer, &added.payment_request).await;

    let mut tracked = track(&mut payer, &added.r_hash).await;
    let now = next_update(&mut tracked)
        .await
        .expect("ok")
        .expect("update");
    assert_eq!(status_of(&now), PaymentStatus::InFlight);
    assert_eq!(now.value_msat, AMOUNT_MSAT);
    assert_eq!(
        balances_msat(&mut payer).await,
        (common::PAYER_BALANCE_MSAT - LOCKED_MSAT, LOCKED_MSAT),
        "amount + fee locked, shown as unsettled"
    );
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Open,
        "the HTLC has not reached the payee"
    );
    assert_eq!(net.payer.stalled_payments(), vec![hash32(&added.r_hash)]);

    net.payer
        .resolve_stalled(&hash32(&added.r_hash), true)
        .expect("was stalled");

    for stream in [&mut sent, &mut tracked] {
        let done = next_update(stream).await.expect("ok").expect("update");
        assert_eq!(status_of(&done), PaymentStatus::Succeeded);
        assert_eq!(done.fee_msat, FEE_MSAT);
        let preimage = hex::decode(&done.payment_preimage).expect("hex");
        assert_eq!(
            Sha256::digest(&preimage).as_slice(),
            added.r_hash.as_slice()
        );
        assert!(next_update(stream).await.expect("ok").is_none(), "ends");
    }
    let invoice = lookup(&mut broker, &added.r_hash).await;
    assert_eq!(state_of(&invoice), InvoiceState::Settled);
    assert_eq!(invoice.amt_paid_msat, AMOUNT_MSAT);
    assert_eq!(
        balances_msat(&mut payer).await,
        (common::PAYER_BALANCE_MSAT - LOCKED_MSAT, 0)
    );
    assert_eq!(local_balance_msat(&mut broker).await, AMOUNT_MSAT as u64);
    assert!(net.payer.stalled_payments().is_empty());
    net.shutdown().await;
}

#[tokio::test]
async fn stalled_payment_that_fails_is_refunded() {
    let net = stalling_net().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, AMOUNT_MSAT, "stuck payout").await;
    let mut sent = start_stalled(&mut payer, &added.payment_request).await;
    let mut tracked = track(&mut payer, &added.r_hash).await;
    let now = next_update(&mut tracked)
        .await
        .expect("ok")
        .expect("update");
    assert_eq!(status_of(&now), PaymentStatus::InFlight);

    net.payer
        .resolve_stalled(&hash32(&added.r_hash), false)
        .expect("was stalled");
    for stream in [&mut sent, &mut tracked] {
        let done = next_update(stream).await.expect("ok").expect("update");
        assert_eq!(status_of(&done), PaymentStatus::Failed);
        assert_eq!(
            done.failure_reason,
            PaymentFailureReason::FailureReasonNoRoute as i32
        );
        assert_eq!(done.fee_msat, 0);
    }
    assert_eq!(
        balances_msat(&mut payer).await,
        (common::PAYER_BALANCE_MSAT, 0),
        "amount and fee refunded"
    );
    assert_eq!(local_balance_msat(&mut broker).await, 0);
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Open
    );

    // Resolving twice (or an unknown hash) is an error for the test.
    let again = net.payer.resolve_stalled(&hash32(&added.r_hash), true);
    assert!(
        matches!(again, Err(SimError::NotStalled { .. })),
        "{again:?}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn payer_down_mid_payment_still_tracks_it_afterwards() {
    let net = stalling_net().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let first = add_invoice(&mut broker, AMOUNT_MSAT, "first").await;
    let second = add_invoice(&mut broker, AMOUNT_MSAT, "second").await;
    let sent = start_stalled(&mut payer, &first.payment_request).await;
    drop(start_stalled(&mut payer, &second.payment_request).await);

    // Down while both are in flight (the broker restarts, say); the first
    // completes meanwhile, the second is still stuck when the node is back.
    net.payer.set_down(true).await.expect("down");
    drop(sent);
    net.payer
        .resolve_stalled(&hash32(&first.r_hash), true)
        .expect("was stalled");
    net.payer.set_down(false).await.expect("up");

    let mut payer = connect(&net.payer).await;
    let done = common::collect(track(&mut payer, &first.r_hash).await)
        .await
        .expect("track");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(status_of(&done[0]), PaymentStatus::Succeeded);
    assert_eq!(done[0].fee_msat, FEE_MSAT);

    let mut tracked = track(&mut payer, &second.r_hash).await;
    let now = next_update(&mut tracked)
        .await
        .expect("ok")
        .expect("update");
    assert_eq!(status_of(&now), PaymentStatus::InFlight);
    net.payer
        .resolve_stalled(&hash32(&second.r_hash), false)
        .expect("was stalled");
    let failed = next_update(&mut tracked)
        .await
        .expect("ok")
        .expect("update");
    assert_eq!(status_of(&failed), PaymentStatus::Failed);

    assert_eq!(
        balances_msat(&mut payer).await,
        (common::PAYER_BALANCE_MSAT - LOCKED_MSAT, 0),
        "one payment spent, the other refunded"
    );
    assert_eq!(
        state_of(&lookup(&mut broker, &first.r_hash).await),
        InvoiceState::Settled
    );
    assert_eq!(local_balance_msat(&mut broker).await, AMOUNT_MSAT as u64);
    net.shutdown().await;
}
