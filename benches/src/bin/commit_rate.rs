//! Measures `commit_blob` throughput of `RedbIndex` on the local disk:
//! sequential (one fsync per commit) and from concurrent tasks.
//!
//! `cargo run --release -p shardgate-benches --bin commit_rate -- [COMMITS] [TASKS]`

use std::sync::Arc;
use std::time::Instant;

use shardgate_index::conformance::fixtures::{commit, tenant, tid};
use shardgate_index::{Index, RedbIndex};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let commits: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir().expect("temp dir");
    let index: Arc<dyn Index> = Arc::new(RedbIndex::open(dir.path()).await.expect("open"));
    index
        .create_tenant(tenant("bench", u64::MAX))
        .await
        .expect("tenant");

    let start = Instant::now();
    for i in 0..commits {
        let seed = format!("seq-{i}");
        commit(&index, &tid("bench"), &seed, &["shared", seed.as_str()]).await;
    }
    let seq = start.elapsed();

    let start = Instant::now();
    let per_task = commits / tasks.max(1);
    let mut handles = Vec::new();
    for task in 0..tasks {
        let index = Arc::clone(&index);
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let seed = format!("par-{task}-{i}");
                commit(&index, &tid("bench"), &seed, &["shared", seed.as_str()]).await;
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let par = start.elapsed();
    let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "sequential: {commits} commits in {seq:.2?} ({:.0}/s); {tasks} tasks: {} commits in {par:.2?} ({:.0}/s)",
        rate(commits, seq),
        per_task * tasks,
        rate(per_task * tasks, par)
    );
}
