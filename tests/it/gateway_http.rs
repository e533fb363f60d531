//! `/b/{blob}` of the HTTP gateway through the real `shardgate` binary with
//! payments on, seen by a client nobody here wrote (`reqwest`) and checked
//! against docs/sharing.md: the L402 challenge a script gets, the paid
//! download with the headers browsers and download managers expect, byte
//! ranges, a credential's single use, and link previews that cost nothing.
//! Refused credentials (forged, wrong preimage, another blob's) are rows of
//! gate_table.rs, run over HTTP and gRPC alike.

use std::str::FromStr;

use lightning_invoice::Bolt11Invoice;
use reqwest::Method;
use serde_json::Value;
use shardgate_client::ShareOptions;
use shardgate_payments::InvoiceState;
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::gateway::{Gateway, L402Challenge, Reply};
use shardgate_tests::lightning::PaidBroker;

const FLAT: u64 = 4_000;
const PER_MIB: u64 = 2_000;
const MIB: u64 = 1 << 20;
const NAME: &str = "report 2026.pdf";

/// The documented price of `n` bytes (common.proto Price).
fn price(n: u64) -> u64 {
    FLAT + (PER_MIB * n).div_ceil(MIB)
}

/// The three headers every gateway response carries (docs/sharing.md).
pub(crate) fn assert_security_headers(reply: &Reply, what: &str) {
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.split(';').any(|d| d.trim() == "default-src 'self'"),
        "{what}: CSP {csp:?}"
    );
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp:?}");
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

/// A `402` as the docs promise it: the `WWW-Authenticate` challenge, a JSON
/// body naming the same invoice, hash and amount (checked against the
/// invoice itself, decoded by LDK's parser), a QR code, and no byte of the
/// file. Returns the challenge.
pub(crate) fn assert_challenge(reply: &Reply, file: &[u8], what: &str) -> L402Challenge {
    assert_eq!(reply.status, 402, "{what}: {}", reply.describe());
    assert_security_headers(reply, what);
    let challenge = reply.challenge();
    let body = reply.json();
    assert_eq!(body["error"], "payment_required", "{what}");
    assert_eq!(body["invoice"], challenge.invoice.as_str(), "{what}");
    assert_eq!(body["macaroon"], challenge.macaroon.as_str(), "{what}");
    let invoice = Bolt11Invoice::from_str(&challenge.invoice)
        .unwrap_or_else(|e| panic!("{what}: invoice does not decode: {e}"));
    let hash: &[u8] = invoice.payment_hash().as_ref();
    assert_eq!(body["payment_hash"], hex::encode(hash), "{what}");
    assert_eq!(
        Some(body["amount_msat"].as_u64().expect("amount_msat")),
        invoice.amount_milli_satoshis(),
        "{what}"
    );
    let svg = body["qr_svg"].as_str().expect("qr_svg");
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "{what}: {svg:.40}"
    );
    assert_no_file_bytes(reply, file, what);
    challenge
}

/// The body holds no 16-byte window of `file` (taken at three places).
pub(crate) fn assert_no_file_bytes(reply: &Reply, file: &[u8], what: &str) {
    for at in [0, file.len() / 2, file.len() - 16] {
        assert!(
            !reply.contains(&file[at..at + 16]),
            "{what}: the body holds file bytes at {at}"
        );
    }
}

/// `POST /b/{blob}` without a credential, paid: the `Authorization` value.
async fn buy(paid: &PaidBroker, gateway: &Gateway, blob: &str, file: &[u8]) -> String {
    let reply = gateway.post_blob(blob, None, &[]).await;
    let challenge = assert_challenge(&reply, file, "challenge to buy");
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    challenge.authorization(Some(&hex::encode(preimage.0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_pays_the_402_and_gets_the_file_once_with_download_headers() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(11, 300 * 1024 + 9).all();
    let n = data.len() as u64;
    let blob = paid.upload(NAME, &data, (FLAT, PER_MIB), true).await;
    let gateway = Gateway::new(&paid.broker.gateway_url());

    // No credential: 402, and the invoice is on the broker's node at the price.
    let reply = gateway.post_blob(&blob, None, &[]).await;
    let challenge = assert_challenge(&reply, &data, "no credential");
    assert_eq!(reply.json()["amount_msat"], price(n));
    let hash = reply.json()["payment_hash"].as_str().unwrap().to_owned();
    let hash = shardgate_payments::PaymentHash::from_hex(&hash).expect("hex hash");
    let on_node = paid.lightning.invoice(&hash).await.expect("on the node");
    assert_eq!(
        (on_node.state, on_node.value_msat),
        (InvoiceState::Open, price(n))
    );

    // Paid: GET with the credential, the exact bytes and the headers.
    let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
    let auth = challenge.authorization(Some(&hex::encode(preimage.0)));
    let reply = gateway
        .send(
            Method::GET,
            &format!("/b/{blob}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert!(reply.body == data, "served bytes differ");
    assert_security_headers(&reply, "paid download");
    assert_eq!(reply.header("etag"), Some(format!("\"{blob}\"").as_str()));
    assert_eq!(reply.header("content-length"), Some(n.to_string().as_str()));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    let disposition = reply.header("content-disposition").unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains(&format!("filename=\"{NAME}\"")),
        "{disposition}"
    );

    // One use: the same credential again is a fresh challenge, no bytes.
    let again = gateway.post_blob(&blob, Some(&auth), &[]).await;
    let fresh = assert_challenge(&again, &data, "replayed credential");
    assert_ne!(fresh.invoice, challenge.invoice, "the challenge is fresh");
    assert!(
        again.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("used up"),
        "{}",
        again.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_ranges_are_served_as_rfc_9110_says() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(12, 200 * 1024 + 3).all();
    let n = data.len();
    let blob = paid.upload("ranges.bin", &data, (FLAT, 0), true).await;
    let gateway = Gateway::new(&paid.broker.gateway_url());

    // (Range, first byte, last byte): one credential (one use) each.
    for (range, first, last) in [("bytes=10-19", 10, 19), ("bytes=-5", n - 5, n - 1)] {
        let auth = buy(&paid, &gateway, &blob, &data).await;
        let reply = gateway
            .post_blob(&blob, Some(&auth), &[("range", range)])
            .await;
        assert_eq!(reply.status, 206, "{range}: {}", reply.describe());
        assert!(reply.body == data[first..=last], "{range}: wrong bytes");
        assert_eq!(
            reply.header("content-range"),
            Some(format!("bytes {first}-{last}/{n}").as_str()),
            "{range}"
        );
        assert_eq!(
            reply.header("content-length"),
            Some((last - first + 1).to_string().as_str()),
            "{range}"
        );
    }

    // Past the end: 416, and the credential is not spent by it.
    let auth = buy(&paid, &gateway, &blob, &data).await;
    let past = format!("bytes={n}-");
    let reply = gateway
        .post_blob(&blob, Some(&auth), &[("range", &past)])
        .await;
    assert_eq!(reply.status, 416, "{}", reply.describe());
    assert_eq!(reply.error_kind(), "out_of_range");
    assert_eq!(
        reply.header("content-range"),
        Some(format!("bytes */{n}").as_str()),
        "a 416 says how long the content is"
    );
    assert_no_file_bytes(&reply, &data, "416");
    let reply = gateway.post_blob(&blob, Some(&auth), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert!(reply.body == data);

    // A HEAD (curl -I, a download manager probing) with the credential
    // transfers no bytes, so it must not spend the credential's one use.
    let auth = buy(&paid, &gateway, &blob, &data).await;
    let head = gateway
        .send(
            Method::HEAD,
            &format!("/b/{blob}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(head.status, 200, "{}", head.describe());
    assert!(head.body.is_empty(), "HEAD has no body");
    let reply = gateway
        .send(
            Method::GET,
            &format!("/b/{blob}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(reply.status, 200, "GET after HEAD: {}", reply.describe());
    assert!(reply.body == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_previews_get_the_page_and_no_invoice_is_made() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(13, 100 * 1024).all();
    let blob = paid.upload("preview.bin", &data, (FLAT, 0), true).await;
    let owner = as_tenant(&paid.client().await, Some(paid.owner_key()));
    let share = owner
        .create_share(&blob, ShareOptions::default())
        .await
        .expect("create share");
    let gateway = Gateway::new(&paid.broker.gateway_url());
    let invoices = paid.lightning.broker_invoice_count();

    let bot = [("user-agent", "Slackbot-LinkExpanding 1.0")];
    let share_page = format!("/s/{}", share.share.share_id);
    let blob_page = format!("/b/{blob}");
    for (method, path) in [
        (Method::HEAD, &blob_page),
        (Method::GET, &blob_page),
        (Method::HEAD, &share_page),
        (Method::GET, &share_page),
    ] {
        let what = format!("{method} {path}");
        let reply = gateway.send(method.clone(), path, &bot).await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.describe());
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{what}: {content_type}"
        );
        assert_security_headers(&reply, &what);
        if method == Method::GET {
            let page = String::from_utf8_lossy(&reply.body).to_ascii_lowercase();
            assert!(page.contains("<html"), "{what}");
            assert!(!page.contains("lnbc"), "{what}: an invoice in the page");
        }
        assert_no_file_bytes(&reply, &data, &what);
    }
    let info = gateway
        .send(Method::GET, &format!("{blob_page}/info"), &bot)
        .await;
    assert_eq!(info.status, 200, "{}", info.describe());
    assert_eq!(info.json()["size"], Value::from(data.len()));
    assert_eq!(
        paid.lightning.broker_invoice_count(),
        invoices,
        "a GET or HEAD created an invoice"
    );

    // The count does move: a POST is what makes an invoice.
    let reply = gateway.post_blob(&blob, None, &[]).await;
    assert_challenge(&reply, &data, "POST");
    assert_eq!(paid.lightning.broker_invoice_count(), invoices + 1);
}

/// A client that never finishes its request headers is disconnected after
/// the gateway's header-read timeout (10 s) instead of holding a
/// connection and a task for as long as it likes; meanwhile other clients
/// are served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let paid = PaidBroker::start(&[], "").await.expect("start");
    let blob = paid
        .upload(NAME, &Pattern::new(3, 1000).all(), (FLAT, PER_MIB), true)
        .await;
    let base = paid.broker.gateway_url();
    let addr = base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /b/ HTTP/1.1\r\nHost: shardgate\r\nX-Slow: ")
        .await
        .expect("partial headers");
    let started = Instant::now();

    // Another client meanwhile: its page at once.
    let reply = Gateway::new(&base)
        .send(Method::GET, &format!("/b/{blob}"), &[])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert!(started.elapsed() < Duration::from_secs(5));

    // The slow one is closed by the server (read returns 0, an error, or a
    // 408), bounded at 30 s.
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(30), slow.read(&mut buf))
        .await
        .expect("the gateway kept a half-sent request open for 30 s");
    let waited = started.elapsed();
    assert!(
        matches!(closed, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains("408"),
        "{closed:?}"
    );
    assert!(waited >= Duration::from_secs(8), "cut off after {waited:?}");
}
