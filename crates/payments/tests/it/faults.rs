//! Failure modes the broker must fail closed on: node down, node slow,
//! wrong macaroon or certificate, unusable settings.

use crate::common;

use std::time::{Duration, Instant};

use common::{CALL_TIMEOUT, EXPIRY, TestNet, file_config, inline_config};
use shardgate_lnd_sim::FaultConfig;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{LightningNode, PaymentError, PaymentErrorKind};

#[tokio::test]
async fn node_down_is_unavailable_within_the_timeout() {
    let net = TestNet::start().await;
    let invoice = net
        .broker
        .add_invoice(1_000, "before outage", EXPIRY)
        .await
        .expect("AddInvoice");
    net.broker_node.set_down(true).await.expect("down");

    let started = Instant::now();
    let err = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect_err("node is down");
    assert!(started.elapsed() <= CALL_TIMEOUT + Duration::from_millis(500));
    assert!(
        matches!(
            err.kind(),
            PaymentErrorKind::Unavailable | PaymentErrorKind::Timeout
        ),
        "{err}"
    );
    assert!(err.is_temporary());
    // A fresh client too (connect is lazy; the first call fails).
    let fresh = LightningNode::connect(&file_config(&net.broker_node))
        .await
        .expect("settings are fine");
    let err = fresh.get_info().await.expect_err("down");
    assert!(err.is_temporary(), "{err}");

    // Back up: the same client works again, the invoice is still there.
    net.broker_node.set_down(false).await.expect("up");
    let status = net
        .broker
        .lookup_invoice(&invoice.payment_hash)
        .await
        .expect("reachable again");
    assert_eq!(status.value_msat, 1_000);
    net.shutdown().await;
}

#[tokio::test]
async fn slow_node_times_out_per_call() {
    let net = TestNet::start().await;
    net.broker.get_info().await.expect("warm connection");
    net.broker_node.set_faults(FaultConfig {
        latency: CALL_TIMEOUT * 3,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    let err = net
        .broker
        .add_invoice(1_000, "slow", EXPIRY)
        .await
        .expect_err("too slow");
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            PaymentError::LndTimeout {
                op: "AddInvoice",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), PaymentErrorKind::Timeout);
    assert!(
        took >= CALL_TIMEOUT && took < CALL_TIMEOUT * 2,
        "took {took:?}"
    );
    net.broker_node.set_faults(FaultConfig::default());
    net.shutdown().await;
}

#[tokio::test]
async fn wrong_macaroon_is_a_clear_auth_error() {
    let net = TestNet::start().await;
    // The payer node's macaroon presented to the broker node.
    let mut config = file_config(&net.broker_node);
    config.macaroon = MacaroonSource::Hex(net.payer_node.macaroon_hex());
    let node = LightningNode::connect(&config)
        .await
        .expect("settings parse");
    let err = node.get_info().await.expect_err("refused");
    assert!(matches!(err, PaymentError::LndAuth { .. }), "{err}");
    assert_eq!(err.kind(), PaymentErrorKind::Misconfigured);
    assert!(!err.is_temporary());
    assert!(err.to_string().contains("refused our credentials"), "{err}");
    let err = node
        .add_invoice(1_000, "x", EXPIRY)
        .await
        .expect_err("every call refused");
    assert!(matches!(err, PaymentError::LndAuth { .. }), "{err}");
    net.shutdown().await;
}

#[tokio::test]
async fn wrong_certificate_fails_closed() {
    let net = TestNet::start().await;
    let mut config = inline_config(&net.broker_node);
    config.tls_cert = TlsCertSource::Pem(net.payer_node.tls_cert_pem().to_string());
    let node = LightningNode::connect(&config)
        .await
        .expect("settings parse");
    let err = node.get_info().await.expect_err("untrusted server");
    // OpenSSL's verify failure is recognised in the error chain and
    // reported as a settings problem, not as a transient outage.
    assert!(matches!(err, PaymentError::LndAuth { .. }), "{err}");
    assert_eq!(err.kind(), PaymentErrorKind::Misconfigured);
    assert!(
        err.to_string().contains("certificate verify failed"),
        "{err}"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn unusable_settings_are_refused_at_connect() {
    let net = TestNet::start().await;
    let good = inline_config(&net.broker_node);
    let cases: Vec<LndConfig> = vec![
        LndConfig {
            macaroon: MacaroonSource::Hex("not-hex".into()),
            ..good.clone()
        },
        LndConfig {
            macaroon: MacaroonSource::Hex(String::new()),
            ..good.clone()
        },
        LndConfig {
            tls_cert: TlsCertSource::Pem("not a certificate".into()),
            ..good.clone()
        },
        LndConfig {
            tls_cert: TlsCertSource::File("/nonexistent/tls.cert".into()),
            ..good.clone()
        },
        LndConfig {
            endpoint: "no-port".into(),
            ..good.clone()
        },
        LndConfig {
            endpoint: "host:99999".into(),
            ..good.clone()
        },
        LndConfig {
            endpoint: "host:1/../x y".into(),
            ..good.clone()
        },
    ];
    for config in cases {
        let err = LightningNode::connect(&config).await.expect_err("refused");
        assert!(
            matches!(err, PaymentError::LndConfig { .. }),
            "{config:?}: {err}"
        );
        // The macaroon never shows in the error or the config's Debug.
        assert!(!err.to_string().contains(&net.broker_node.macaroon_hex()));
        assert!(!format!("{config:?}").contains(&net.broker_node.macaroon_hex()));
    }
    net.shutdown().await;
}

/// The wrapper's futures can be spawned on a multi-threaded runtime.
#[tokio::test]
async fn lnd_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let net = TestNet::start().await;
    let hash = shardgate_payments::PaymentHash([1; 32]);
    let config = file_config(&net.broker_node);
    assert_send(&LightningNode::connect(&config));
    assert_send(&net.broker.lookup_invoice(&hash));
    assert_send(&net.broker.add_invoice(1, "m", EXPIRY));
    assert_send(&net.broker.subscribe_single_invoice(&hash));
    assert_send(&net.payer.pay_invoice("lnbc", 1, EXPIRY));
    let handle = tokio::spawn({
        let broker = net.broker.clone();
        async move { broker.get_info().await }
    });
    assert_eq!(
        handle.await.expect("task").expect("GetInfo").alias,
        "broker"
    );
    net.shutdown().await;
}
