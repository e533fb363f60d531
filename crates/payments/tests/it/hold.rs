//! Hold invoices ("pay only if delivered") through [`LightningNode`]:
//! paid → ACCEPTED (funds locked) → settled or canceled by the broker.

use crate::common;

use common::{EXPIRY, PAYER_BALANCE_MSAT, TestNet, WAIT};
use shardgate_payments::{InvoiceState, LightningNode, PaymentError, Preimage};
use tokio::task::JoinHandle;

const PRICE_MSAT: u64 = 64_000;

/// Pays in a spawned task: with a hold invoice the payment stays in flight
/// until the broker decides. (`tokio::spawn` also proves the future is Send.)
fn pay_in_background(
    payer: &LightningNode,
    request: &str,
) -> JoinHandle<Result<Preimage, PaymentError>> {
    let payer = payer.clone();
    let request = request.to_string();
    tokio::spawn(async move { payer.pay_invoice(&request, 1_000, WAIT).await })
}

async fn next_state(
    sub: &mut shardgate_payments::lnd::InvoiceSubscription,
) -> Option<InvoiceState> {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("update within bound")
        .expect("stream healthy")
        .map(|s| s.state)
}

#[tokio::test]
async fn accepted_hold_invoice_settles_on_delivery() {
    let net = TestNet::start().await;
    let preimage = Preimage::random();
    let hash = preimage.payment_hash();
    let invoice = net
        .broker
        .add_hold_invoice(&hash, PRICE_MSAT, "hold download", EXPIRY)
        .await
        .expect("AddHoldInvoice");
    assert_eq!(invoice.payment_hash, hash);
    let mut updates = net
        .broker
        .subscribe_single_invoice(&hash)
        .await
        .expect("subscribe");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Open));

    let payment = pay_in_background(&net.payer, &invoice.payment_request);
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Accepted));
    let accepted = net.broker.lookup_invoice(&hash).await.expect("lookup");
    assert!(accepted.is_accepted_for(PRICE_MSAT));
    assert!(
        !accepted.is_settled_for(PRICE_MSAT),
        "accepted is not settled"
    );
    assert_eq!(accepted.preimage, None, "the node does not know it yet");
    let wallet = net.payer.channel_balance().await.expect("balance");
    assert_eq!(wallet.unsettled_local_msat, PRICE_MSAT, "funds locked");
    assert!(
        !payment.is_finished(),
        "payer waits while the invoice is held"
    );

    net.broker
        .settle_invoice(&preimage)
        .await
        .expect("SettleInvoice");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Settled));
    assert_eq!(
        next_state(&mut updates).await,
        None,
        "stream ends when final"
    );

    let paid_with = tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task")
        .expect("payment succeeds");
    assert_eq!(paid_with, preimage, "payer learns the preimage on settle");
    let settled = net.broker.lookup_invoice(&hash).await.expect("lookup");
    assert!(settled.is_settled_for(PRICE_MSAT));
    assert_eq!(
        net.payer
            .channel_balance()
            .await
            .expect("balance")
            .local_msat,
        PAYER_BALANCE_MSAT - PRICE_MSAT
    );
    net.shutdown().await;
}

#[tokio::test]
async fn canceled_hold_invoice_releases_the_payers_funds() {
    let net = TestNet::start().await;
    let preimage = Preimage::random();
    let hash = preimage.payment_hash();
    let invoice = net
        .broker
        .add_hold_invoice(&hash, PRICE_MSAT, "failed delivery", EXPIRY)
        .await
        .expect("AddHoldInvoice");
    let mut updates = net
        .broker
        .subscribe_single_invoice(&hash)
        .await
        .expect("subscribe");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Open));
    let payment = pay_in_background(&net.payer, &invoice.payment_request);
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Accepted));

    net.broker
        .cancel_invoice(&hash)
        .await
        .expect("CancelInvoice");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Canceled));
    let canceled = net.broker.lookup_invoice(&hash).await.expect("lookup");
    assert_eq!(canceled.state, InvoiceState::Canceled);
    assert!(
        !canceled.is_expired(canceled.creation_unix),
        "canceled by us before expiry, not expired"
    );

    let outcome = tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task");
    assert!(
        matches!(outcome, Err(PaymentError::PaymentFailed { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        net.payer
            .channel_balance()
            .await
            .expect("balance")
            .local_msat,
        PAYER_BALANCE_MSAT,
        "refunded"
    );
    // A canceled invoice cannot be settled afterwards.
    let err = net
        .broker
        .settle_invoice(&preimage)
        .await
        .expect_err("canceled");
    assert_eq!(
        err.kind(),
        shardgate_payments::PaymentErrorKind::Rejected,
        "{err}"
    );
    net.shutdown().await;
}
