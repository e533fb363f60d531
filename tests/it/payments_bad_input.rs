//! Bad payment input over the wire, through the real `shardgate` binary:
//! malformed `authorization` values (scheme, separators, base64, non-hex
//! and mis-sized preimages, over-long and 64 KiB values) are refused with
//! no data and the broker keeps serving; prices outside the bounds are
//! INVALID_ARGUMENT at upload and update (a "negative" price arrives as a
//! huge uint64); a price change leaves issued invoices at their price; a
//! zero price still asks the minimum invoice (every download is paid).

use shardgate_client::pb;
use shardgate_tests::broker_process::client::{as_tenant, list_all};
use shardgate_tests::lightning::{Challenge, PaidBroker, fetch, get_request, upload_priced};
use tonic::Code;

const MIN_INVOICE_MSAT: u64 = 5;
const MAX_FLAT_MSAT: u64 = 1_000_000;

async fn start() -> PaidBroker {
    let limits = format!(
        "[limits]\nmin_invoice_msat = {MIN_INVOICE_MSAT}\nmax_flat_msat = {MAX_FLAT_MSAT}\n"
    );
    PaidBroker::start(&[], &limits).await.expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_giant_authorization_values_are_refused_without_data() {
    let paid = start().await;
    let data = vec![1u8; 3_000];
    let blob = paid.upload("bad-auth", &data, (2_000, 0), true).await;
    let (challenge, good) = paid.buy(get_request(&blob, None), None).await;
    let token = &challenge.token;
    let preimage = good.rsplit_once(':').expect("preimage").1.to_owned();

    let cases: Vec<(String, &str)> = vec![
        (format!("Bearer {token}:{preimage}"), "other scheme"),
        ("L402".to_owned(), "scheme only"),
        (format!("L402 {token}"), "no colon"),
        (
            format!("L402 {token}:{}", "zz".repeat(32)),
            "non-hex preimage",
        ),
        (
            format!("L402 {token}:{}", preimage.to_uppercase()),
            "uppercase preimage",
        ),
        (
            format!("L402 {token}:{}", &preimage[..62]),
            "short preimage",
        ),
        (format!("L402 {token}:{preimage}00"), "long preimage"),
        (format!("L402 {token}:{preimage}:{preimage}"), "two colons"),
        (format!("L402  {token}:{preimage}"), "double space"),
        (format!("L402 {token},{token}:{preimage}"), "two macaroons"),
        (format!("L402 !!{token}:{preimage}"), "not base64"),
        (format!("L402 AAAA:{preimage}"), "base64 of garbage"),
        (format!("L402 :{preimage}"), "empty token"),
        (
            format!("L402 {}:{preimage}", "A".repeat(4100)),
            "longer than 4096",
        ),
    ];
    for (value, what) in &cases {
        let got = paid.get_with(get_request(&blob, None), value, None).await;
        assert!(got.header.is_none(), "{what}: header sent");
        assert_eq!(got.data_frames, 0, "{what}: data served");
        let status = got.refused();
        assert_eq!(
            status.code(),
            Some(Code::Unauthenticated),
            "{what}: {status:?}"
        );
        Challenge::from_error(status).unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    // 64 KiB of authorization: refused by the broker or its transport,
    // never served, and the broker keeps serving.
    let giant = format!("L402 {}:{preimage}", "A".repeat(64 * 1024));
    let got = paid.get_with(get_request(&blob, None), &giant, None).await;
    assert_eq!(got.data_frames, 0, "64 KiB authorization served data");
    // The broker's HTTP/2 layer refuses the header list (GOAWAY
    // ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED) before the gate sees it.
    let status = got.refused();
    assert!(
        matches!(
            status.code(),
            Some(Code::ResourceExhausted | Code::Unauthenticated)
        ),
        "64 KiB authorization: {status:?}"
    );
    assert!(paid.broker.is_serving().await, "broker still serving");

    // None of it used the real credential up.
    let got = paid.get_with(get_request(&blob, None), &good, None).await;
    assert!(got.bytes() == data.as_slice());

    // `uses` out of bounds in a challenge request: INVALID_ARGUMENT.
    let client = paid.client().await;
    for (uses, hold) in [(101, false), (2, true)] {
        let mut request = get_request(&blob, None);
        request.uses = uses;
        request.hold_invoice = hold;
        let got = fetch(&client, request, None).await;
        assert_eq!(got.data_frames, 0);
        assert_eq!(
            got.refused().code(),
            Some(Code::InvalidArgument),
            "uses {uses} hold {hold}: {:?}",
            got.end
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_are_bounded_and_issued_invoices_keep_their_price() {
    let paid = start().await;
    let client = paid.client().await;
    let owner = as_tenant(&client, Some(paid.owner_key()));
    let data = vec![2u8; 4_000];

    // Out of bounds at upload (u64::MAX is what a client's -1 becomes).
    for (flat, per_mib, what) in [
        (MAX_FLAT_MSAT + 1, 0, "flat above max"),
        (u64::MAX, 0, "flat -1 as uint64"),
        (0, u64::MAX, "per MiB -1 as uint64"),
    ] {
        let err = upload_priced(
            &client,
            paid.owner_key(),
            what,
            &data,
            (flat, per_mib),
            true,
        )
        .await
        .expect_err(what);
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{what}: {err:?}");
    }
    assert!(
        list_all(&client, paid.owner_key())
            .await
            .expect("list")
            .is_empty(),
        "nothing stored"
    );

    // Out of bounds at update: refused, price unchanged.
    let blob = paid.upload("priced", &data, (1_000, 0), true).await;
    for (flat, per_mib, what) in [
        (MAX_FLAT_MSAT + 1, 0, "flat above max"),
        (0, u64::MAX, "per MiB -1"),
    ] {
        let price = pb::Price {
            flat_msat: flat,
            per_mib_msat: per_mib,
        };
        let err = owner
            .update(&blob, Some(price), None)
            .await
            .expect_err(what);
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{what}: {err:?}");
    }
    let info = owner.stat(&blob).await.expect("stat");
    assert_eq!(
        info.price.map(|p| (p.flat_msat, p.per_mib_msat)),
        Some((1_000, 0))
    );

    // An invoice issued at 1,000 msat keeps that price after a raise.
    let before = paid.challenge(get_request(&blob, None), None).await;
    let raised = pb::Price {
        flat_msat: 50_000,
        per_mib_msat: 0,
    };
    owner
        .update(&blob, Some(raised), None)
        .await
        .expect("raise the price");
    let balance = paid.lightning.payer_balance_msat();
    let preimage = paid
        .lightning
        .pay(&before.invoice)
        .await
        .expect("pay the old invoice");
    assert_eq!(balance - paid.lightning.payer_balance_msat(), 1_000);
    let got = paid
        .get_with(
            get_request(&blob, None),
            &before.authorization(Some(&preimage)),
            None,
        )
        .await;
    assert!(
        got.bytes() == data.as_slice(),
        "the old price still buys the download"
    );
    let after = paid.challenge(get_request(&blob, None), None).await;
    let invoice = paid
        .lightning
        .invoice(&after.payment_hash)
        .await
        .expect("invoice");
    assert_eq!(invoice.value_msat, 50_000, "new invoices at the new price");
}

/// storage.proto: "Every download is paid, also by the blob's owner"; the
/// payments crate: a zero price is allowed and the minimum invoice applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_price_download_is_still_paid_at_the_minimum_invoice() {
    let paid = start().await;
    let data = vec![3u8; 4_000];
    // Zero price: still paid, at the minimum invoice amount.
    let free = paid.upload("zero", &data, (0, 0), true).await;
    let challenge = paid.challenge(get_request(&free, None), None).await;
    let invoice = paid
        .lightning
        .invoice(&challenge.payment_hash)
        .await
        .expect("invoice");
    assert_eq!(invoice.value_msat, MIN_INVOICE_MSAT);
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    let got = paid
        .get_with(
            get_request(&free, None),
            &challenge.authorization(Some(&preimage)),
            None,
        )
        .await;
    assert!(got.bytes() == data.as_slice());
}
