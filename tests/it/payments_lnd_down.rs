//! The broker's Lightning node down or slow, through the real `shardgate`
//! binary: priced downloads, challenges and invoice calls fail closed with
//! UNAVAILABLE and serve nothing, Storage stays SERVING, a paid credential
//! is not used up by the failed attempts and works once the node is back;
//! a broker started while its node is down starts anyway and begins
//! selling once the node answers; one given another node's macaroon or
//! certificate starts but sells nothing.

use std::time::{Duration, Instant};

use shardgate_lnd_sim::FaultConfig;
use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::lightning::{
    Challenge, Lightning, PaidBroker, fetch, get_request, upload_priced,
};
use tonic::Code;

const FLAT: u64 = 1_500;

fn assert_unavailable_without_data(got: &shardgate_tests::lightning::Fetched, what: &str) {
    assert!(got.header.is_none(), "{what}: header sent");
    assert_eq!(got.data_frames, 0, "{what}: data served");
    let status = got.refused();
    assert_eq!(status.code(), Some(Code::Unavailable), "{what}: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_or_slow_node_fails_closed_and_a_paid_credential_survives_it() {
    let paid = PaidBroker::start(&[("lnd_call_timeout_ms", "1000")], "")
        .await
        .expect("start");
    let data = vec![42u8; 9_000];
    let blob = paid.upload("down", &data, (FLAT, 0), true).await;
    let mut request = get_request(&blob, None);
    request.uses = 2;
    let (challenge, auth) = paid.buy(request, None).await;
    let payments = paid.client().await;

    // Down.
    paid.lightning
        .broker_node()
        .set_down(true)
        .await
        .expect("down");
    let client = paid.client().await;
    let got = fetch(&client, get_request(&blob, None), None).await;
    assert_unavailable_without_data(&got, "challenge while down");
    assert!(
        got.refused().challenge().is_none(),
        "no challenge can be made without the node"
    );
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_unavailable_without_data(&got, "paid get while down");
    let err = payments
        .create_invoice(pb::CreateInvoiceRequest {
            blob_id: blob.clone(),
            ..Default::default()
        })
        .await
        .expect_err("no invoice while down");
    assert_eq!(err.code(), Some(Code::Unavailable), "{err:?}");
    let err = paid
        .payment_status(&challenge.payment_hash)
        .await
        .expect_err("no status while down");
    assert_eq!(err.code(), Some(Code::Unavailable), "{err:?}");
    assert!(paid.broker.is_serving().await, "Storage stays SERVING");

    // Back up: the credential was not used up by the failed attempts.
    paid.lightning
        .broker_node()
        .set_down(false)
        .await
        .expect("up");
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert!(got.bytes() == data.as_slice());
    assert_eq!(got.header.expect("header").uses_remaining, 1);

    // Slow: every answer later than the broker's 1 s call timeout.
    paid.lightning.broker_node().set_faults(FaultConfig {
        latency: Duration::from_millis(2_500),
        payment_failure: None,
    });
    let started = Instant::now();
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_unavailable_without_data(&got, "paid get while slow");
    let got = fetch(&client, get_request(&blob, None), None).await;
    assert_unavailable_without_data(&got, "challenge while slow");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a slow node is given up on, not waited for ({:?})",
        started.elapsed()
    );
    paid.lightning
        .broker_node()
        .set_faults(FaultConfig::default());
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert!(got.bytes() == data.as_slice());
    assert_eq!(got.header.expect("header").uses_remaining, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_started_while_its_node_is_down_sells_once_the_node_answers() {
    let lightning = Lightning::start().await.expect("lightning");
    lightning.broker_node().set_down(true).await.expect("down");
    let paid = PaidBroker::start_on(lightning, &[("lnd_call_timeout_ms", "1000")], "")
        .await
        .expect("the broker starts without its node");
    let data = vec![9u8; 3_000];
    let blob = paid.upload("late", &data, (FLAT, 0), true).await;
    let client = paid.client().await;
    let got = fetch(&client, get_request(&blob, None), None).await;
    assert_unavailable_without_data(&got, "challenge before the node is up");

    paid.lightning
        .broker_node()
        .set_down(false)
        .await
        .expect("up");
    let deadline = Instant::now() + Duration::from_secs(30);
    let challenge = loop {
        let got = fetch(&client, get_request(&blob, None), None).await;
        assert_eq!(got.data_frames, 0);
        let status = got.refused();
        if status.code() == Some(Code::Unauthenticated) {
            break Challenge::from_error(status).expect("challenge");
        }
        assert_eq!(status.code(), Some(Code::Unavailable), "{status:?}");
        assert!(
            Instant::now() < deadline,
            "never sold after the node came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    let got = paid
        .get_with(
            get_request(&blob, None),
            &challenge.authorization(Some(&preimage)),
            None,
        )
        .await;
    assert!(got.bytes() == data.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_with_another_nodes_macaroon_or_certificate_fails_closed() {
    let lightning = Lightning::start().await.expect("lightning");
    // The payer node's files: real, readable, for the wrong node.
    let payer = lightning.payer_node();
    let wrong_macaroon = format!("{:?}", payer.macaroon_path().display().to_string());
    let wrong_cert = format!("{:?}", payer.tls_cert_path().display().to_string());
    for (key, value) in [
        ("lnd_macaroon", wrong_macaroon.as_str()),
        ("lnd_tls_cert", wrong_cert.as_str()),
    ] {
        let toml = lightning.payments_toml(&[(key, value), ("lnd_call_timeout_ms", "1000")]);
        let dir = tempfile::tempdir().expect("tempdir");
        let providers = ProviderSpec::fs_set(dir.path(), 3);
        let broker = BrokerProcess::start(&providers, &toml)
            .await
            .unwrap_or_else(|e| panic!("{key}: the broker starts anyway: {e}"));
        let (_, api_key) = broker.create_tenant("owner", None).await.expect("tenant");
        let client = broker.client().await.expect("client");
        let blob = upload_priced(&client, &api_key, "priced", &[1; 100], (FLAT, 0), true)
            .await
            .expect("upload");
        let got = fetch(&client, get_request(&blob, None), None).await;
        assert_unavailable_without_data(&got, key);
        assert!(broker.is_serving().await, "{key}: Storage stays SERVING");
    }
}
