//! The macaroon and TLS checks, answered the way LND answers them.

use crate::common;

use common::{TestNet, connect, connect_with};
use lnd_grpc_rust::MyChannel;
use lnd_grpc_rust::lnrpc::{self, lightning_client::LightningClient};
use tonic::Code;
use tonic::metadata::MetadataValue;

async fn channel_to(node: &shardgate_lnd_sim::SimNode) -> MyChannel {
    let uri = node.grpc_endpoint().parse().expect("uri");
    let channel = MyChannel::new(Some(node.tls_cert_pem().as_bytes().to_vec()), uri)
        .await
        .map_err(|e| e.to_string());
    channel.expect("channel")
}

async fn get_info_error(client: &mut lnd_grpc_rust::LndClient) -> tonic::Status {
    client
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("must be refused")
}

#[tokio::test]
async fn missing_macaroon_is_refused() {
    let net = TestNet::start().await;
    let mut bare = LightningClient::new(channel_to(&net.broker).await);
    let err = bare
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("no macaroon");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "expected 1 macaroon, got 0");
    net.shutdown().await;
}

#[tokio::test]
async fn duplicate_macaroon_is_refused() {
    let net = TestNet::start().await;
    let mac = net.broker.macaroon_hex();
    let mut doubled = LightningClient::with_interceptor(
        channel_to(&net.broker).await,
        move |mut request: tonic::Request<()>| {
            for _ in 0..2 {
                let value = MetadataValue::try_from(mac.as_str()).expect("ascii");
                request.metadata_mut().append("macaroon", value);
            }
            Ok(request)
        },
    );
    let err = doubled
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect_err("two macaroons");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "expected 1 macaroon, got 2");
    net.shutdown().await;
}

#[tokio::test]
async fn another_nodes_macaroon_is_refused() {
    let net = TestNet::start().await;
    let mut client = connect_with(
        net.broker.tls_cert_hex(),
        net.payer.macaroon_hex(),
        net.broker.grpc_socket(),
    )
    .await;
    let err = get_info_error(&mut client).await;
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(
        err.message(),
        "verification failed: signature mismatch after caveat verification"
    );
    // Every service is guarded, not only lnrpc.Lightning.
    let err = client
        .invoices()
        .cancel_invoice(lnd_grpc_rust::invoicesrpc::CancelInvoiceMsg {
            payment_hash: vec![0; 32],
        })
        .await
        .expect_err("invoices guarded");
    assert_eq!(err.code(), Code::Unknown);
    net.shutdown().await;
}

#[tokio::test]
async fn non_hex_macaroon_gets_gos_hex_error() {
    let net = TestNet::start().await;
    let mut client = connect_with(
        net.broker.tls_cert_hex(),
        "not-hex".to_string(),
        net.broker.grpc_socket(),
    )
    .await;
    let err = get_info_error(&mut client).await;
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "encoding/hex: invalid byte: U+006E 'n'");
    net.shutdown().await;
}

#[tokio::test]
async fn wrong_certificate_fails_the_tls_handshake() {
    let net = TestNet::start().await;
    // The payer's certificate does not vouch for the broker's server.
    let mut client = connect_with(
        net.payer.tls_cert_hex(),
        net.broker.macaroon_hex(),
        net.broker.grpc_socket(),
    )
    .await;
    let err = get_info_error(&mut client).await;
    assert_ne!(err.code(), Code::Ok);
    // With the right certificate the same macaroon works.
    let mut good = connect(&net.broker).await;
    good.lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("GetInfo with matching cert");
    net.shutdown().await;
}
