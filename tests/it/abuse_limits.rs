//! Abuse limits through the real `shardgate` binary (`[limits]`): an
//! unpaid flood from one address makes the Lightning node create no more
//! invoices than that address's budget while a paid client on another
//! address (127.0.0.2, the SDK's `local_address`) downloads on, every
//! download exact; and Get streams past `transfers_per_address` are
//! refused with a retry hint until one ends.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shardgate_client::{Client, ErrorKind, GetOptions, PaymentPolicy, PutOptions};
use shardgate_proto::auth_metadata::RETRY_AFTER_MS;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::lightning::{Challenge, PaidBroker, fetch, get_request};
use shardgate_tests::raw_wire;
use tonic::Code;

/// Unpaid Gets the flood sends, and the time it has to send them.
const FLOOD: usize = 10_000;
const FLOOD_WINDOW: Duration = Duration::from_secs(10);
/// Connections and Gets in flight per connection of the flood.
const FLOOD_CONNECTIONS: usize = 8;
const FLOOD_IN_FLIGHT: usize = 16;
/// The flooding address's invoice budget per minute.
const INVOICES_PER_MINUTE: u64 = 20;
/// Uses of the paid client's one credential (more than it can spend).
const PAID_USES: u32 = 1000;

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_flood_makes_few_invoices_while_a_paid_client_downloads() {
    let limits = format!(
        "[limits]\nrequests_per_second_per_address = 400\ninvoices_per_minute_per_address = {INVOICES_PER_MINUTE}\nnode_invoices_per_second = 50\n"
    );
    let max_uses = PAID_USES.to_string();
    let paid = PaidBroker::start(&[("max_invoice_uses", &max_uses)], &limits)
        .await
        .expect("start");
    let data = Pattern::new(7, 300_000).all();
    let blob = paid.upload("flooded", &data, (1_000, 0), true).await;

    // The buyer, on 127.0.0.2: buys one credential of many uses.
    let buyer = Client::builder(paid.broker.url())
        .local_address(loopback(2))
        .connect()
        .await
        .expect("connect from 127.0.0.2");
    let mut request = get_request(&blob, None);
    request.uses = PAID_USES;
    let unpaid = fetch(&buyer, request, None).await;
    let challenge = Challenge::from_error(unpaid.refused()).expect("a challenge");
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    let authorization = challenge.authorization(Some(&preimage));
    let credential = authorization
        .strip_prefix("L402 ")
        .expect("L402")
        .to_owned();

    let invoices_before = paid.lightning.broker_invoice_count();
    let flood_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The buyer downloads over and over while the flood runs.
    let downloads = {
        let buyer = buyer.clone();
        let blob = blob.clone();
        let data = data.clone();
        let flood_done = flood_done.clone();
        tokio::spawn(async move {
            let mut served = 0usize;
            while !flood_done.load(Ordering::Relaxed) {
                let got = fetch(&buyer, get_request(&blob, None), Some(&credential)).await;
                if let Err(e) = &got.end {
                    panic!("paid download {served} refused during the flood: {e:?}");
                }
                assert!(got.data == data, "paid download {served}: exact bytes");
                served += 1;
            }
            served
        })
    };

    // The flood, from 127.0.0.1: unpaid Gets as fast as they go.
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let challenges = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let url = paid.broker.url();
    let mut workers = Vec::new();
    for _ in 0..FLOOD_CONNECTIONS {
        let raw = raw_wire::storage(&url).await;
        for _ in 0..FLOOD_IN_FLIGHT {
            let mut raw = raw.clone();
            let (sent, challenges, throttled) =
                (sent.clone(), challenges.clone(), throttled.clone());
            let blob = blob.clone();
            workers.push(tokio::spawn(async move {
                while sent.fetch_add(1, Ordering::Relaxed) < FLOOD {
                    let status = match raw.get(get_request(&blob, None)).await {
                        Ok(_) => panic!("an unpaid Get was served"),
                        Err(status) => status,
                    };
                    match status.code() {
                        Code::Unauthenticated => {
                            challenges.fetch_add(1, Ordering::Relaxed);
                        }
                        Code::ResourceExhausted => {
                            let retry = status
                                .metadata()
                                .get(RETRY_AFTER_MS)
                                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                            assert!(
                                retry.is_some_and(|ms| ms >= 1),
                                "a refusal says when to retry: {status:?}"
                            );
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => panic!("unexpected answer to an unpaid Get: {status:?}"),
                    }
                }
            }));
        }
    }
    for worker in workers {
        worker.await.expect("flood worker");
    }
    let elapsed = started.elapsed();
    flood_done.store(true, Ordering::Relaxed);
    let served = downloads.await.expect("the paid client");

    let answered = challenges.load(Ordering::Relaxed) + throttled.load(Ordering::Relaxed);
    assert_eq!(answered, FLOOD, "every unpaid Get was answered");
    assert!(
        elapsed <= FLOOD_WINDOW,
        "the flood took {elapsed:?}, not within {FLOOD_WINDOW:?}"
    );
    // The budget is a burst of INVOICES_PER_MINUTE refilled evenly, so
    // during the flood at most that plus what refilled meanwhile.
    let refilled = (INVOICES_PER_MINUTE as f64 * elapsed.as_secs_f64() / 60.0).ceil() as u64;
    let made = (paid.lightning.broker_invoice_count() - invoices_before) as u64;
    assert!(
        made <= INVOICES_PER_MINUTE + refilled,
        "{made} invoices from {FLOOD} unpaid Gets in {elapsed:?}; budget {INVOICES_PER_MINUTE}/min"
    );
    assert_eq!(
        made as usize,
        challenges.load(Ordering::Relaxed),
        "one invoice per challenge, none for a refusal"
    );
    assert!(
        served >= 3,
        "the paid client downloaded only {served} times during the flood"
    );
    println!(
        "flood: {FLOOD} unpaid Gets in {elapsed:?}, {made} invoices, {} refused; {served} paid downloads",
        throttled.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_past_the_transfer_limit_is_refused_until_one_ends() {
    let (_broker, client, _dir) = two_transfer_broker().await;
    // Large enough that a stream nobody reads stays open: far more than
    // the HTTP/2 windows and the broker's read-ahead hold.
    let data = Pattern::new(3, 24 << 20).all();
    let mut options = PutOptions::new("big");
    options.chunk_size = Some(256 * 1024);
    let blob = client
        .put_bytes(data.clone(), options)
        .await
        .expect("upload")
        .response
        .blob_id;
    let get = |client: Client| {
        let blob = blob.clone();
        async move {
            let options = GetOptions {
                payment: PaymentPolicy::none(),
                ..GetOptions::default()
            };
            client.get(&blob, &options).await
        }
    };
    let first = get(client.clone()).await.expect("1st stream");
    let _second = get(client.clone()).await.expect("2nd stream");
    let refused = match get(client.clone()).await {
        Ok(_) => panic!("a 3rd stream from one address was admitted"),
        Err(e) => e,
    };
    assert_eq!(refused.kind(), ErrorKind::Throttled, "{refused:?}");
    assert_eq!(refused.code(), Some(Code::ResourceExhausted));
    assert!(
        refused.message().contains("transfers_per_address"),
        "{refused}"
    );
    assert!(refused.retry_after().is_some(), "{refused:?}");

    // One ends (the client drops it): room again, within a moment.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        match get(client.clone()).await {
            Ok(download) => break download,
            Err(e) if e.kind() == ErrorKind::Throttled && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("not admitted after a stream ended: {e:?}"),
        }
    };
    let mut third = third;
    let mut bytes = Vec::new();
    while let Some(piece) = third.next_chunk().await.expect("read the admitted stream") {
        bytes.extend_from_slice(&piece);
    }
    third.finish().await.expect("the admitted stream ends OK");
    assert!(bytes == data, "the admitted stream is exact");
}

/// A unary call refused by the invoice limits (Payments.CreateInvoice)
/// reaches the client as the broker said it: RESOURCE_EXHAUSTED naming the
/// limit, with its retry hint — not rewritten into a message-size error
/// (which a wire-status layer once did to every RESOURCE_EXHAUSTED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_over_the_invoice_limit_says_which_limit_and_when_to_retry() {
    let paid = PaidBroker::start(&[], "[limits]\ninvoices_per_minute_per_address = 2\n")
        .await
        .expect("start");
    let data = Pattern::new(4, 10_000).all();
    let blob = paid.upload("limited", &data, (1_000, 0), true).await;
    let client = paid.client().await;
    let request = shardgate_client::pb::CreateInvoiceRequest {
        blob_id: blob,
        ..Default::default()
    };
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = client.create_invoice(request.clone()).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the limit refused an invoice");
    assert_eq!(refused.code(), Some(Code::ResourceExhausted), "{refused:?}");
    assert_eq!(refused.kind(), ErrorKind::Throttled, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("invoices_per_minute_per_address"),
        "{refused}"
    );
    assert!(!refused.message().contains("receive limit"), "{refused}");
    assert!(refused.retry_after().is_some(), "{refused:?}");
}

/// Gateway downloads count against the same per-address transfer limit as
/// Storage.Get: with two `POST /b/` bodies open (nobody reads them), a
/// third gateway download is refused with 429 and `Retry-After`, and so is
/// a gRPC Get from the same address; once one body is dropped, a gateway
/// download is admitted and delivers every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_downloads_count_against_the_transfer_limit() {
    let (broker, client, _dir) = two_transfer_broker().await;
    // Far more than the TCP and HTTP windows: a body nobody reads stays open.
    let data = Pattern::new(8, 24 << 20).all();
    let mut options = PutOptions::new("web");
    options.chunk_size = Some(256 * 1024);
    options.public = true;
    let blob = client
        .put_bytes(data.clone(), options)
        .await
        .expect("upload")
        .response
        .blob_id;
    let http = reqwest::Client::new();
    let url = format!("{}/b/{blob}", broker.gateway_url());
    let open = || http.post(&url).send();

    let first = open().await.expect("1st download");
    assert_eq!(first.status(), 200);
    let second = open().await.expect("2nd download");
    assert_eq!(second.status(), 200);
    let refused = open().await.expect("3rd answer");
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers().get("retry-after").is_some(),
        "{refused:?}"
    );
    let text = refused.text().await.expect("body");
    assert!(text.contains("transfers_per_address"), "{text}");
    // The gRPC side sees the same count.
    let grpc = client
        .get(&blob, &GetOptions::default())
        .await
        .map(|_| ())
        .expect_err("a gRPC Get past the limit");
    assert_eq!(grpc.kind(), ErrorKind::Throttled, "{grpc:?}");

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let admitted = loop {
        let reply = open().await.expect("answer");
        if reply.status() == 200 {
            break reply;
        }
        assert_eq!(reply.status(), 429);
        assert!(
            Instant::now() < deadline,
            "not admitted after a download ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body = admitted.bytes().await.expect("the admitted body");
    assert!(body.as_ref() == data.as_slice(), "gateway bytes differ");
    drop(second);
}

/// A broker on three `fs` providers with `transfers_per_address = 2`, and
/// a client with a tenant's key (the temp dir must outlive the broker).
async fn two_transfer_broker() -> (BrokerProcess, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let providers = ProviderSpec::fs_set(dir.path(), 3);
    let broker = BrokerProcess::start(&providers, "[limits]\ntransfers_per_address = 2\n")
        .await
        .expect("start");
    let (_, key) = broker.create_tenant("t", None).await.expect("tenant");
    let client = broker
        .client()
        .await
        .expect("connect")
        .with_api_key(&key)
        .expect("key");
    (broker, client, dir)
}
