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
