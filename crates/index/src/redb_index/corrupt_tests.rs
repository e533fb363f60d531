//! Damaged stored bytes surface as `Corrupt` through the async API, never
//! as a panic or a wrong answer.

use std::sync::Arc;

use super::RedbIndex;
use super::tables::{CHUNKS, SHARES, TENANTS, write};
use crate::{Index, IndexError, ShareId, TenantId};

async fn with_raw(dir: &std::path::Path, f: impl FnOnce(&redb::WriteTransaction) + Send + 'static) {
    let index = RedbIndex::open(dir).await.unwrap();
    let db = Arc::clone(&index.db);
    tokio::task::spawn_blocking(move || {
        write(&db, |txn| {
            f(txn);
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn unknown_record_version_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    with_raw(dir.path(), |txn| {
        let mut tenants = txn.open_table(TENANTS).unwrap();
        tenants.insert("future", [9u8, 1, 2, 3].as_slice()).unwrap();
        let mut chunks = txn.open_table(CHUNKS).unwrap();
        chunks.insert([7u8; 32], [1u8, 0].as_slice()).unwrap();
    })
    .await;
    let index = RedbIndex::open(dir.path()).await.unwrap();
    let err = index
        .tenant(&TenantId::new("future").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IndexError::Corrupt { what } if what.contains("version 9")),
        "{err}"
    );
    assert!(!err.is_temporary());
    assert!(matches!(
        index.list_tenants().await,
        Err(IndexError::Corrupt { .. })
    ));
    let id = shardgate_core::ContentId::from_bytes([7u8; 32]);
    assert!(matches!(
        index.live_chunks(&[id]).await,
        Err(IndexError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn damaged_share_records_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    with_raw(dir.path(), |txn| {
        let mut shares = txn.open_table(SHARES).unwrap();
        shares.insert([1u8; 16], [9u8, 1, 2].as_slice()).unwrap();
        shares.insert([2u8; 16], [1u8, 7].as_slice()).unwrap();
    })
    .await;
    let index = RedbIndex::open(dir.path()).await.unwrap();
    let err = index.share(&ShareId([1; 16])).await.unwrap_err();
    assert!(
        matches!(&err, IndexError::Corrupt { what } if what.contains("share record") && what.contains("version 9")),
        "{err}"
    );
    for id in [ShareId([1; 16]), ShareId([2; 16])] {
        for result in [
            index.take_share_download(&id, 0).await.map(|_| ()),
            index.return_share_download(&id).await,
        ] {
            assert!(
                matches!(result, Err(IndexError::Corrupt { .. })),
                "{result:?}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_schema_version_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    with_raw(dir.path(), |txn| {
        let mut meta = txn.open_table(super::tables::META).unwrap();
        meta.insert("schema_version", 99u64).unwrap();
    })
    .await;
    let err = RedbIndex::open(dir.path()).await.unwrap_err();
    assert!(
        matches!(&err, IndexError::Corrupt { what } if what.contains("99")),
        "{err}"
    );
}
