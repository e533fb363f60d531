//! Prepaid credit through the real `shardgate` binary: one invoice buys a
//! balance; downloads presented with its credential take their price from
//! it with no Lightning payment each; 200 concurrent downloads against a
//! credit worth exactly 100 of them serve exactly 100 and challenge the
//! rest, and the balance ends at 0, never below.

use std::sync::Arc;

use shardgate_client::{ErrorKind, Invoice, pb};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{PaidBroker, fetch, get_request};
use tonic::Code;

/// Price of one download of the test blob (flat; the blob is small).
const PRICE: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_downloads_on_credit_for_one_hundred_serve_exactly_one_hundred() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(3, 20_000).all();
    let blob = paid.upload("credit", &data, (PRICE, 0), true).await;
    // The price as the broker charges it: the amount of a challenge.
    let challenge = paid.challenge(get_request(&blob, None), None).await;
    let price = Invoice::decode(&challenge.invoice)
        .expect("challenge invoice")
        .amount_msat;
    assert!(price >= PRICE, "{price}");

    let client = paid.client().await;
    let sold = client.buy_credit(100 * price).await.expect("BuyCredit");
    assert_eq!(sold.amount_msat, 100 * price);

    // Unpaid: the credential is refused with a clear precondition.
    let unpaid_credential = format!("{}:{}", sold.l402_token, "00".repeat(32));
    let refused = client
        .credit_balance(&unpaid_credential)
        .await
        .expect_err("wrong preimage");
    assert_eq!(refused.code(), Some(Code::Unauthenticated), "{refused:?}");

    let preimage = paid
        .lightning
        .pay(&sold.payment_request)
        .await
        .expect("pay");
    let credential = format!("{}:{}", sold.l402_token, preimage.to_hex());
    let balance = client.credit_balance(&credential).await.expect("balance");
    assert_eq!(balance.balance_msat, 100 * price);
    assert_eq!(balance.purchased_msat, 100 * price);
    let invoices_before = paid.lightning.broker_invoice_count();

    let credential = Arc::new(credential);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            let credential = Arc::clone(&credential);
            let blob = blob.clone();
            tokio::spawn(async move {
                fetch(&client, get_request(&blob, None), Some(credential.as_str())).await
            })
        })
        .collect();
    let (mut served, mut challenged) = (0, 0);
    for task in tasks {
        let fetched = task.await.expect("join");
        match &fetched.end {
            Ok(()) => {
                assert_eq!(fetched.data, data, "served bytes must be exact");
                served += 1;
            }
            Err(error) => {
                assert_eq!(fetched.data_frames, 0, "a refused download served data");
                assert_eq!(error.kind(), ErrorKind::Unpaid, "{error:?}");
                assert!(
                    error.message().contains("holds") && error.message().contains("msat"),
                    "the challenge names the balance: {error:?}"
                );
                challenged += 1;
            }
        }
    }
    assert_eq!((served, challenged), (100, 100));
    let left = client.credit_balance(&credential).await.expect("balance");
    assert_eq!(left.balance_msat, 0);
    // Only the 100 challenges made invoices; the served downloads none.
    assert_eq!(paid.lightning.broker_invoice_count() - invoices_before, 100);

    // The split is booked when each download ends: 100 credit downloads,
    // and the held credit is back to zero.
    let admin = paid.broker.admin_client().await.expect("admin");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let balances = admin
            .earnings(pb::AccountKind::CreditHeld)
            .await
            .expect("earnings")
            .balances;
        let held = balances.first().map_or(0, |b| b.balance_msat);
        if held == 0 {
            let credited: u64 = balances.first().map_or(0, |b| b.credited_msat);
            assert_eq!(credited, 100 * price);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "held credit stays at {held}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let owner = admin
        .earnings(pb::AccountKind::Owner)
        .await
        .expect("earnings")
        .balances;
    let earned: u64 = owner.iter().map(|b| b.balance_msat).sum();
    assert_eq!(
        earned,
        100 * (price * 7 / 10),
        "70 % of every download to the owner"
    );
    let lightning = admin
        .earnings(pb::AccountKind::Lightning)
        .await
        .expect("earnings")
        .balances;
    assert_eq!(
        lightning.first().map_or(0, |b| b.balance_msat),
        paid.lightning.broker_node().balance_msat()
    );
}

/// Prepaid credit over the HTTP gateway: `GET /b/{blob}` with the credit
/// credential serves the file from the balance, and once it is spent the
/// gateway answers the download's own 402, naming the balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_pays_a_gateway_download_until_it_runs_out() {
    use reqwest::Method;
    use shardgate_tests::gateway::Gateway;

    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(5, 70_000).all();
    let blob = paid.upload("web", &data, (PRICE, 0), true).await;
    let gateway = Gateway::new(&paid.broker.gateway_url());
    let price = gateway.post_blob(&blob, None, &[]).await.json()["amount_msat"]
        .as_u64()
        .expect("the 402 names its amount");

    let client = paid.client().await;
    let sold = client.buy_credit(price).await.expect("BuyCredit");
    let preimage = paid
        .lightning
        .pay(&sold.payment_request)
        .await
        .expect("pay");
    let authorization = format!("L402 {}:{}", sold.l402_token, preimage.to_hex());
    let path = format!("/b/{blob}");

    let reply = gateway
        .send(Method::GET, &path, &[("authorization", &authorization)])
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert!(reply.body == data, "served bytes differ");

    let reply = gateway
        .send(Method::GET, &path, &[("authorization", &authorization)])
        .await;
    assert_eq!(reply.status, 402, "{}", reply.describe());
    let body = reply.json();
    assert!(body.to_string().contains("holds 0 msat"), "{body}");
    let balance = client
        .credit_balance(&format!("{}:{}", sold.l402_token, preimage.to_hex()))
        .await
        .expect("balance");
    assert_eq!(balance.balance_msat, 0);
}
