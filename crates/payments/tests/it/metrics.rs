//! The LND call metrics a user scrapes: counted per method and outcome,
//! recorded with a local debugging recorder around real calls.

use crate::common;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use shardgate_payments::PaymentHash;
use shardgate_payments::lnd::metrics::{CALL_DURATION_SECONDS, CALLS_TOTAL};

type Row = (String, Vec<(String, String)>, DebugValue);

fn run_recorded(f: impl std::future::Future<Output = ()>) -> Vec<Row> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        // A current-thread runtime keeps every poll inside this closure,
        // where the local recorder is installed.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f);
    });
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            (key.key().name().to_owned(), labels, value)
        })
        .collect()
}

fn labels(op: &str, outcome: &str) -> Vec<(String, String)> {
    vec![
        ("op".to_string(), op.to_string()),
        ("outcome".to_string(), outcome.to_string()),
    ]
}

#[test]
fn calls_are_counted_by_method_and_outcome() {
    let rows = run_recorded(async {
        let net = common::TestNet::start().await;
        let invoice = net
            .broker
            .add_invoice(1_000, "m", common::EXPIRY)
            .await
            .expect("AddInvoice");
        net.broker
            .lookup_invoice(&invoice.payment_hash)
            .await
            .expect("lookup");
        net.broker
            .lookup_invoice(&PaymentHash([9; 32]))
            .await
            .expect_err("unknown");
        net.payer
            .pay_invoice(&invoice.payment_request, 1_000, common::WAIT)
            .await
            .expect("paid");
        net.shutdown().await;
    });
    let counter = |op: &str, outcome: &str| {
        rows.iter()
            .find_map(|(n, l, v)| match v {
                DebugValue::Counter(c) if n == CALLS_TOTAL && *l == labels(op, outcome) => Some(*c),
                _ => None,
            })
            .unwrap_or(0)
    };
    assert_eq!(counter("AddInvoice", "ok"), 1);
    assert_eq!(counter("LookupInvoice", "ok"), 1);
    assert_eq!(counter("SendPaymentV2", "ok"), 1);
    assert_eq!(counter("LookupInvoice", "not_found"), 1, "{rows:?}");
    assert_eq!(counter("LookupInvoice", "rejected"), 0);
    let histogram = rows.iter().any(|(n, l, v)| {
        n == CALL_DURATION_SECONDS
            && *l == labels("AddInvoice", "ok")
            && matches!(v, DebugValue::Histogram(h) if h.len() == 1)
    });
    assert!(histogram, "latency recorded");
    // Nothing high-cardinality: only `op` and `outcome` labels.
    assert!(
        rows.iter()
            .all(|(_, l, _)| l.iter().all(|(k, _)| k == "op" || k == "outcome"))
    );
}
