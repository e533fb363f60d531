//! GetInfo and the invoice lifecycle as seen through `lnd_grpc_rust`.

use crate::common;

use common::{TestNet, add_invoice, connect, lookup, state_of};
use lnd_grpc_rust::lnrpc::{self, invoice::InvoiceState};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn get_info_reports_identity_and_regtest_chain() {
    let net = TestNet::start().await;
    let mut client = connect(&net.broker).await;

    let info = client
        .lightning()
        .get_info(lnrpc::GetInfoRequest {})
        .await
        .expect("GetInfo")
        .into_inner();

    assert_eq!(info.identity_pubkey, net.broker.pubkey());
    assert_eq!(info.identity_pubkey.len(), 66, "33-byte key in hex");
    assert_eq!(info.alias, "broker");
    assert!(info.synced_to_chain);
    assert_eq!(info.chains.len(), 1);
    assert_eq!(info.chains[0].network, "regtest");
    assert!(info.version.contains("beta"), "{}", info.version);
    assert_eq!(info.num_active_channels, 1, "one other node in the network");
    net.shutdown().await;
}

#[tokio::test]
async fn added_invoice_is_open_and_carries_a_decodable_request() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;

    let added = add_invoice(&mut broker, 25_000_000, "blob 1f2e").await;
    assert_eq!(added.r_hash.len(), 32);
    assert_eq!(added.payment_addr.len(), 32);
    assert_eq!(added.add_index, 1);
    // 25,000,000 msat = 250 micro-bitcoin.
    assert!(
        added.payment_request.starts_with("lnbcrt250u1"),
        "{}",
        added.payment_request
    );

    let invoice = lookup(&mut broker, &added.r_hash).await;
    assert_eq!(state_of(&invoice), InvoiceState::Open);
    assert_eq!(invoice.value_msat, 25_000_000);
    assert_eq!(invoice.value, 25_000);
    assert_eq!(invoice.memo, "blob 1f2e");
    assert_eq!(invoice.payment_request, added.payment_request);
    assert_eq!(invoice.amt_paid_msat, 0);
    assert_eq!(invoice.expiry, 86_400, "LND's default expiry");
    let preimage_hash: [u8; 32] = Sha256::digest(&invoice.r_preimage).into();
    assert_eq!(preimage_hash.as_slice(), added.r_hash.as_slice());

    // Another node decodes the request: the payee, hash and amount survive.
    let mut payer = connect(&net.payer).await;
    let decoded = payer
        .lightning()
        .decode_pay_req(lnrpc::PayReqString {
            pay_req: added.payment_request.clone(),
        })
        .await
        .expect("DecodePayReq")
        .into_inner();
    assert_eq!(decoded.destination, net.broker.pubkey());
    assert_eq!(decoded.payment_hash, hex::encode(&added.r_hash));
    assert_eq!(decoded.num_msat, 25_000_000);
    assert_eq!(decoded.description, "blob 1f2e");
    assert_eq!(decoded.expiry, 86_400);
    assert_eq!(decoded.payment_addr, added.payment_addr);

    // invoicesrpc.LookupInvoiceV2 finds it by payment address too.
    let by_addr = broker
        .invoices()
        .lookup_invoice_v2(lnd_grpc_rust::invoicesrpc::LookupInvoiceMsg {
            invoice_ref: Some(
                lnd_grpc_rust::invoicesrpc::lookup_invoice_msg::InvoiceRef::PaymentAddr(
                    added.payment_addr.clone(),
                ),
            ),
            ..Default::default()
        })
        .await
        .expect("LookupInvoiceV2")
        .into_inner();
    assert_eq!(by_addr.r_hash, added.r_hash);
    net.shutdown().await;
}

#[tokio::test]
async fn lookup_of_unknown_hash_is_not_found() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let err = broker
        .lightning()
        .lookup_invoice(lnrpc::PaymentHash {
            r_hash: vec![1; 32],
            ..Default::default()
        })
        .await
        .expect_err("no invoice");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "there are no existing invoices");

    add_invoice(&mut broker, 1_000, "one").await;
    let err = broker
        .lightning()
        .lookup_invoice(lnrpc::PaymentHash {
            r_hash: vec![1; 32],
            ..Default::default()
        })
        .await
        .expect_err("unknown hash");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "unable to locate invoice");

    let err = broker
        .lightning()
        .lookup_invoice(lnrpc::PaymentHash {
            r_hash: vec![1; 5],
            ..Default::default()
        })
        .await
        .expect_err("short hash");
    assert_eq!(err.code(), tonic::Code::Unknown);
    net.shutdown().await;
}

#[tokio::test]
async fn list_invoices_pages_by_add_index() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    for i in 1..=5 {
        add_invoice(&mut broker, 1_000 * i, &format!("inv {i}")).await;
    }
    let page = broker
        .lightning()
        .list_invoices(lnrpc::ListInvoiceRequest {
            index_offset: 2,
            num_max_invoices: 2,
            ..Default::default()
        })
        .await
        .expect("ListInvoices")
        .into_inner();
    let memos: Vec<_> = page.invoices.iter().map(|i| i.memo.as_str()).collect();
    assert_eq!(memos, ["inv 3", "inv 4"]);
    assert_eq!((page.first_index_offset, page.last_index_offset), (3, 4));

    let newest = broker
        .lightning()
        .list_invoices(lnrpc::ListInvoiceRequest {
            reversed: true,
            num_max_invoices: 2,
            ..Default::default()
        })
        .await
        .expect("ListInvoices reversed")
        .into_inner();
    let memos: Vec<_> = newest.invoices.iter().map(|i| i.memo.as_str()).collect();
    assert_eq!(memos, ["inv 4", "inv 5"]);
    net.shutdown().await;
}

#[tokio::test]
async fn invalid_invoice_requests_are_refused() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let err = broker
        .lightning()
        .add_invoice(lnrpc::Invoice {
            value: 1,
            value_msat: 1_000,
            ..Default::default()
        })
        .await
        .expect_err("both amounts");
    assert_eq!(err.message(), "value and value_msat are mutually exclusive");

    let err = broker
        .lightning()
        .add_invoice(lnrpc::Invoice {
            memo: "x".repeat(1025),
            ..Default::default()
        })
        .await
        .expect_err("memo too long");
    assert!(
        err.message().starts_with("memo too large"),
        "{}",
        err.message()
    );
    net.shutdown().await;
}

#[tokio::test]
async fn subscription_sees_an_open_invoice_expire() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let added = broker
        .lightning()
        .add_invoice(lnrpc::Invoice {
            value_msat: 1_000,
            expiry: 30,
            ..Default::default()
        })
        .await
        .expect("AddInvoice")
        .into_inner();
    let mut stream = broker
        .invoices()
        .subscribe_single_invoice(lnd_grpc_rust::invoicesrpc::SubscribeSingleInvoiceRequest {
            r_hash: added.r_hash.clone(),
        })
        .await
        .expect("SubscribeSingleInvoice")
        .into_inner();
    let first = stream.message().await.expect("ok").expect("current state");
    assert_eq!(state_of(&first), InvoiceState::Open);

    net.network.advance_time(std::time::Duration::from_secs(31));
    let next = tokio::time::timeout(common::WAIT, stream.message())
        .await
        .expect("bounded")
        .expect("ok")
        .expect("an update");
    assert_eq!(state_of(&next), InvoiceState::Canceled);
    let end = tokio::time::timeout(common::WAIT, stream.message())
        .await
        .expect("bounded")
        .expect("ok");
    assert!(end.is_none(), "stream ends after a final state");
    net.shutdown().await;
}
