//! Hold invoices: pay → ACCEPTED, then the broker settles (delivery done) or
//! cancels (delivery failed, the payer gets the money back).

use crate::common;

use common::{TestNet, WAIT, connect, local_balance_msat, lookup, pay, state_of, status_of};
use lnd_grpc_rust::LndClient;
use lnd_grpc_rust::invoicesrpc;
use lnd_grpc_rust::lnrpc::{
    self, PaymentFailureReason, invoice::InvoiceState, payment::PaymentStatus,
};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

const PRICE_MSAT: i64 = 64_000;

struct HoldInvoice {
    preimage: [u8; 32],
    hash: Vec<u8>,
    payment_request: String,
}

async fn add_hold_invoice(broker: &mut LndClient, seed: u8) -> HoldInvoice {
    let preimage = [seed; 32];
    let hash = Sha256::digest(preimage).to_vec();
    let resp = broker
        .invoices()
        .add_hold_invoice(invoicesrpc::AddHoldInvoiceRequest {
            memo: "download".into(),
            hash: hash.clone(),
            value_msat: PRICE_MSAT,
            ..Default::default()
        })
        .await
        .expect("AddHoldInvoice")
        .into_inner();
    HoldInvoice {
        preimage,
        hash,
        payment_request: resp.payment_request,
    }
}

async fn subscribe(broker: &mut LndClient, hash: &[u8]) -> tonic::Streaming<lnrpc::Invoice> {
    broker
        .invoices()
        .subscribe_single_invoice(invoicesrpc::SubscribeSingleInvoiceRequest {
            r_hash: hash.to_vec(),
        })
        .await
        .expect("SubscribeSingleInvoice")
        .into_inner()
}

async fn next_state(stream: &mut tonic::Streaming<lnrpc::Invoice>) -> Option<InvoiceState> {
    let next = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("invoice update within bound")
        .expect("stream healthy");
    next.map(|invoice| state_of(&invoice))
}

/// Pays in the background: with a hold invoice the stream stays open until
/// the broker settles or cancels.
fn pay_in_background(payer: &LndClient, payment_request: &str) -> JoinHandle<Vec<lnrpc::Payment>> {
    let mut payer = payer.clone();
    let payment_request = payment_request.to_string();
    tokio::spawn(async move {
        pay(&mut payer, &payment_request)
            .await
            .expect("payment stream")
    })
}

#[tokio::test]
async fn settled_hold_invoice_completes_the_payment() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let hold = add_hold_invoice(&mut broker, 7).await;
    let mut updates = subscribe(&mut broker, &hold.hash).await;
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Open));

    let payment = pay_in_background(&payer, &hold.payment_request);
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Accepted));

    let accepted = lookup(&mut broker, &hold.hash).await;
    assert_eq!(accepted.amt_paid_msat, PRICE_MSAT);
    assert!(
        accepted.r_preimage.is_empty(),
        "broker does not know it yet"
    );
    let balance = payer
        .lightning()
        .channel_balance(lnrpc::ChannelBalanceRequest {})
        .await
        .expect("ChannelBalance")
        .into_inner();
    let locked = balance.unsettled_local_balance.expect("unsettled").msat;
    assert_eq!(locked, PRICE_MSAT as u64, "amount locked in flight");
    assert!(
        !payment.is_finished(),
        "payer waits while the invoice is held"
    );

    broker
        .invoices()
        .settle_invoice(invoicesrpc::SettleInvoiceMsg {
            preimage: hold.preimage.to_vec(),
        })
        .await
        .expect("SettleInvoice");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Settled));
    assert_eq!(
        next_state(&mut updates).await,
        None,
        "stream ends after a final state"
    );

    let updates = tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task");
    let last = updates.last().expect("update");
    assert_eq!(status_of(last), PaymentStatus::Succeeded);
    assert_eq!(last.payment_preimage, hex::encode(hold.preimage));
    let settled = lookup(&mut broker, &hold.hash).await;
    assert_eq!(state_of(&settled), InvoiceState::Settled);
    assert_eq!(settled.r_preimage, hold.preimage.to_vec());
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - PRICE_MSAT as u64
    );
    assert_eq!(local_balance_msat(&mut broker).await, PRICE_MSAT as u64);
    net.shutdown().await;
}

#[tokio::test]
async fn canceled_hold_invoice_refunds_the_payer() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let hold = add_hold_invoice(&mut broker, 9).await;
    let mut updates = subscribe(&mut broker, &hold.hash).await;
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Open));

    let payment = pay_in_background(&payer, &hold.payment_request);
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Accepted));
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - PRICE_MSAT as u64,
        "locked while held"
    );

    broker
        .invoices()
        .cancel_invoice(invoicesrpc::CancelInvoiceMsg {
            payment_hash: hold.hash.clone(),
        })
        .await
        .expect("CancelInvoice");
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Canceled));

    let updates = tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task");
    let last = updates.last().expect("update");
    assert_eq!(status_of(last), PaymentStatus::Failed);
    assert_eq!(
        last.failure_reason,
        PaymentFailureReason::FailureReasonIncorrectPaymentDetails as i32
    );
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT
    );
    assert_eq!(local_balance_msat(&mut broker).await, 0);

    // A canceled invoice cannot be settled afterwards.
    let err = broker
        .invoices()
        .settle_invoice(invoicesrpc::SettleInvoiceMsg {
            preimage: hold.preimage.to_vec(),
        })
        .await
        .expect_err("canceled");
    assert_eq!(err.message(), "invoice already canceled");
    net.shutdown().await;
}

#[tokio::test]
async fn settling_an_unpaid_hold_invoice_is_refused() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let hold = add_hold_invoice(&mut broker, 3).await;
    let err = broker
        .invoices()
        .settle_invoice(invoicesrpc::SettleInvoiceMsg {
            preimage: hold.preimage.to_vec(),
        })
        .await
        .expect_err("still open");
    assert_eq!(err.code(), tonic::Code::Unknown);
    assert_eq!(err.message(), "invoice still open");

    let err = broker
        .invoices()
        .add_hold_invoice(invoicesrpc::AddHoldInvoiceRequest {
            hash: hold.hash.clone(),
            value_msat: 1,
            ..Default::default()
        })
        .await
        .expect_err("duplicate hash");
    assert_eq!(err.message(), "invoice with payment hash already exists");
    net.shutdown().await;
}

#[tokio::test]
async fn track_payment_follows_a_held_payment_to_the_end() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let hold = add_hold_invoice(&mut broker, 11).await;
    let mut updates = subscribe(&mut broker, &hold.hash).await;
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Open));
    let payment = pay_in_background(&payer, &hold.payment_request);
    assert_eq!(next_state(&mut updates).await, Some(InvoiceState::Accepted));

    let mut track = payer
        .router()
        .track_payment_v2(lnd_grpc_rust::routerrpc::TrackPaymentRequest {
            payment_hash: hold.hash.clone(),
            no_inflight_updates: false,
        })
        .await
        .expect("TrackPaymentV2")
        .into_inner();
    let first = track.message().await.expect("ok").expect("update");
    assert_eq!(status_of(&first), PaymentStatus::InFlight);

    broker
        .invoices()
        .settle_invoice(invoicesrpc::SettleInvoiceMsg {
            preimage: hold.preimage.to_vec(),
        })
        .await
        .expect("SettleInvoice");
    let done = tokio::time::timeout(WAIT, track.message())
        .await
        .expect("bounded")
        .expect("ok")
        .expect("update");
    assert_eq!(status_of(&done), PaymentStatus::Succeeded);
    tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task");
    net.shutdown().await;
}
