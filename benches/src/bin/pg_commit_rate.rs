//! `commit_blob` throughput of `PostgresIndex` with several replicas: R
//! indexes (each its own pool, like R brokers) on one fresh schema, T
//! tasks per replica, every blob sharing one hot chunk plus one of its own
//! (the hot chunk's lock is the contention point), and a GC pass every
//! 50 ms meanwhile (it takes the GC state lock exclusively).
//!
//! `SHARDGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!  cargo run --release -p shardgate-benches --bin pg_commit_rate -- \
//!  [COMMITS] [REPLICAS] [TASKS_PER_REPLICA]`
//!
//! The scratch schema is dropped at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::tokio_postgres::NoTls;
use shardgate_index::conformance::fixtures::{commit, gc_pass, tenant, tid};
use shardgate_index::{Index, PostgresIndex, PostgresOptions};

#[tokio::main]
async fn main() {
    let url = std::env::var("SHARDGATE_TEST_POSTGRES_URL")
        .expect("set SHARDGATE_TEST_POSTGRES_URL to a database this user may create schemas in");
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (commits, replicas, tasks) = (arg(2000), arg(2), arg(8));
    let schema = format!("sg_bench_{}", std::process::id());
    let options = PostgresOptions {
        schema: schema.clone(),
        max_connections: tasks,
        ..PostgresOptions::default()
    };
    let mut indexes: Vec<Arc<dyn Index>> = Vec::new();
    for _ in 0..replicas.max(1) {
        let index = PostgresIndex::connect(&url, options.clone())
            .await
            .expect("connect");
        indexes.push(Arc::new(index));
    }
    indexes[0]
        .create_tenant(tenant("bench", u64::MAX))
        .await
        .expect("tenant");

    let done = Arc::new(AtomicBool::new(false));
    let gc = {
        let (index, done) = (Arc::clone(&indexes[0]), Arc::clone(&done));
        tokio::spawn(async move {
            let mut passes = 0u32;
            while !done.load(Ordering::Relaxed) {
                gc_pass(&index).await;
                passes += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            passes
        })
    };
    let workers = indexes.len() * tasks.max(1);
    let per_task = commits / workers;
    let start = Instant::now();
    let mut handles = Vec::new();
    for (r, index) in indexes.iter().enumerate() {
        for t in 0..tasks.max(1) {
            let index = Arc::clone(index);
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    let seed = format!("r{r}-t{t}-{i}");
                    commit(&index, &tid("bench"), &seed, &["hot", seed.as_str()]).await;
                }
            }));
        }
    }
    for h in handles {
        h.await.expect("task");
    }
    let took = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let passes = gc.await.expect("gc");
    let n = per_task * workers;
    println!(
        "{n} commits from {replicas} replicas x {tasks} tasks in {took:.2?}: {:.0} commits/s \
         ({passes} GC passes meanwhile)",
        n as f64 / took.as_secs_f64()
    );
    drop(indexes);

    let (client, connection) = deadpool_postgres::tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to drop the schema");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .expect("drop the bench schema");
}
