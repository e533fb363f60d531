//! Shared test setup: a network with a broker node and a funded payer node,
//! and clients that connect exactly as to a real LND (files on disk → hex →
//! `lnd_grpc_rust::connect`).
#![allow(dead_code)]

use std::time::Duration;

use lnd_grpc_rust::LndClient;
use lnd_grpc_rust::lnrpc;
use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};
use tempfile::TempDir;

/// Payer funding used by most tests: 1,000,000 sat.
pub(crate) const PAYER_BALANCE_MSAT: u64 = 1_000_000_000;
/// Upper bound on any single wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct TestNet {
    pub network: SimNetwork,
    pub broker: SimNode,
    pub payer: SimNode,
    _dir: TempDir,
}

impl TestNet {
    pub(crate) async fn start() -> TestNet {
        Self::with_payer_balance(PAYER_BALANCE_MSAT).await
    }

    pub(crate) async fn with_payer_balance(balance_msat: u64) -> TestNet {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let broker = SimNode::start(
            &network,
            SimNodeConfig::new("broker", dir.path().join("broker")),
        )
        .await
        .expect("broker starts");
        let payer = SimNode::start(
            &network,
            SimNodeConfig::new("payer", dir.path().join("payer")).with_balance_msat(balance_msat),
        )
        .await
        .expect("payer starts");
        TestNet {
            network,
            broker,
            payer,
            _dir: dir,
        }
    }

    pub(crate) async fn shutdown(self) {
        self.payer.shutdown().await.expect("payer stops");
        self.broker.shutdown().await.expect("broker stops");
    }
}

/// Connects like an operator would: read `tls.cert` and `admin.macaroon`
/// from the node's directory and hand their hex to `lnd_grpc_rust::connect`.
pub(crate) async fn connect(node: &SimNode) -> LndClient {
    let cert = hex::encode(std::fs::read(node.tls_cert_path()).expect("tls.cert readable"));
    let macaroon = hex::encode(std::fs::read(node.macaroon_path()).expect("macaroon readable"));
    connect_with(cert, macaroon, node.grpc_socket()).await
}

pub(crate) async fn connect_with(cert: String, macaroon: String, socket: String) -> LndClient {
    // The error type is Box<dyn Error> (not Send): turn it into a String
    // before anything else is awaited.
    let connected = lnd_grpc_rust::connect(cert, macaroon, socket)
        .await
        .map_err(|e| e.to_string());
    connected.expect("lnd_grpc_rust::connect")
}

pub(crate) async fn add_invoice(
    client: &mut LndClient,
    value_msat: i64,
    memo: &str,
) -> lnrpc::AddInvoiceResponse {
    client
        .lightning()
        .add_invoice(lnrpc::Invoice {
            memo: memo.to_string(),
            value_msat,
            ..Default::default()
        })
        .await
        .expect("AddInvoice")
        .into_inner()
}

pub(crate) async fn lookup(client: &mut LndClient, r_hash: &[u8]) -> lnrpc::Invoice {
    client
        .lightning()
        .lookup_invoice(lnrpc::PaymentHash {
            r_hash: r_hash.to_vec(),
            ..Default::default()
        })
        .await
        .expect("LookupInvoice")
        .into_inner()
}

pub(crate) async fn local_balance_msat(client: &mut LndClient) -> u64 {
    let balance = client
        .lightning()
        .channel_balance(lnrpc::ChannelBalanceRequest {})
        .await
        .expect("ChannelBalance")
        .into_inner();
    balance.local_balance.expect("local_balance set").msat
}

/// Sends with SendPaymentV2 and collects every update until the stream ends.
pub(crate) async fn pay(
    client: &mut LndClient,
    payment_request: &str,
) -> Result<Vec<lnrpc::Payment>, tonic::Status> {
    let request = lnd_grpc_rust::routerrpc::SendPaymentRequest {
        payment_request: payment_request.to_string(),
        timeout_seconds: 30,
        fee_limit_sat: 10,
        ..Default::default()
    };
    let mut stream = client.router().send_payment_v2(request).await?.into_inner();
    let mut updates = Vec::new();
    while let Some(update) = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("payment update within bound")?
    {
        updates.push(update);
    }
    Ok(updates)
}

pub(crate) fn status_of(payment: &lnrpc::Payment) -> lnrpc::payment::PaymentStatus {
    lnrpc::payment::PaymentStatus::try_from(payment.status).expect("known status")
}

pub(crate) fn state_of(invoice: &lnrpc::Invoice) -> lnrpc::invoice::InvoiceState {
    lnrpc::invoice::InvoiceState::try_from(invoice.state).expect("known state")
}

/// A SendPaymentV2 request for `payment_request` with the fee limit given
/// in msat (0 = LND's default: zero-fee routes only).
pub(crate) fn send_request(
    payment_request: &str,
    fee_limit_msat: i64,
) -> lnd_grpc_rust::routerrpc::SendPaymentRequest {
    lnd_grpc_rust::routerrpc::SendPaymentRequest {
        payment_request: payment_request.to_string(),
        timeout_seconds: 30,
        fee_limit_msat,
        ..Default::default()
    }
}

/// Sends `request` and collects every update until the stream ends.
pub(crate) async fn pay_with(
    client: &mut LndClient,
    request: lnd_grpc_rust::routerrpc::SendPaymentRequest,
) -> Result<Vec<lnrpc::Payment>, tonic::Status> {
    let stream = client.router().send_payment_v2(request).await?.into_inner();
    collect(stream).await
}

/// Every remaining update of a payment stream, each within `WAIT`.
pub(crate) async fn collect(
    mut stream: tonic::Streaming<lnrpc::Payment>,
) -> Result<Vec<lnrpc::Payment>, tonic::Status> {
    let mut updates = Vec::new();
    while let Some(update) = next_update(&mut stream).await? {
        updates.push(update);
    }
    Ok(updates)
}

/// The next update of a payment stream, within `WAIT`.
pub(crate) async fn next_update(
    stream: &mut tonic::Streaming<lnrpc::Payment>,
) -> Result<Option<lnrpc::Payment>, tonic::Status> {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("payment update within bound")
}

/// Opens TrackPaymentV2 for `payment_hash`, with in-flight updates.
pub(crate) async fn track(
    client: &mut LndClient,
    payment_hash: &[u8],
) -> tonic::Streaming<lnrpc::Payment> {
    client
        .router()
        .track_payment_v2(lnd_grpc_rust::routerrpc::TrackPaymentRequest {
            payment_hash: payment_hash.to_vec(),
            no_inflight_updates: false,
        })
        .await
        .expect("TrackPaymentV2")
        .into_inner()
}

/// `(local, unsettled local)` of ChannelBalance, msat.
pub(crate) async fn balances_msat(client: &mut LndClient) -> (u64, u64) {
    let balance = client
        .lightning()
        .channel_balance(lnrpc::ChannelBalanceRequest {})
        .await
        .expect("ChannelBalance")
        .into_inner();
    (
        balance.local_balance.expect("local_balance set").msat,
        balance
            .unsettled_local_balance
            .expect("unsettled_local_balance set")
            .msat,
    )
}
