//! Invoices through [`LightningNode`] against a simulated LND over TLS:
//! create → OPEN → paid → SETTLED; cancel; unknown invoices.

use crate::common;

use common::{EXPIRY, PAYER_BALANCE_MSAT, TestNet, WAIT};
use shardgate_payments::{InvoiceState, PaymentError, PaymentErrorKind, PaymentHash};

#[tokio::test]
async fn paid_invoice_is_settled_with_its_amount() {
    let net = TestNet::start().await;
    let info = net.broker.get_info().await.expect("GetInfo");
    assert_eq!(info.alias, "broker");

    let invoice = net
        .broker
        .add_invoice(64_000, "download", EXPIRY)
        .await
        .expect("AddInvoice");
    assert!(invoice.payment_request.starts_with("lnbcrt"));
    let open = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect("LookupInvoice");
    assert_eq!(open.state, InvoiceState::Open);
    assert_eq!((open.value_msat, open.amt_paid_msat), (64_000, 0));
    assert_eq!(open.memo, "download");
    assert!(!open.is_settled_for(64_000));

    let preimage = net
        .payer
        .pay_invoice(&invoice.payment_request, 1_000, WAIT)
        .await
        .expect("payment succeeds");
    assert_eq!(preimage.payment_hash(), invoice.payment_hash);

    let settled = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect("LookupInvoice");
    assert_eq!(settled.state, InvoiceState::Settled);
    assert_eq!(settled.amt_paid_msat, 64_000);
    assert!(settled.is_settled_for(64_000));
    assert!(
        !settled.is_settled_for(64_001),
        "less than the price is not enough"
    );
    assert_eq!(settled.preimage.as_ref(), Some(&preimage));
    assert!(settled.settle_unix.is_some());
    let wallet = net.payer.channel_balance().await.expect("balance");
    assert_eq!(wallet.local_msat, PAYER_BALANCE_MSAT - 64_000);

    // Paying twice is refused by the node, not silently charged.
    let again = net
        .payer
        .pay_invoice(&invoice.payment_request, 1_000, WAIT)
        .await
        .expect_err("already paid");
    assert_eq!(again.kind(), PaymentErrorKind::Rejected, "{again}");
    net.shutdown().await;
}

#[tokio::test]
async fn canceled_invoice_cannot_be_paid() {
    let net = TestNet::start().await;
    let invoice = net
        .broker
        .add_invoice(5_000, "to cancel", EXPIRY)
        .await
        .expect("AddInvoice");
    net.broker
        .cancel_invoice(&invoice.payment_hash)
        .await
        .expect("CancelInvoice");
    let canceled = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect("LookupInvoice");
    assert_eq!(canceled.state, InvoiceState::Canceled);
    let err = net
        .payer
        .pay_invoice(&invoice.payment_request, 1_000, WAIT)
        .await
        .expect_err("canceled");
    assert!(matches!(err, PaymentError::PaymentFailed { .. }), "{err}");
    let wallet = net.payer.channel_balance().await.expect("balance");
    assert_eq!(wallet.local_msat, PAYER_BALANCE_MSAT, "no funds moved");
    net.shutdown().await;
}

#[tokio::test]
async fn unpaid_invoice_expires_as_canceled() {
    let net = TestNet::start().await;
    let invoice = net
        .broker
        .add_invoice(5_000, "expires", std::time::Duration::from_secs(60))
        .await
        .expect("AddInvoice");
    net.network.advance_time(std::time::Duration::from_secs(61));
    let status = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect("LookupInvoice");
    assert_eq!(status.state, InvoiceState::Canceled);
    assert!(status.is_expired(net.network.now_unix()));
    net.shutdown().await;
}

#[tokio::test]
async fn unknown_invoice_is_not_found() {
    let net = TestNet::start().await;
    let unknown = PaymentHash([0x5a; 32]);
    for err in [
        net.broker
            .lookup_invoice(&unknown)
            .await
            .expect_err("unknown"),
        net.broker
            .cancel_invoice(&unknown)
            .await
            .expect_err("unknown"),
    ] {
        assert_eq!(err.kind(), PaymentErrorKind::NotFound, "{err}");
    }
    // Once the node has invoices, the answer is the same.
    net.broker
        .add_invoice(1_000, "other", EXPIRY)
        .await
        .expect("AddInvoice");
    let err = net
        .broker
        .lookup_invoice(&unknown)
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, PaymentError::InvoiceNotFound { ref payment_hash } if *payment_hash == unknown.to_hex()),
        "{err}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn invalid_invoice_arguments_are_refused_before_any_call() {
    let net = TestNet::start().await;
    for result in [
        net.broker.add_invoice(0, "zero", EXPIRY).await,
        net.broker
            .add_invoice(u64::MAX, "too big for int64", EXPIRY)
            .await,
        net.broker.add_invoice(1, &"m".repeat(640), EXPIRY).await,
        net.broker
            .add_invoice(1, "no expiry", std::time::Duration::ZERO)
            .await,
    ] {
        let err = result.expect_err("invalid");
        assert_eq!(err.kind(), PaymentErrorKind::InvalidArgument, "{err}");
    }
    net.shutdown().await;
}
