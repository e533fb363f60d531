//! Fault injection: a node that is down, slow, or whose payments fail.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    TestNet, WAIT, add_invoice, connect, local_balance_msat, lookup, pay, state_of, status_of,
};
use lnd_grpc_rust::lnrpc::{
    self, PaymentFailureReason, invoice::InvoiceState, payment::PaymentStatus,
};
use shardgate_lnd_sim::{FaultConfig, PaymentFailure};

#[tokio::test]
async fn down_node_refuses_calls_and_comes_back() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let added = add_invoice(&mut broker, 1_000, "before outage").await;

    net.broker.set_down(true).await.expect("down");
    // An existing client's next call fails, and so does a fresh one.
    let err = broker
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("node is down");
    assert_ne!(err.code(), tonic::Code::Ok);
    let mut fresh = connect(&net.broker).await;
    fresh
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("connection refused");

    // Paying a down node fails without moving funds.
    let mut payer = connect(&net.payer).await;
    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("stream");
    let last = updates.last().expect("update");
    assert_eq!(status_of(last), PaymentStatus::Failed);
    assert_eq!(
        last.failure_reason,
        PaymentFailureReason::FailureReasonNoRoute as i32
    );
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT
    );

    // Back up on the same port, with the same cert and macaroon on disk, and
    // the invoice is still there and payable.
    net.broker.set_down(false).await.expect("up");
    let mut again = connect(&net.broker).await;
    assert_eq!(
        state_of(&lookup(&mut again, &added.r_hash).await),
        InvoiceState::Open
    );
    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("retry");
    assert_eq!(
        status_of(updates.last().expect("update")),
        PaymentStatus::Succeeded
    );
    net.shutdown().await;
}

#[tokio::test]
async fn subscriptions_end_when_the_node_goes_down() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let added = add_invoice(&mut broker, 1_000, "watched").await;
    let mut stream = broker
        .invoices()
        .subscribe_single_invoice(lnd_grpc_rust::invoicesrpc::SubscribeSingleInvoiceRequest {
            r_hash: added.r_hash.clone(),
        })
        .await
        .expect("subscribe")
        .into_inner();
    stream.message().await.expect("ok").expect("current state");

    // set_down must not hang on the open stream (graceful stop is bounded).
    tokio::time::timeout(WAIT, net.broker.set_down(true))
        .await
        .expect("stops promptly")
        .expect("down");
    let ended = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("bounded");
    assert!(!matches!(ended, Ok(Some(_))), "no more updates: {ended:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn slow_node_adds_latency_to_every_call() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    // Warm the connection so the measurement is the RPC, not the handshake.
    broker
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("GetInfo");

    let latency = Duration::from_millis(300);
    net.broker.set_faults(FaultConfig {
        latency,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    broker
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("slow GetInfo");
    let slow = started.elapsed();
    assert!(slow >= latency, "took {slow:?}");
    assert!(slow < latency + Duration::from_secs(5), "took {slow:?}");

    net.broker.set_faults(FaultConfig::default());
    let started = Instant::now();
    broker
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("fast GetInfo");
    assert!(started.elapsed() < latency, "took {:?}", started.elapsed());
    net.shutdown().await;
}

#[tokio::test]
async fn injected_payment_failure_reaches_the_payer() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let mut payer = connect(&net.payer).await;
    net.payer.set_faults(FaultConfig {
        payment_failure: Some(PaymentFailure::Timeout),
        ..FaultConfig::default()
    });
    let added = add_invoice(&mut broker, 2_000, "flaky").await;
    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("stream");
    let last = updates.last().expect("update");
    assert_eq!(status_of(last), PaymentStatus::Failed);
    assert_eq!(
        last.failure_reason,
        PaymentFailureReason::FailureReasonTimeout as i32
    );
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT
    );
    assert_eq!(
        state_of(&lookup(&mut broker, &added.r_hash).await),
        InvoiceState::Open
    );

    // A failed payment may be retried once the fault clears.
    net.payer.set_faults(FaultConfig::default());
    let updates = pay(&mut payer, &added.payment_request)
        .await
        .expect("retry");
    assert_eq!(
        status_of(updates.last().expect("update")),
        PaymentStatus::Succeeded
    );
    net.shutdown().await;
}

#[tokio::test]
async fn shut_down_node_is_unreachable() {
    let net = TestNet::start().await;
    let socket = net.broker.grpc_socket();
    let cert = net.broker.tls_cert_hex();
    let macaroon = net.broker.macaroon_hex();
    let TestNet {
        broker,
        payer,
        network,
        ..
    } = net;
    broker.shutdown().await.expect("stops");
    assert_eq!(network.node_pubkeys(), vec![payer.pubkey().to_string()]);

    // The listener is gone with the server task: the port can be taken again.
    let rebound = tokio::net::TcpListener::bind(&socket).await;
    assert!(rebound.is_ok(), "port still held: {rebound:?}");
    drop(rebound);

    let mut client = common::connect_with(cert, macaroon, socket).await;
    client
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("nothing listens any more");
    payer.shutdown().await.expect("stops");
}
