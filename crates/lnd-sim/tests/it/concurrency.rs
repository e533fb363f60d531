//! Many payments at once: every satoshi is accounted for and an invoice is
//! never paid twice.

use crate::common;

use common::{TestNet, add_invoice, connect, local_balance_msat, lookup, pay, state_of, status_of};
use lnd_grpc_rust::lnrpc::{self, invoice::InvoiceState, payment::PaymentStatus};

const PAYMENTS: i64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_conserve_balances() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let payer = connect(&net.payer).await;

    let mut invoices = Vec::new();
    for i in 1..=PAYMENTS {
        invoices.push(add_invoice(&mut broker, i * 1_000, &format!("part {i}")).await);
    }
    let tasks: Vec<_> = invoices
        .iter()
        .map(|invoice| {
            let mut payer = payer.clone();
            let request = invoice.payment_request.clone();
            tokio::spawn(async move { pay(&mut payer, &request).await })
        })
        .collect();
    for task in tasks {
        let updates = task.await.expect("task").expect("payment stream");
        assert_eq!(
            status_of(updates.last().expect("update")),
            PaymentStatus::Succeeded
        );
    }

    let total: u64 = (1..=PAYMENTS as u64).map(|i| i * 1_000).sum();
    let mut payer = payer;
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - total
    );
    assert_eq!(local_balance_msat(&mut broker).await, total);
    let listed = broker
        .lightning()
        .list_invoices(lnrpc::ListInvoiceRequest::default())
        .await
        .expect("ListInvoices")
        .into_inner();
    assert_eq!(listed.invoices.len(), invoices.len());
    assert!(
        listed
            .invoices
            .iter()
            .all(|i| state_of(i) == InvoiceState::Settled)
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_payers_settle_an_invoice_once() {
    let net = TestNet::start().await;
    let mut broker = connect(&net.broker).await;
    let payer = connect(&net.payer).await;
    let invoice = add_invoice(&mut broker, 9_000, "contested").await;

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut payer = payer.clone();
            let request = invoice.payment_request.clone();
            tokio::spawn(async move { pay(&mut payer, &request).await })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(updates) => {
                if status_of(updates.last().expect("update")) == PaymentStatus::Succeeded {
                    succeeded += 1;
                }
            }
            // "invoice is already paid" / "payment is in transition".
            Err(status) => assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(succeeded, 1);
    let mut payer = payer;
    assert_eq!(
        local_balance_msat(&mut payer).await,
        common::PAYER_BALANCE_MSAT - 9_000
    );
    assert_eq!(
        lookup(&mut broker, &invoice.r_hash).await.amt_paid_msat,
        9_000
    );
    net.shutdown().await;
}
