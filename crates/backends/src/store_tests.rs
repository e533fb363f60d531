//! ShardStore semantics on the two providers that need no peers (memory and
//! a temp directory), including the non-conditional put path (forced with a
//! capability override, as the B2 profile does).

use std::time::Duration;

use bytes::Bytes;
use opendal::Operator;
use opendal::layers::CapabilityOverrideLayer;
use shardgate_core::{ContentId, encode_shard_object};

use crate::config::{ProviderConfig, ProviderKind, ProviderLimits};
use crate::error::BackendErrorKind;
use crate::store::{PutOutcome, ShardStore};

/// A valid shard object: shard `index` of a `k + m` coding of a chunk whose
/// id derives from `seed`, with a `body_len`-byte body.
pub(crate) fn shard(seed: u64, index: u8, k: u8, m: u8, body_len: usize) -> Bytes {
    let chunk_id = ContentId::of(&seed.to_le_bytes());
    let body: Vec<u8> = (0..body_len)
        .map(|i| (i as u64 ^ seed).wrapping_mul(31) as u8)
        .collect();
    let chunk_len = u32::try_from(body_len * usize::from(k)).expect("test sizes fit");
    Bytes::from(encode_shard_object(chunk_id, index, k, m, chunk_len, &body))
}

fn chunk_of(seed: u64) -> ContentId {
    ContentId::of(&seed.to_le_bytes())
}

fn memory() -> ShardStore {
    ShardStore::from_config(&ProviderConfig {
        prefix: "t".into(),
        ..ProviderConfig::memory("mem")
    })
    .expect("memory store")
}

fn fs(dir: &tempfile::TempDir) -> ShardStore {
    ShardStore::from_config(&ProviderConfig {
        name: "disk".into(),
        weight: 1.0,
        prefix: "sg".into(),
        kind: ProviderKind::Fs {
            root: dir.path().to_path_buf(),
        },
        limits: ProviderLimits::default(),
    })
    .expect("fs store")
}

/// Memory without conditional writes: exercises read-then-write puts.
fn memory_unconditional() -> ShardStore {
    let op = Operator::new(opendal::services::Memory::default())
        .expect("memory")
        .layer(CapabilityOverrideLayer::new(|mut c| {
            c.write_with_if_not_exists = false;
            c
        }));
    ShardStore::new("mem-nc", "", op)
}

async fn put_semantics(store: ShardStore) {
    let obj = shard(1, 0, 2, 1, 4096);
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("put"),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("re-put"),
        PutOutcome::AlreadyPresent
    );
    let got = store.get_shard(&chunk_of(1), 0).await.expect("get");
    assert_eq!(got.object(), &obj);
    assert_eq!(got.header.index, 0);

    // Tamper through the raw operator: one flipped body byte.
    let key = store.shard_key(&chunk_of(1), 0);
    let mut bad = obj.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    store.operator().write(&key, bad).await.expect("raw write");
    let err = store
        .get_shard(&chunk_of(1), 0)
        .await
        .expect_err("tampered");
    assert_eq!(err.kind(), &BackendErrorKind::Corrupt);
    assert_eq!(err.provider(), store.name());
    assert_eq!(err.key(), Some(key.as_str()));

    // A put over the corrupt object repairs it.
    assert_eq!(
        store.put_shard(obj.clone()).await.expect("repair"),
        PutOutcome::Repaired
    );
    assert_eq!(
        store
            .get_shard(&chunk_of(1), 0)
            .await
            .expect("get")
            .object(),
        &obj
    );

    // A valid but different shard for the same key (other k, m) is not overwritten.
    let other = shard(1, 0, 3, 2, 4096);
    let err = store.put_shard(other).await.expect_err("conflict");
    assert_eq!(err.kind(), &BackendErrorKind::Conflict);
    assert_eq!(
        store
            .get_shard(&chunk_of(1), 0)
            .await
            .expect("still ours")
            .object(),
        &obj
    );

    // A valid shard stored under the wrong key is corrupt for that key.
    let moved_key = store.shard_key(&chunk_of(1), 1);
    store
        .operator()
        .write(&moved_key, obj.to_vec())
        .await
        .expect("raw write");
    let err = store
        .get_shard(&chunk_of(1), 1)
        .await
        .expect_err("misplaced");
    assert_eq!(err.kind(), &BackendErrorKind::Corrupt);

    // Invalid objects are refused before any I/O.
    let err = store
        .put_shard(Bytes::from_static(b"not a shard"))
        .await
        .expect_err("invalid");
    assert_eq!(err.kind(), &BackendErrorKind::Corrupt);
}

async fn read_semantics(store: ShardStore) {
    let obj = shard(7, 2, 2, 1, 1000);
    store.put_shard(obj.clone()).await.expect("put");
    let key = store.shard_key(&chunk_of(7), 2);
    assert_eq!(store.head(&key).await.expect("head").size, obj.len() as u64);
    assert_eq!(
        store.get_range(&key, 10..50).await.expect("range"),
        obj.slice(10..50)
    );
    let end = obj.len() as u64;
    assert_eq!(
        store
            .get_range(&key, end - 1..end)
            .await
            .expect("last byte"),
        obj.slice(obj.len() - 1..)
    );
    let err = store
        .get_range(&key, end - 1..end + 10)
        .await
        .expect_err("past end");
    assert_eq!(err.kind(), &BackendErrorKind::InvalidRange);

    let missing = store.shard_key(&chunk_of(8), 0);
    assert!(
        store
            .head(&missing)
            .await
            .expect_err("missing")
            .is_not_found()
    );
    assert!(
        store
            .get_shard(&chunk_of(8), 0)
            .await
            .expect_err("missing")
            .is_not_found()
    );

    store.put_shard(shard(9, 0, 2, 1, 100)).await.expect("put");
    let keys = store.list_all("shards/").await.expect("list");
    assert_eq!(keys, {
        let mut v = vec![key.clone(), store.shard_key(&chunk_of(9), 0)];
        v.sort();
        v
    });

    store.delete(&key).await.expect("delete");
    store
        .delete(&key)
        .await
        .expect("delete of a missing object is fine");
    assert!(store.head(&key).await.expect_err("gone").is_not_found());
    assert_eq!(store.list_all("shards/").await.expect("list").len(), 1);
}

#[tokio::test]
async fn memory_put_semantics() {
    put_semantics(memory()).await;
}

#[tokio::test]
async fn memory_without_conditional_writes_put_semantics() {
    let store = memory_unconditional();
    assert!(!store.capability().write_with_if_not_exists);
    put_semantics(store).await;
}

#[tokio::test]
async fn fs_put_semantics() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_semantics(fs(&dir)).await;
}

#[tokio::test]
async fn memory_read_semantics() {
    read_semantics(memory()).await;
}

#[tokio::test]
async fn fs_read_semantics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fs(&dir);
    read_semantics(store.clone()).await;
    // The object really is a file under <root>/<prefix>/shards/.
    let key = store.shard_key(&chunk_of(9), 0);
    assert!(dir.path().join(&key).is_file(), "{key} not on disk");
}

#[tokio::test]
async fn presign_follows_capability() {
    let store = memory();
    assert!(!store.capability().presign_read);
    let err = store
        .presign_get("x", Duration::from_secs(60))
        .await
        .expect_err("memory cannot presign");
    assert_eq!(err.kind(), &BackendErrorKind::Unsupported);
}

/// opendal's azblob "presigns" with a SAS token by appending the token
/// itself, so an `azblob` store never offers presigned URLs. Building the
/// store talks to nobody, so no peer is needed.
#[tokio::test]
async fn azblob_never_presigns_not_even_with_a_sas_token() {
    use crate::secret::Secret;
    let store = ShardStore::from_config(&ProviderConfig {
        name: "az".into(),
        weight: 1.0,
        prefix: String::new(),
        kind: ProviderKind::Azblob {
            container: "shards".into(),
            endpoint: "http://127.0.0.1:9/devstoreaccount1".into(),
            account_name: "devstoreaccount1".into(),
            account_key: None,
            sas_token: Some(Secret::new("sv=2021-08-06&sr=c&sp=racwdl&sig=x".into())),
        },
        limits: ProviderLimits::default(),
    })
    .expect("azblob store");
    assert!(!store.capability().presign_read);
    let err = store
        .presign_get("shards/x", Duration::from_secs(60))
        .await
        .expect_err("azblob must not presign");
    assert_eq!(err.kind(), &BackendErrorKind::Unsupported);
}

#[tokio::test]
async fn concurrent_puts_of_the_same_shard_all_succeed() {
    for store in [memory(), memory_unconditional()] {
        let obj = shard(42, 1, 2, 1, 2048);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (s, o) = (store.clone(), obj.clone());
                tokio::spawn(async move { s.put_shard(o).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.expect("join").expect("put") {
                PutOutcome::Created => created += 1,
                PutOutcome::AlreadyPresent => {}
                PutOutcome::Repaired => panic!("nothing was corrupt"),
            }
        }
        assert!(created >= 1);
        assert_eq!(
            store
                .get_shard(&chunk_of(42), 1)
                .await
                .expect("get")
                .object(),
            &obj
        );
    }
}

#[tokio::test]
async fn oversized_and_empty_objects_are_corrupt_and_get_replaced() {
    let store = memory();
    let obj = shard(77, 0, 2, 1, 256);
    let key = store.shard_key(&chunk_of(77), 0);
    let limit = crate::store::max_shard_object_len();
    let len = usize::try_from(limit).expect("fits") + 1;
    for (what, junk) in [("oversized", vec![0u8; len]), ("empty", Vec::new())] {
        store.operator().write(&key, junk).await.expect("raw write");
        let err = store.get_shard(&chunk_of(77), 0).await.expect_err(what);
        assert_eq!(err.kind(), &BackendErrorKind::Corrupt, "{what}: {err}");
        assert_eq!(
            store.put_shard(obj.clone()).await.expect(what),
            PutOutcome::Repaired,
            "{what}"
        );
        assert_eq!(
            store
                .get_shard(&chunk_of(77), 0)
                .await
                .expect(what)
                .object(),
            &obj
        );
    }
}
