//! The metrics a user scrapes: names, labels and counts, recorded with a
//! local debugging recorder around real store operations.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use shardgate_core::ContentId;

use crate::config::ProviderConfig;
use crate::metrics::{BYTES_TOTAL, REPAIRS_TOTAL, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL};
use crate::store::ShardStore;
use crate::store_tests::shard;

/// (name, sorted labels) → value, for easy lookups.
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

fn counter(rows: &[Row], name: &str, labels: &[(&str, &str)]) -> u64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    rows.iter()
        .find_map(|(n, l, v)| match v {
            DebugValue::Counter(c) if n == name && *l == want => Some(*c),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn store_operations_are_counted_with_low_cardinality_labels() {
    let obj = shard(5, 0, 2, 1, 512);
    let len = obj.len() as u64;
    let rows = run_recorded(async move {
        let store = ShardStore::from_config(&ProviderConfig::memory("mem-metrics")).expect("store");
        store.put_shard(obj.clone()).await.expect("put");
        store.put_shard(obj.clone()).await.expect("re-put");
        store
            .get_shard(&ContentId::of(&5u64.to_le_bytes()), 0)
            .await
            .expect("get");
        let missing = ContentId::of(b"missing");
        store.get_shard(&missing, 0).await.expect_err("missing");
        // Tamper, then repair.
        let key = store.shard_key(&ContentId::of(&5u64.to_le_bytes()), 0);
        store
            .operator()
            .write(&key, vec![0u8; 10])
            .await
            .expect("raw write");
        store.put_shard(obj).await.expect("repair");
    });
    let p = ("provider", "mem-metrics");
    assert_eq!(
        counter(
            &rows,
            REQUESTS_TOTAL,
            &[p, ("operation", "put"), ("outcome", "ok")]
        ),
        3
    );
    assert_eq!(
        counter(
            &rows,
            REQUESTS_TOTAL,
            &[p, ("operation", "get"), ("outcome", "ok")]
        ),
        1
    );
    assert_eq!(
        counter(
            &rows,
            REQUESTS_TOTAL,
            &[p, ("operation", "get"), ("outcome", "not_found")]
        ),
        1
    );
    assert_eq!(counter(&rows, REPAIRS_TOTAL, &[p]), 1);
    // Written twice (create + repair; the identical re-put writes nothing).
    assert_eq!(
        counter(&rows, BYTES_TOTAL, &[p, ("direction", "write")]),
        2 * len
    );
    // Read: the get, the re-put comparing the existing copy, and the
    // 10 tampered bytes the repair looked at.
    assert_eq!(
        counter(&rows, BYTES_TOTAL, &[p, ("direction", "read")]),
        2 * len + 10
    );
    assert!(
        rows.iter().any(|(n, _, v)| n == REQUEST_DURATION_SECONDS
            && matches!(v, DebugValue::Histogram(h) if !h.is_empty())),
        "latency histogram recorded"
    );
    for (name, labels, _) in &rows {
        for (k, v) in labels {
            assert!(
                ["provider", "operation", "outcome", "direction"].contains(&k.as_str()),
                "{name}: label {k}"
            );
            assert!(
                !v.contains("shards/") && v.len() < 40,
                "{name}: high-cardinality value {v}"
            );
        }
    }
}
