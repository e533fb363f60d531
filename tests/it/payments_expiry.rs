//! Lifetimes through the real `shardgate` binary, with a broker whose
//! invoices expire after 3 s, credentials after 3 s and unused ACCEPTED hold
//! invoices after 1 s (its own file: these settings would disturb other
//! tests). All three clocks run during one shared wait:
//! * a paid credential works inside its lifetime and is refused after it
//!   (UNAUTHENTICATED, "expired", fresh challenge, no data), uses left or not;
//! * an unpaid invoice becomes EXPIRED and can no longer be paid;
//! * a paid hold invoice nobody downloads with is canceled by the broker
//!   and the payer gets the funds back; its credential is then refused.

use std::time::Duration;

use shardgate_proto::v1 as pb;
use shardgate_tests::lightning::{Challenge, PaidBroker, get_request};
use tonic::Code;

const LIFETIME_SECS: u64 = 3;
const FLAT: u64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_invoices_and_unused_hold_payments_expire() {
    let lifetime = LIFETIME_SECS.to_string();
    let paid = PaidBroker::start(
        &[
            ("invoice_expiry_secs", lifetime.as_str()),
            ("credential_ttl_secs", lifetime.as_str()),
            ("hold_accept_timeout_secs", "1"),
        ],
        "",
    )
    .await
    .expect("start");
    // GetLimits reports the configured lifetimes.
    let limits = paid.limits().await;
    let secs = |d: Option<prost_types::Duration>| d.map(|d| d.seconds);
    assert_eq!(secs(limits.invoice_expiry), Some(LIFETIME_SECS as i64));
    assert_eq!(secs(limits.credential_ttl), Some(LIFETIME_SECS as i64));
    assert_eq!(secs(limits.hold_accept_timeout), Some(1));
    let data = vec![5u8; 2_000];
    let blob = paid.upload("ttl", &data, (FLAT, 0), true).await;

    // A 3-use credential, used once at once.
    let mut request = get_request(&blob, None);
    request.uses = 3;
    let (bought, auth) = paid.buy(request, None).await;
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert!(got.bytes() == data.as_slice(), "usable at once");

    // An invoice nobody pays.
    let unpaid = paid.challenge(get_request(&blob, None), None).await;

    // A hold invoice paid and then not used.
    let mut hold = get_request(&blob, None);
    hold.hold_invoice = true;
    let held = paid.challenge(hold, None).await;
    let balance = paid.lightning.payer_balance_msat();
    let payment = paid.lightning.pay_until_accepted(&held).await;

    // The hold invoice is canceled by the broker's watcher; funds return.
    paid.lightning
        .assert_refunded(
            &held.payment_hash,
            payment,
            balance,
            "an unused hold invoice is canceled",
        )
        .await;
    let late_hold = paid
        .get_with(get_request(&blob, None), &held.authorization(None), None)
        .await;
    assert_eq!(late_hold.data_frames, 0);
    assert_eq!(
        late_hold.refused().code(),
        Some(Code::Unauthenticated),
        "{:?}",
        late_hold.end
    );

    // Expiry is whole unix seconds, refused at or after: one extra second
    // covers the rounding.
    tokio::time::sleep(Duration::from_secs(LIFETIME_SECS + 1)).await;

    let late = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_eq!(late.data_frames, 0);
    let status = late.refused();
    assert_eq!(status.code(), Some(Code::Unauthenticated), "{status:?}");
    assert!(
        status.message().to_lowercase().contains("expired"),
        "{status:?}"
    );
    let fresh = Challenge::from_error(status).expect("fresh challenge");
    assert_ne!(fresh.payment_hash, bought.payment_hash);

    let state = paid
        .payment_status(&unpaid.payment_hash)
        .await
        .expect("status");
    assert_eq!(state.state, pb::InvoiceState::Expired as i32, "{state:?}");
    let paid_late = paid.lightning.pay(&unpaid.invoice).await;
    assert!(paid_late.is_err(), "an expired invoice cannot be paid");
}
