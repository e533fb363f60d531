//! Runs the whole conformance suite against `RedbIndex`, each case on a
//! fresh database file in its own temp dir.

use std::sync::Arc;

use shardgate_index::conformance::Harness;
use shardgate_index::{Index, IndexError, RedbIndex};

struct RedbHarness;

impl Harness for RedbHarness {
    type Store = tempfile::TempDir;

    async fn create_store(&self) -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    async fn open(&self, store: &tempfile::TempDir) -> Arc<dyn Index> {
        Arc::new(
            RedbIndex::open(store.path())
                .await
                .expect("open redb index"),
        )
    }
}

shardgate_index::conformance_tests!(RedbHarness);

/// redb locks its file: a second handle on the same data dir is refused
/// with a retryable storage error rather than corrupting it.
#[tokio::test]
async fn second_open_of_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedbIndex::open(dir.path()).await.unwrap();
    let second = RedbIndex::open(dir.path()).await;
    assert!(
        matches!(second, Err(IndexError::Storage { .. })),
        "{second:?}"
    );
    assert!(first.path().ends_with("index.redb"));
    drop(first);
    RedbIndex::open(dir.path())
        .await
        .expect("free again after drop");
}

/// Set for the child process of `commits_survive_a_process_kill`.
const KILL_CHILD_DIR: &str = "SHARDGATE_INDEX_KILL_CHILD_DIR";

/// A committed blob survives the process dying right after `commit_blob`
/// returns, with no destructor run (redb commits with
/// `Durability::Immediate`: fsynced before commit returns).
#[tokio::test]
async fn commits_survive_a_process_kill() {
    use shardgate_index::conformance::fixtures::{refcount, tid};
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            // Module-qualified: this file is a module of the `it` binary.
            "redb::kill_child_commits_then_aborts",
            "--nocapture",
        ])
        .env(KILL_CHILD_DIR, dir.path())
        .output()
        .expect("run child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "child must die, not exit: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("COMMITTED "))
        .unwrap_or_else(|| panic!("child did not commit: {stdout}"));

    let index: Arc<dyn Index> = Arc::new(RedbIndex::open(dir.path()).await.unwrap());
    let id: shardgate_core::ContentId = line.trim().parse().unwrap();
    let blob = index.blob(&tid("killed"), &id).await.unwrap();
    assert_eq!(blob.map(|b| b.name), Some("survivor".to_string()));
    assert_eq!(refcount(&index, "k").await, Some(1));
}

#[tokio::test]
#[ignore = "child process of commits_survive_a_process_kill: aborts the process"]
async fn kill_child_commits_then_aborts() {
    use shardgate_index::conformance::fixtures::{commit, tenant, tid};
    use std::io::Write;
    let dir = std::env::var_os(KILL_CHILD_DIR).expect("run by commits_survive_a_process_kill");
    let index: Arc<dyn Index> = Arc::new(RedbIndex::open(dir).await.unwrap());
    index
        .create_tenant(tenant("killed", 1 << 40))
        .await
        .unwrap();
    let new = commit(&index, &tid("killed"), "survivor", &["k"]).await;
    println!("COMMITTED {}", new.blob.blob_id);
    std::io::stdout().flush().unwrap();
    // No drop, no clean close: like a crash right after the commit.
    std::process::abort();
}
