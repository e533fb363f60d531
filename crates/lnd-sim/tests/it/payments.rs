//! A payer node pays the broker node's invoices through SendPaymentV2.

use crate::common;

use std::time::Duration;

use common::{TestNet, add_invoice, connect, local_balance_msat, lookup, pay, state_of, status_of};
use lnd_grpc_rust::lnrpc::{
    self, PaymentFailureReason, invoice::InvoiceState, payment::PaymentStatus,
};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn paid_invoice_settles_and_moves_the_money() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let payer_before = local_balance_msat(&mut payer).await;
    let broker_before = local_balance_msat(&mut broker).await;
    assert_eq!(payer_before, common::PAYER_BALANCE_MSAT);

    let added = add_invoice(&mut broker, 42_000, "chunk range 0-4MiB").await;
    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("payment runs");

    let last = updates.last().expect("at least one update");
    assert_eq!(
        status_of(&updates[0]),
        PaymentStatus::InFlight,
        "{updates:?}"
    );
    assert_eq!(status_of(last), PaymentStatus::Succeeded, "{updates:?}");
    assert_eq!(last.value_msat, 42_000);
    assert_eq!(last.payment_hash, hex::encode(&added.r_hash));
    let preimage = hex::decode(&last.payment_preimage).expect("hex preimage");
    let hash: [u8; 32] = Sha256::digest(&preimage).into();
    assert_eq!(
        hash.as_slice(),
        added.r_hash.as_slice(),
        "preimage proves payment"
    );

    let invoice = lookup(&mut broker, &added.r_hash).await;
    assert_eq!(state_of(&invoice), InvoiceState::Settled);
    assert_eq!(invoice.amt_paid_msat, 42_000);
    assert_eq!(invoice.amt_paid_sat, 42);
    assert!(invoice.settle_date >= invoice.creation_date);
    assert_eq!(invoice.settle_index, 1);

    assert_eq!(local_balance_msat(&mut payer).await, payer_before - 42_000);
    assert_eq!(
        local_balance_msat(&mut broker).await,
        broker_before + 42_000
    );
    net.shutdown().await;
}

#[tokio::test]
async fn paying_twice_is_refused_like_lnd() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, 5_000, "once").await;
    pay(&mut payer, &added.payment_request)
        .await
        .expect("first payment");

    let err = pay(&mut payer, &added.payment_request)
        .await
        .expect_err("second payment refused");
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    assert_eq!(err.message(), "invoice is already paid");
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - 5_000,
        "charged once"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn insufficient_balance_fails_the_payment_and_keeps_the_invoice_open() {
    let net = TestNet::with_payer_balance(10_000).await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, 10_001, "too expensive").await;

    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("stream runs");
    let last = updates.last().expect("an update");
    assert_eq!(status_of(last), PaymentStatus::Failed);
    assert_eq!(
        last.failure_reason,
        PaymentFailureReason::FailureReasonInsufficientBalance as i32
    );
    assert_eq!(local_balance_msat(&mut payer).await, 10_000);
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Open
    );
    net.shutdown().await;
}

#[tokio::test]
async fn expired_invoice_cannot_be_paid() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = broker
        .lightning()
        .add_invoice(lnrpc::Invoice {
            value_msat: 7_000,
            expiry: 60,
            ..Default::default()
        })
        .await
        .expect("AddInvoice")
        .into_inner();

    // Simulated time, not a sleep: the whole network is now 61 s later.
    net.network.advance_time(Duration::from_secs(61));

    let err = pay(&mut payer, &added.payment_request)
        .await
        .expect_err("expired");
    assert_eq!(err.code(), tonic::Code::Unknown);
    assert!(
        err.message().starts_with("invoice expired. Valid until ")
            && err.message().ends_with(" +0000 UTC"),
        "{}",
        err.message()
    );
    // LND's expiry watcher cancels the open invoice.
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Canceled
    );
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT
    );
    net.shutdown().await;
}

#[tokio::test]
async fn zero_amount_invoice_needs_an_amount_and_records_what_was_paid() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    let added = add_invoice(&mut broker, 0, "tip").await;
    assert!(
        added.payment_request.starts_with("lnbcrt1"),
        "no amount in hrp"
    );

    let err = pay(&mut payer, &added.payment_request)
        .await
        .expect_err("amount required");
    assert_eq!(
        err.message(),
        "amount must be specified when paying a zero amount invoice"
    );

    let request = lnd_grpc_rust::routerrpc::SendPaymentRequest {
        payment_request: added.payment_request.clone(),
        amt_msat: 3_000,
        timeout_seconds: 30,
        no_inflight_updates: true,
        ..Default::default()
    };
    let mut stream = payer
        .router()
        .send_payment_v2(request)
        .await
        .expect("SendPaymentV2")
        .into_inner();
    let only = stream.message().await.expect("update").expect("one update");
    assert_eq!(
        status_of(&only),
        PaymentStatus::Succeeded,
        "no in-flight update"
    );
    assert_eq!(
        lookup(&mut broker, &added.r_hash).await.amt_paid_msat,
        3_000
    );
    net.shutdown().await;
}

#[tokio::test]
async fn invoices_of_other_networks_or_forged_ones_are_refused() {
    let net = TestNet::start().await;
    let mut payer = connect(&net.payer).await;
    // The BOLT 11 specification's first test vector: a valid mainnet invoice.
    let mainnet = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";
    let request = lnd_grpc_rust::routerrpc::SendPaymentRequest {
        payment_request: mainnet.to_string(),
        amt: 10,
        timeout_seconds: 30,
        ..Default::default()
    };
    let err = payer
        .router()
        .send_payment_v2(request)
        .await
        .expect_err("wrong network");
    assert_eq!(err.code(), tonic::Code::Unknown);
    assert_eq!(
        err.message(),
        "invoice not for current active network 'regtest'"
    );

    let err = pay(&mut payer, "lnbcrt1garbage")
        .await
        .expect_err("not an invoice");
    assert_eq!(err.code(), tonic::Code::Unknown);
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT
    );
    net.shutdown().await;
}
