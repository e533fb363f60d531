//! The LNURL client's HTTP limits against a misbehaving wallet service:
//! redirects to another host, oversized answers, server errors, non-JSON.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use shardgate_payments::{
    LightningAddress, LnurlClientConfig, LnurlFailure, LnurlPayClient, PaymentError,
    PaymentErrorKind,
};
use tokio::net::TcpListener;

/// A payRequest whose callback is on this server.
fn pay_request(port: u16) -> String {
    serde_json::json!({
        "tag": "payRequest",
        "callback": format!("http://127.0.0.1:{port}/callback"),
        "minSendable": 1000,
        "maxSendable": 10000,
        "metadata": "[[\"text/plain\",\"hi\"]]",
    })
    .to_string()
}

/// Serves the misbehaving routes on 127.0.0.1:0; returns the port. The
/// task ends with the test's runtime.
async fn hostile_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = axum::Router::new()
        .route(
            "/.well-known/lnurlp/moved",
            get(|| async { Redirect::temporary("/.well-known/lnurlp/real") }),
        )
        .route(
            "/.well-known/lnurlp/real",
            get(move || async move { json(pay_request(port)) }),
        )
        // Same port, another host name: another origin.
        .route(
            "/.well-known/lnurlp/elsewhere",
            get(move || async move {
                Redirect::temporary(&format!("http://localhost:{port}/.well-known/lnurlp/real"))
            }),
        )
        .route(
            "/.well-known/lnurlp/huge",
            get(|| async { json(format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024))) }),
        )
        .route(
            "/.well-known/lnurlp/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .route(
            "/.well-known/lnurlp/html",
            get(|| async { "<html>hello</html>".into_response() }),
        )
        .route(
            "/.well-known/lnurlp/teapot",
            get(|| async {
                Response::builder()
                    .status(418)
                    .body(axum::body::Body::empty())
                    .expect("response")
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    port
}

fn json(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn failure_of(err: &PaymentError) -> LnurlFailure {
    match err {
        PaymentError::Lnurl { failure, .. } => *failure,
        other => panic!("not an LNURL error: {other}"),
    }
}

#[tokio::test]
async fn redirects_stay_on_their_host() {
    let port = hostile_service().await;
    let client = LnurlPayClient::new(&LnurlClientConfig::default()).expect("client");
    let moved = LightningAddress::parse(&format!("moved@127.0.0.1:{port}")).expect("valid");
    let params = client
        .pay_params(&moved)
        .await
        .expect("same-host redirect followed");
    assert_eq!(params.max_sendable_msat, 10_000);

    let elsewhere = LightningAddress::parse(&format!("elsewhere@127.0.0.1:{port}")).expect("valid");
    let err = client.pay_params(&elsewhere).await.expect_err("refused");
    assert_eq!(failure_of(&err), LnurlFailure::BadResponse);
    assert!(
        err.to_string()
            .contains("only redirects within the same host"),
        "{err}"
    );
}

#[tokio::test]
async fn answers_are_bounded_and_must_be_lnurl() {
    let port = hostile_service().await;
    let client = LnurlPayClient::new(&LnurlClientConfig::default()).expect("client");
    let cases = [
        ("huge", LnurlFailure::BadResponse, "more than 65536 bytes"),
        ("broken", LnurlFailure::Unreachable, "HTTP 500"),
        (
            "html",
            LnurlFailure::BadResponse,
            "did not answer with JSON",
        ),
        ("teapot", LnurlFailure::BadResponse, "HTTP 418"),
    ];
    for (user, failure, text) in cases {
        let address = LightningAddress::parse(&format!("{user}@127.0.0.1:{port}")).expect("valid");
        let err = client.pay_params(&address).await.expect_err(user);
        assert_eq!(failure_of(&err), failure, "{user}: {err}");
        assert!(err.to_string().contains(text), "{user}: {err}");
    }

    // The cap is the config's: a tiny one refuses even a normal answer.
    let tiny = LnurlPayClient::new(&LnurlClientConfig {
        max_response_bytes: 64,
        ..LnurlClientConfig::default()
    })
    .expect("client");
    let real = LightningAddress::parse(&format!("real@127.0.0.1:{port}")).expect("valid");
    let err = tiny.pay_params(&real).await.expect_err("too large");
    assert_eq!(err.kind(), PaymentErrorKind::Rejected);
}
