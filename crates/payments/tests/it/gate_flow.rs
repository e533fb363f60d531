//! The whole download-payment flow as the broker will run it, through this
//! crate's public API only: price → invoice → token + challenge → payer pays
//! → parse `authorization` → verify → LookupInvoice → check → split.

use crate::common;

use common::{EXPIRY, TestNet, WAIT};
use shardgate_core::{ContentId, MasterKey};
use shardgate_payments::l402::header::authorization;
use shardgate_payments::{
    AccessRequest, AccountKind, InvoiceState, L402Keys, MIB, PaidRange, PaymentErrorKind,
    PaymentProof, Price, PricingLimits, SplitConfig, TokenClaims, TokenId, check_payment,
    parse_authorization, www_authenticate,
};

const NOW: u64 = 1_900_000_000;

fn blob() -> ContentId {
    ContentId::of(b"a blob manifest")
}

#[tokio::test]
async fn paid_range_download_is_checked_then_split() {
    let net = TestNet::start().await;
    let keys = L402Keys::from_master(&MasterKey::from_bytes([7; 32]));
    let limits = PricingLimits::default();
    let price = Price::new(1_000, 2_000, &limits).expect("owner price in bounds");
    let paid = PaidRange {
        offset: MIB,
        length: 3 * MIB,
    };
    let uses = limits.resolve_uses(2, false).expect("uses");
    let amount = price
        .invoice_amount_msat(paid.length, uses, &limits)
        .expect("amount");
    assert_eq!(amount, 2 * (1_000 + 3 * 2_000));

    let invoice = net
        .broker
        .add_invoice(amount, "shardgate download", EXPIRY)
        .await
        .expect("AddInvoice");
    let token = keys
        .mint(&TokenClaims {
            payment_hash: invoice.payment_hash,
            blob: blob(),
            range: paid,
            expires_at_unix: NOW + 3600,
            uses,
            share: None,
        })
        .expect("mint");
    let challenge = www_authenticate(&token, &invoice.payment_request).expect("challenge");
    assert!(challenge.starts_with("L402 macaroon=\""));

    let request = AccessRequest {
        blob: blob(),
        range: PaidRange {
            offset: 2 * MIB,
            length: MIB,
        },
        now_unix: NOW,
        share: None,
    };
    // Before payment: the credential verifies but the invoice is OPEN.
    let unpaid = parse_authorization(&authorization(&token, None)).expect("parses");
    let verified = keys.verify(&unpaid, &request).expect("token is genuine");
    let status = net
        .broker
        .lookup_invoice(&verified.payment_hash)
        .await
        .expect("lookup");
    let err = check_payment(verified.proof, &status, amount, NOW).expect_err("unpaid");
    assert_eq!(err.kind(), PaymentErrorKind::FailedPrecondition);

    let preimage = net
        .payer
        .pay_invoice(&invoice.payment_request, 1_000, WAIT)
        .await
        .expect("paid");
    let credential = parse_authorization(&authorization(&token, Some(&preimage))).expect("parses");
    let verified = keys.verify(&credential, &request).expect("valid");
    assert_eq!(verified.proof, PaymentProof::Preimage);
    assert_eq!(verified.max_uses, 2);
    let status = net
        .broker
        .lookup_invoice(&verified.payment_hash)
        .await
        .expect("lookup");
    let grant = check_payment(verified.proof, &status, amount, NOW).expect("serve");
    assert!(!grant.settle_on_delivery);

    let split = SplitConfig::default()
        .split(status.amt_paid_msat, "tenant-a", [("s3", 2), ("gcs", 1)])
        .expect("split");
    let postings = split.postings();
    let credited: u64 = postings
        .iter()
        .filter(|p| p.account.kind != AccountKind::Lightning)
        .map(|p| p.amount_msat)
        .sum();
    assert_eq!(credited, amount, "every msat is accounted for");
    net.shutdown().await;
}

#[tokio::test]
async fn hold_download_is_served_on_accept_and_settled_after_delivery() {
    let net = TestNet::start().await;
    let keys = L402Keys::from_master(&MasterKey::from_bytes([8; 32]));
    let token_id = TokenId::random();
    let preimage = keys.hold_preimage(&token_id);
    let hash = preimage.payment_hash();
    let invoice = net
        .broker
        .add_hold_invoice(&hash, 10_000, "hold download", EXPIRY)
        .await
        .expect("AddHoldInvoice");
    let range = PaidRange {
        offset: 0,
        length: 4096,
    };
    let token = keys
        .mint_with_id(
            &TokenClaims {
                payment_hash: hash,
                blob: blob(),
                range,
                expires_at_unix: NOW + 60,
                uses: 1,
                share: None,
            },
            token_id,
        )
        .expect("mint");

    let payer = net.payer.clone();
    let request_str = invoice.payment_request.clone();
    let payment = tokio::spawn(async move { payer.pay_invoice(&request_str, 1_000, WAIT).await });
    let mut updates = net
        .broker
        .subscribe_single_invoice(&hash)
        .await
        .expect("subscribe");
    loop {
        let update = tokio::time::timeout(WAIT, updates.next())
            .await
            .expect("bounded")
            .expect("stream")
            .expect("not final yet");
        if update.state == InvoiceState::Accepted {
            break;
        }
    }

    // The payer does not know the preimage yet: empty preimage.
    let credential = parse_authorization(&authorization(&token, None)).expect("parses");
    let access = AccessRequest {
        blob: blob(),
        range,
        now_unix: NOW,
        share: None,
    };
    let verified = keys.verify(&credential, &access).expect("valid");
    assert_eq!(verified.proof, PaymentProof::AwaitingHoldSettlement);
    let status = net.broker.lookup_invoice(&hash).await.expect("lookup");
    let grant = check_payment(verified.proof, &status, 10_000, NOW).expect("serve");
    assert!(grant.settle_on_delivery);

    // … the broker streams the data, then settles with the derived preimage.
    let settle_with = keys.hold_preimage(&verified.token_id);
    net.broker
        .settle_invoice(&settle_with)
        .await
        .expect("settle");
    let learned = tokio::time::timeout(WAIT, payment)
        .await
        .expect("bounded")
        .expect("task")
        .expect("paid");
    assert_eq!(learned, preimage);
    assert!(
        net.broker
            .lookup_invoice(&hash)
            .await
            .expect("lookup")
            .is_settled_for(10_000)
    );
    net.shutdown().await;
}
