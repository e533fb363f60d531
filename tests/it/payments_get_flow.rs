//! The L402 download flow of storage.proto through the real `shardgate`
//! binary and a simulated Lightning network: a Get without credential is
//! refused with a challenge and no data; the paid invoice's credential
//! serves the exact bytes once per use bought; a spent credential is
//! refused with a fresh challenge; ranged credentials serve ranges inside
//! the paid one, also after a broker restart; a private blob is never
//! challenged without its key.

use shardgate_client::pb;
use shardgate_payments::InvoiceState;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{Challenge, PaidBroker, fetch, get_request};
use shardgate_tests::raw_wire;
use tonic::Code;

const MIB: u64 = 1 << 20;
const FLAT: u64 = 1_000;
const PER_MIB: u64 = 3_000;

/// The documented price of `n` bytes times `uses` (common.proto Price).
fn price(n: u64, uses: u64) -> u64 {
    uses * (FLAT + (PER_MIB * n).div_ceil(MIB))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_gets_are_challenged_and_paid_ones_serve_the_exact_bytes_once_per_use() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(5, 300 * 1024 + 17).all();
    let blob = paid.upload("flow", &data, (FLAT, PER_MIB), true).await;
    let n = data.len() as u64;

    // Unpaid: UNAUTHENTICATED, a challenge, no header and no data.
    let client = paid.client().await;
    let unpaid = fetch(&client, get_request(&blob, None), None).await;
    assert!(unpaid.header.is_none(), "no header before payment");
    assert_eq!(unpaid.data_frames, 0, "no data before payment");
    let status = unpaid.refused();
    assert_eq!(status.code(), Some(Code::Unauthenticated), "{status:?}");
    let challenge = Challenge::from_error(status).expect("challenge");
    let on_node = paid
        .lightning
        .invoice(&challenge.payment_hash)
        .await
        .expect("the challenge invoice is on the broker's node");
    assert_eq!(on_node.state, InvoiceState::Open);
    assert_eq!(on_node.value_msat, price(n, 1));
    assert_eq!(on_node.payment_request, challenge.invoice);
    let before = paid
        .payment_status(&challenge.payment_hash)
        .await
        .expect("status");
    assert_eq!(before.state, pb::InvoiceState::Open as i32);
    assert_eq!(
        (before.amount_msat, before.amount_paid_msat),
        (price(n, 1), 0)
    );

    // Pay it: the exact bytes, once.
    let balance = paid.lightning.payer_balance_msat();
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    assert_eq!(preimage.payment_hash(), challenge.payment_hash);
    assert_eq!(balance - paid.lightning.payer_balance_msat(), price(n, 1));
    let auth = challenge.authorization(Some(&preimage));
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert!(got.bytes() == data.as_slice(), "served bytes differ");
    let header = got.header.expect("header");
    assert_eq!(header.uses_remaining, 0);
    assert!(!header.hold);
    let served = header.range.expect("served range");
    assert_eq!((served.offset, served.length), (0, n));
    let after = paid
        .payment_status(&challenge.payment_hash)
        .await
        .expect("status");
    assert_eq!(after.state, pb::InvoiceState::Settled as i32);
    assert_eq!(after.amount_paid_msat, price(n, 1));
    assert_eq!((after.uses, after.uses_remaining), (1, 0));

    // Spent: refused, with a fresh challenge for the same range.
    let again = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_eq!(again.data_frames, 0);
    let status = again.refused();
    assert_eq!(status.code(), Some(Code::Unauthenticated), "{status:?}");
    assert!(status.message().contains("used up"), "{status:?}");
    let fresh = Challenge::from_error(status).expect("fresh challenge");
    assert_ne!(fresh.payment_hash, challenge.payment_hash);
    let fresh_on_node = paid
        .lightning
        .invoice(&fresh.payment_hash)
        .await
        .expect("fresh invoice");
    assert_eq!(fresh_on_node.value_msat, price(n, 1));

    // Three uses bought: three downloads, then refused.
    let mut request = get_request(&blob, None);
    request.uses = 3;
    let (three, auth) = paid.buy(request, None).await;
    let three_on_node = paid
        .lightning
        .invoice(&three.payment_hash)
        .await
        .expect("invoice");
    assert_eq!(three_on_node.value_msat, price(n, 3));
    for left in [2, 1, 0] {
        let got = paid.get_with(get_request(&blob, None), &auth, None).await;
        assert!(got.bytes() == data.as_slice());
        assert_eq!(got.header.expect("header").uses_remaining, left);
    }
    let fourth = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_eq!(fourth.data_frames, 0);
    assert_eq!(fourth.refused().code(), Some(Code::Unauthenticated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranged_credential_serves_ranges_inside_the_paid_one_across_a_restart() {
    let mut paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(9, 600 * 1024).all();
    let blob = paid.upload("ranges", &data, (FLAT, PER_MIB), false).await;
    let owner_key = paid.owner_key().to_owned();
    let key = Some(owner_key.as_str());

    // A private blob: without the key the refusal is plain (no challenge).
    let client = paid.client().await;
    let anonymous = fetch(&client, get_request(&blob, None), None).await;
    assert_eq!(anonymous.data_frames, 0);
    let status = anonymous.refused();
    // storage.proto says UNAUTHENTICATED; the broker answers NOT_FOUND so
    // as not to reveal that the blob exists (broker_access.rs allows both).
    assert!(
        matches!(status.code(), Some(Code::Unauthenticated | Code::NotFound)),
        "{status:?}"
    );
    assert!(status.challenge().is_none(), "{status:?}");

    // Buy 2 uses of 100_000 + 300_000 (crossing a chunk boundary).
    let mut request = get_request(&blob, Some((100_000, Some(300_000))));
    request.uses = 2;
    let (challenge, auth) = paid.buy(request, key).await;
    let on_node = paid
        .lightning
        .invoice(&challenge.payment_hash)
        .await
        .expect("invoice");
    assert_eq!(on_node.value_msat, price(300_000, 2));
    // A range inside it.
    let inner = paid
        .get_with(
            get_request(&blob, Some((150_000, Some(200_000)))),
            &auth,
            key,
        )
        .await;
    assert!(inner.bytes() == &data[150_000..350_000]);

    // Direct download is refused before the credential is touched: `fs`
    // providers cannot presign URLs.
    let refused = raw_wire::storage(&paid.broker.url())
        .await
        .get_shard_locations(raw_wire::authorized(
            pb::GetShardLocationsRequest {
                blob_id: blob.clone(),
                range: Some(pb::ByteRange {
                    offset: 100_000,
                    length: Some(300_000),
                }),
                url_ttl: None,
            },
            &auth,
            key,
        ))
        .await
        .expect_err("fs providers cannot presign");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    // The index and the L402 keys survive a broker restart: the last use
    // still works.
    paid.broker.restart().await.expect("restart");
    // Exactly the paid range.
    let whole = paid
        .get_with(
            get_request(&blob, Some((100_000, Some(300_000)))),
            &auth,
            key,
        )
        .await;
    assert!(whole.bytes() == &data[100_000..400_000]);
    assert_eq!(whole.header.expect("header").uses_remaining, 0);
}
