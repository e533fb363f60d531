//! A share's download counter: taken only while the share is live (also
//! under concurrency), given back after a refused download, and kept
//! across a reopen.

use std::sync::Arc;

use super::Harness;
use super::fixtures::tid;
use super::share_fixtures::{NOW, create, downloads, share, shared_blob, sid, take};
use crate::{Index, IndexError, ShareRecord, ShareState};

fn unavailable(state: ShareState) -> IndexError {
    IndexError::ShareUnavailable { state }
}

/// Downloads count up to `max_downloads` (0 = unlimited), then the share
/// is used up; an expired or revoked share gives nothing, revoked winning
/// over expired over used up. A refusal writes nothing, is not temporary,
/// and an unknown id is `NotFound`.
pub async fn take_share_download_counts_and_refuses_unavailable(index: Arc<dyn Index>) {
    let a = tid("alice");
    let blob = shared_blob(&index, &a, "doc").await;

    create(&index, "two", &a, &blob, 2).await;
    assert_eq!(take(&index, "two", NOW).await.unwrap(), 1);
    assert_eq!(take(&index, "two", NOW).await.unwrap(), 2);
    let spent = take(&index, "two", NOW).await;
    assert_eq!(spent, Err(unavailable(ShareState::UsedUp)));
    let err = spent.unwrap_err();
    assert!(!err.is_temporary());
    assert_eq!(err.to_string(), "share used up");
    assert_eq!(downloads(&index, "two").await, 2);

    let expiring = ShareRecord {
        expires_at_unix_ms: Some(NOW + 100),
        ..share("exp", &a, &blob, 0)
    };
    index.create_share(expiring).await.unwrap();
    assert_eq!(take(&index, "exp", NOW + 99).await.unwrap(), 1);
    let late = take(&index, "exp", NOW + 100).await;
    assert_eq!(late, Err(unavailable(ShareState::Expired)));
    assert_eq!(late.unwrap_err().to_string(), "share expired");
    assert_eq!(downloads(&index, "exp").await, 1);

    // Used up, expired and revoked at once: revoked is the reason given.
    let all_three = ShareRecord {
        expires_at_unix_ms: Some(NOW + 10),
        ..share("all", &a, &blob, 1)
    };
    index.create_share(all_three).await.unwrap();
    take(&index, "all", NOW).await.unwrap();
    let r = take(&index, "all", NOW + 10).await;
    assert_eq!(
        r,
        Err(unavailable(ShareState::Expired)),
        "expired over used up"
    );
    index.revoke_share(&a, &sid("all"), NOW + 11).await.unwrap();
    let r = take(&index, "all", NOW + 12).await;
    assert_eq!(r, Err(unavailable(ShareState::Revoked)));
    assert_eq!(r.unwrap_err().to_string(), "share revoked");

    create(&index, "free", &a, &blob, 0).await;
    for expected in 1..=30 {
        assert_eq!(take(&index, "free", NOW).await, Ok(expected), "unlimited");
    }

    let r = take(&index, "nope", NOW).await;
    assert!(matches!(r, Err(IndexError::NotFound { .. })), "{r:?}");
}

/// A download given back can be taken again; the counter never goes below
/// 0, and giving one back does not revive an expired or revoked share.
pub async fn return_share_download_gives_one_back(index: Arc<dyn Index>) {
    let a = tid("alice");
    let blob = shared_blob(&index, &a, "doc").await;
    create(&index, "one", &a, &blob, 1).await;
    take(&index, "one", NOW).await.unwrap();
    assert_eq!(
        take(&index, "one", NOW).await,
        Err(unavailable(ShareState::UsedUp))
    );
    index.return_share_download(&sid("one")).await.unwrap();
    assert_eq!(downloads(&index, "one").await, 0);
    assert_eq!(
        take(&index, "one", NOW).await.unwrap(),
        1,
        "the download given back is taken again"
    );
    for _ in 0..3 {
        index.return_share_download(&sid("one")).await.unwrap();
    }
    assert_eq!(downloads(&index, "one").await, 0, "floor at 0");

    index.revoke_share(&a, &sid("one"), NOW).await.unwrap();
    index.return_share_download(&sid("one")).await.unwrap();
    assert_eq!(
        take(&index, "one", NOW).await,
        Err(unavailable(ShareState::Revoked))
    );
    let r = index.return_share_download(&sid("nope")).await;
    assert!(matches!(r, Err(IndexError::NotFound { .. })), "{r:?}");
}

/// Concurrent downloads of a share.
const RACERS: u32 = 50;
/// The share's limit, below `RACERS`.
const RACE_LIMIT: u32 = 20;

/// Many downloads racing for a share with 20 downloads: exactly 20 get
/// through, each seeing its own count, the rest are told it is used up.
pub async fn concurrent_take_share_download_never_exceeds_max(index: Arc<dyn Index>) {
    let a = tid("alice");
    let blob = shared_blob(&index, &a, "doc").await;
    create(&index, "race", &a, &blob, RACE_LIMIT).await;
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let index = Arc::clone(&index);
            tokio::spawn(async move { index.take_share_download(&sid("race"), NOW).await })
        })
        .collect();
    let (mut granted, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(record) => granted.push(record.downloads),
            Err(IndexError::ShareUnavailable {
                state: ShareState::UsedUp,
            }) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    granted.sort_unstable();
    assert_eq!(granted, (1..=RACE_LIMIT).collect::<Vec<_>>());
    assert_eq!(refused, RACERS - RACE_LIMIT);
    let stored = index.share(&sid("race")).await.unwrap().unwrap();
    assert_eq!(stored.downloads, RACE_LIMIT);
}

/// Shares (with their counters and revocation) survive dropping the index
/// and opening the store again.
pub async fn shares_survive_reopen<H: Harness>(harness: &H) {
    let store = harness.create_store().await;
    let a = tid("alice");
    let (kept, revoked);
    {
        let index = harness.open(&store).await;
        let blob = shared_blob(&index, &a, "doc").await;
        create(&index, "kept", &a, &blob, 3).await;
        kept = index.take_share_download(&sid("kept"), NOW).await.unwrap();
        create(&index, "revoked", &a, &blob, 0).await;
        revoked = index
            .revoke_share(&a, &sid("revoked"), NOW)
            .await
            .unwrap()
            .expect("revoked");
    }
    let index = harness.open(&store).await;
    assert_eq!(index.share(&sid("kept")).await.unwrap(), Some(kept.clone()));
    let mut expected = vec![kept, revoked];
    expected.sort_by_key(|s| s.share_id);
    assert_eq!(
        index.list_shares(&a, None, None, 10).await.unwrap(),
        expected
    );
}
