//! What only the PostgreSQL index has: several broker replicas on one
//! schema (migrations at start, shared state, the GC lease), and its own
//! failure modes (unreachable server, bad schema name, newer schema).

use crate::pg_schema;

use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_index::conformance::fixtures::{cid, commit, gc_pass, refcount, tenant, tid};
use shardgate_index::{Index, IndexError, PostgresIndex, PostgresOptions};

use pg_schema::Schema;

/// Replicas starting at the same moment on an empty schema: every one
/// connects, the migrations ran exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once() {
    let schema = Schema::fresh();
    let mut starts = Vec::new();
    for _ in 0..6 {
        let (url, options) = (schema.url.clone(), schema.options());
        starts.push(tokio::spawn(async move {
            PostgresIndex::connect(&url, options).await
        }));
    }
    for start in starts {
        start.await.expect("task").expect("every replica connects");
    }
    let rows = schema
        .sql()
        .await
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .expect("schema_version");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let expected: Vec<i32> = (1..=PostgresIndex::schema_version()).collect();
    assert_eq!(versions, expected);
}

/// Replica A writes, replica B (its own pool) reads the same state, and a
/// delete through B is seen by A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_schema() {
    let schema = Schema::fresh();
    let a: Arc<dyn Index> = Arc::new(schema.connect().await);
    let b: Arc<dyn Index> = Arc::new(schema.connect().await);
    a.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let blob = commit(&a, &t, "shared", &["x", "y"]).await;
    let seen = b.blob(&t, &blob.blob.blob_id).await.unwrap();
    assert_eq!(seen.map(|r| r.name), Some("shared".to_owned()));
    assert_eq!(refcount(&b, "x").await, Some(1));
    assert!(b.delete_blob(&t, &blob.blob.blob_id).await.unwrap());
    assert_eq!(a.blob(&t, &blob.blob.blob_id).await.unwrap(), None);
    assert_eq!(gc_pass(&a).await.len(), 2, "A collects what B released");
    assert_eq!(refcount(&b, "x").await, None);
}

fn quick_lease(schema: &Schema) -> PostgresOptions {
    PostgresOptions {
        gc_lease_wait: Duration::from_millis(300),
        ..schema.options()
    }
}

/// Only one replica runs a GC pass: while A has condemned chunks and not
/// finished them, B's condemn is refused (`Conflict`, nothing changed);
/// once A finishes, B may collect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_lease_keeps_a_second_replica_out_of_a_running_pass() {
    let schema = Schema::fresh();
    let a: Arc<dyn Index> = Arc::new(schema.connect().await);
    let b: Arc<dyn Index> = Arc::new(
        PostgresIndex::connect(&schema.url, quick_lease(&schema))
            .await
            .unwrap(),
    );
    a.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    for name in ["one", "two"] {
        let blob = commit(&a, &t, name, &[name]).await;
        a.delete_blob(&t, &blob.blob.blob_id).await.unwrap();
    }
    let condemned = a.gc_condemn(1).await.unwrap();
    assert_eq!(condemned.len(), 1);
    let epoch = a.gc_epoch().await.unwrap();

    let started = Instant::now();
    let refused = b.gc_condemn(10).await;
    assert!(
        matches!(&refused, Err(IndexError::Conflict { what }) if what.contains("GC lease")),
        "{refused:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "B waited for the lease"
    );
    assert_eq!(b.gc_epoch().await.unwrap(), epoch, "B changed nothing");
    let refused = b.gc_finish(&[condemned[0].chunk_id]).await;
    assert!(
        matches!(refused, Err(IndexError::Conflict { .. })),
        "{refused:?}"
    );
    assert!(refcount(&a, "one").await.is_some() || refcount(&a, "two").await.is_some());

    // A's pass goes on (its lease is re-entrant) and ends.
    assert_eq!(
        gc_pass(&a).await.len(),
        2,
        "the pending chunk, then the other"
    );
    assert!(
        a.gc_condemn(10).await.unwrap().is_empty(),
        "A is done: lease released"
    );
    assert!(
        b.gc_condemn(10).await.unwrap().is_empty(),
        "B may collect now"
    );
}

/// A replica that dies mid-pass loses its lease with its session; another
/// replica takes over and is handed the unfinished condemnations first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_lease_moves_on_when_a_replica_dies() {
    let schema = Schema::fresh();
    let b: Arc<dyn Index> = Arc::new(schema.connect().await);
    {
        let a: Arc<dyn Index> = Arc::new(schema.connect().await);
        a.create_tenant(tenant("t", 1 << 40)).await.unwrap();
        let t = tid("t");
        let blob = commit(&a, &t, "doomed", &["d"]).await;
        a.delete_blob(&t, &blob.blob.blob_id).await.unwrap();
        assert_eq!(a.gc_condemn(10).await.unwrap().len(), 1);
        // A goes away without finishing.
    }
    let pending = b.gc_condemn(10).await.expect("B takes the lease over");
    assert_eq!(
        pending.iter().map(|c| c.chunk_id).collect::<Vec<_>>(),
        [cid("d")]
    );
    b.gc_finish(&[cid("d")]).await.unwrap();
    assert_eq!(refcount(&b, "d").await, None);
}

/// Two replicas racing for the last use of a one-use invoice: exactly one
/// gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_never_both_take_the_last_use() {
    use shardgate_index::{InvoiceProgress, InvoiceRecord};
    let schema = Schema::fresh();
    let a: Arc<dyn Index> = Arc::new(schema.connect().await);
    let b: Arc<dyn Index> = Arc::new(schema.connect().await);
    for round in 0u8..20 {
        let hash = [round; 32];
        a.insert_invoice(InvoiceRecord {
            payment_hash: hash,
            blob_id: cid("blob"),
            owner: tid("t"),
            range_offset: 0,
            range_length: u64::MAX,
            amount_msat: u64::MAX,
            uses: 1,
            used: 0,
            hold: false,
            token_id: [7; 32],
            payment_request: "lnbcrt1".to_owned(),
            created_at_unix_ms: 1,
            expires_at_unix_ms: 2,
            credential_expires_at_unix_ms: 3,
            hold_accepted_at_unix_ms: None,
            progress: InvoiceProgress::Issued,
        })
        .await
        .unwrap();
        let (ra, rb) = tokio::join!(a.reserve_use(&hash), b.reserve_use(&hash));
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} / {rb:?}");
        let lost = if ra.is_ok() { rb } else { ra };
        assert_eq!(lost, Err(IndexError::UsesExhausted { used: 1, uses: 1 }));
        let stored = b.invoice(&hash).await.unwrap().unwrap();
        assert_eq!((stored.used, stored.amount_msat), (1, u64::MAX));
    }
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let schema = Schema::fresh();
    drop(schema.connect().await);
    let newer = PostgresIndex::schema_version() + 1;
    schema
        .sql()
        .await
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();
    let err = PostgresIndex::connect(&schema.url, schema.options())
        .await
        .expect_err("newer schema");
    assert!(
        matches!(&err, IndexError::Corrupt { what } if what.contains(&format!("version {newer}"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_options_and_unreachable_servers_are_told_apart() {
    let schema = Schema::fresh();
    for bad in ["", "Upper", "1st", "semi;colon", &"x".repeat(64)] {
        let options = PostgresOptions {
            schema: bad.to_owned(),
            ..schema.options()
        };
        let err = PostgresIndex::connect(&schema.url, options)
            .await
            .expect_err(bad);
        assert!(
            matches!(err, IndexError::Invalid { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = PostgresIndex::connect("postgres://u:hunter2@[bad", schema.options())
        .await
        .expect_err("malformed url");
    assert!(matches!(&err, IndexError::Invalid { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // Nothing listens on port 1.
    let options = PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        ..schema.options()
    };
    let err = PostgresIndex::connect("postgres://postgres:hunter2@127.0.0.1:1/test", options)
        .await
        .expect_err("unreachable");
    assert!(matches!(&err, IndexError::Storage { .. }), "{err:?}");
    assert!(err.is_temporary());
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// A rate booked through two replicas is one queue: 24 slots booked at once
/// through A and B, 40 ms apart on PostgreSQL's clock, come out spread over
/// 23 spacings, not as two queues of 12 side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_rate_queue() {
    use shardgate_index::SlotBooking;
    let schema = Schema::fresh();
    let a: Arc<dyn Index> = Arc::new(schema.connect().await);
    let b: Arc<dyn Index> = Arc::new(schema.connect().await);
    let spacing = Duration::from_millis(40);
    // Connections made first, so that no booking's return is late by a
    // connection set-up.
    for index in [&a, &b] {
        index
            .book_rate_slot("warm-up", spacing, Duration::from_secs(1))
            .await
            .expect("warm-up booking");
    }
    let mut bookings = Vec::new();
    for i in 0..24 {
        let index = if i % 2 == 0 { a.clone() } else { b.clone() };
        bookings.push(tokio::spawn(async move {
            let booked = index
                .book_rate_slot("node_invoices", spacing, Duration::from_secs(10))
                .await
                .expect("booking");
            let SlotBooking::Booked { wait } = booked else {
                panic!("refused within a 10 s wait: {booked:?}");
            };
            Instant::now() + wait
        }));
    }
    let mut slots = Vec::new();
    for booking in bookings {
        slots.push(booking.await.expect("task"));
    }
    slots.sort();
    let gaps: Vec<Duration> = slots.windows(2).map(|w| w[1] - w[0]).collect();
    let narrowest = gaps.iter().min().copied().unwrap_or_default();
    // Measured as each booking comes back, so a gap is off by the jitter
    // of two round trips; two queues would put slots in pairs, ~0 ms apart.
    assert!(
        narrowest >= Duration::from_millis(20),
        "slots through two replicas closer than the spacing: {gaps:?}"
    );
    let span = *slots.last().unwrap() - slots[0];
    assert!(
        span >= spacing * 22,
        "24 slots span at least 23 spacings: {span:?}"
    );
}
