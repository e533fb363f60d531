//! Shares: create rules and round trip, listing, revocation, and shares
//! going with their blob.

use std::sync::Arc;

use super::fixtures::{commit, tid};
use super::share_fixtures::{NOW, create, listed, share, shared_blob, sid};
use crate::{
    Index, IndexError, MAX_SHARE_SEALED_NAME_LEN, MAX_SHARE_WRAPPED_KEY_LEN, ShareId, ShareRecord,
    ShareState,
};

/// Every field reads back as written (an end-to-end share with both boxes,
/// a price and an expiry), and the maintained ones as the index moved
/// them. A blob of another tenant or no blob is `NotFound`, a taken id
/// `AlreadyExists`, out-of-bounds sizes and non-fresh counters `Invalid`;
/// each writes nothing.
pub async fn share_round_trip_and_create_rules(index: Arc<dyn Index>) {
    let (a, b) = (tid("alice"), tid("bob"));
    let blob = shared_blob(&index, &a, "doc").await;
    let bobs = shared_blob(&index, &b, "other").await;
    let full = ShareRecord {
        wrapped_key: Some(vec![0xa5; MAX_SHARE_WRAPPED_KEY_LEN]),
        sealed_name: Some(vec![0x5a; MAX_SHARE_SEALED_NAME_LEN]),
        price_msat: Some(u64::MAX),
        expires_at_unix_ms: Some(NOW + 60_000),
        ..share("full", &a, &blob, 5)
    };
    index.create_share(full.clone()).await.expect("create");
    assert_eq!(index.share(&sid("full")).await.unwrap(), Some(full.clone()));
    assert_eq!(index.share(&sid("nope")).await.unwrap(), None);

    let taken = index.take_share_download(&sid("full"), NOW).await.unwrap();
    let revoked = index.revoke_share(&a, &sid("full"), NOW + 7).await.unwrap();
    let expected = ShareRecord {
        downloads: 1,
        revoked_at_unix_ms: Some(NOW + 7),
        ..full.clone()
    };
    assert_eq!(taken.downloads, 1);
    assert_eq!(revoked, Some(expected.clone()));
    assert_eq!(
        index.share(&sid("full")).await.unwrap(),
        Some(expected.clone())
    );

    let dup = index.create_share(share("full", &b, &bobs, 0)).await;
    assert!(
        matches!(dup, Err(IndexError::AlreadyExists { .. })),
        "{dup:?}"
    );
    assert_eq!(
        index.share(&sid("full")).await.unwrap(),
        Some(expected),
        "a refused duplicate leaves the first record"
    );

    for (why, record) in [
        ("another tenant's blob", share("x", &a, &bobs, 0)),
        (
            "a missing blob",
            share("x", &a, &super::fixtures::cid("none"), 0),
        ),
        ("a missing tenant", share("x", &tid("carol"), &blob, 0)),
    ] {
        let r = index.create_share(record).await;
        assert!(
            matches!(r, Err(IndexError::NotFound { .. })),
            "{why}: {r:?}"
        );
    }
    let bad = [
        (
            "wrapped key too long",
            ShareRecord {
                wrapped_key: Some(vec![0; MAX_SHARE_WRAPPED_KEY_LEN + 1]),
                ..share("x", &a, &blob, 0)
            },
        ),
        (
            "sealed name too long",
            ShareRecord {
                sealed_name: Some(vec![0; MAX_SHARE_SEALED_NAME_LEN + 1]),
                ..share("x", &a, &blob, 0)
            },
        ),
        (
            "downloads != 0",
            ShareRecord {
                downloads: 1,
                ..share("x", &a, &blob, 0)
            },
        ),
        (
            "revoked already",
            ShareRecord {
                revoked_at_unix_ms: Some(NOW),
                ..share("x", &a, &blob, 0)
            },
        ),
    ];
    for (why, record) in bad {
        let r = index.create_share(record).await;
        assert!(matches!(r, Err(IndexError::Invalid { .. })), "{why}: {r:?}");
    }
    assert_eq!(
        index.share(&sid("x")).await.unwrap(),
        None,
        "nothing written"
    );
    assert_eq!(listed(&index, &a, None).await, [sid("full")]);
}

fn ids(shares: &[ShareRecord]) -> Vec<ShareId> {
    shares.iter().map(|s| s.share_id).collect()
}

/// `list_shares` returns the owner's shares (of one blob if asked) in
/// share id order, whatever their state, and pages with `after`.
pub async fn list_shares_pages_by_id_and_filters_by_blob(index: Arc<dyn Index>) {
    let (a, b) = (tid("alice"), tid("bob"));
    let (x, y) = (
        shared_blob(&index, &a, "x").await,
        shared_blob(&index, &a, "y").await,
    );
    let z = shared_blob(&index, &b, "z").await;
    let mut of_x = Vec::new();
    for i in 0..7 {
        of_x.push(create(&index, &format!("x{i}"), &a, &x, 0).await.share_id);
    }
    let mut all = of_x.clone();
    for i in 0..5 {
        all.push(create(&index, &format!("y{i}"), &a, &y, 0).await.share_id);
    }
    create(&index, "z0", &b, &z, 0).await;
    index.revoke_share(&a, &of_x[3], NOW).await.unwrap();
    of_x.sort_unstable();
    all.sort_unstable();

    assert_eq!(listed(&index, &a, None).await, all);
    assert_eq!(listed(&index, &a, Some(&x)).await, of_x);
    assert_eq!(listed(&index, &b, None).await, [sid("z0")]);
    assert!(
        listed(&index, &a, Some(&z)).await.is_empty(),
        "another tenant's blob lists nothing"
    );
    assert!(listed(&index, &tid("nobody"), None).await.is_empty());

    for (blob, expected) in [(None, &all), (Some(&x), &of_x)] {
        let mut pages = Vec::new();
        let mut after: Option<ShareId> = None;
        loop {
            let page = index
                .list_shares(&a, blob, after.as_ref(), 5)
                .await
                .unwrap();
            assert!(page.len() <= 5);
            pages.extend(ids(&page));
            match page.last() {
                Some(last) if page.len() == 5 => after = Some(last.share_id),
                _ => break,
            }
        }
        assert_eq!(&pages, expected, "pages of {blob:?}");
    }
    // A position, not an offset: a page after the last id is empty, and a
    // limit of 0 still returns one record.
    let last = all.last().unwrap();
    assert!(
        index
            .list_shares(&a, None, Some(last), 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(index.list_shares(&a, None, None, 0).await.unwrap().len(), 1);
}

/// Revocation sets the time once (later calls keep the first), is the
/// owner's alone (another owner, like an unknown id, gets `None` and
/// changes nothing), and stops downloads.
pub async fn revoke_share_is_idempotent_and_owner_only(index: Arc<dyn Index>) {
    let (a, b) = (tid("alice"), tid("bob"));
    let blob = shared_blob(&index, &a, "doc").await;
    shared_blob(&index, &b, "other").await;
    let fresh = create(&index, "s", &a, &blob, 0).await;

    assert_eq!(index.revoke_share(&b, &sid("s"), NOW).await.unwrap(), None);
    assert_eq!(
        index.revoke_share(&a, &sid("nope"), NOW).await.unwrap(),
        None
    );
    assert_eq!(index.share(&sid("s")).await.unwrap(), Some(fresh.clone()));

    let first = index.revoke_share(&a, &sid("s"), NOW + 1).await.unwrap();
    assert_eq!(first.map(|s| s.revoked_at_unix_ms), Some(Some(NOW + 1)));
    let again = index.revoke_share(&a, &sid("s"), NOW + 2).await.unwrap();
    assert_eq!(again.map(|s| s.revoked_at_unix_ms), Some(Some(NOW + 1)));
    let stored = index.share(&sid("s")).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at_unix_ms, Some(NOW + 1));
    assert_eq!(stored.state(NOW), ShareState::Revoked);

    let r = index.take_share_download(&sid("s"), NOW).await;
    assert_eq!(
        r,
        Err(IndexError::ShareUnavailable {
            state: ShareState::Revoked
        })
    );
}

/// Deleting a blob deletes its shares in the same transaction, and only
/// its own; committing the blob again does not bring them back. Deleting
/// the tenant afterwards leaves no share of it.
pub async fn deleting_a_blob_deletes_its_shares(index: Arc<dyn Index>) {
    let a = tid("alice");
    let x = shared_blob(&index, &a, "x").await;
    let y = shared_blob(&index, &a, "y").await;
    for seed in ["x0", "x1", "x2"] {
        create(&index, seed, &a, &x, 0).await;
    }
    let kept = create(&index, "y0", &a, &y, 0).await;

    assert!(index.delete_blob(&a, &x).await.unwrap());
    for seed in ["x0", "x1", "x2"] {
        assert_eq!(index.share(&sid(seed)).await.unwrap(), None, "{seed}");
        let r = index.take_share_download(&sid(seed), NOW).await;
        assert!(matches!(r, Err(IndexError::NotFound { .. })), "{r:?}");
        let r = index.return_share_download(&sid(seed)).await;
        assert!(matches!(r, Err(IndexError::NotFound { .. })), "{r:?}");
    }
    assert_eq!(listed(&index, &a, None).await, [kept.share_id]);
    assert!(listed(&index, &a, Some(&x)).await.is_empty());

    commit(&index, &a, "x", &["x"]).await;
    assert_eq!(index.share(&sid("x0")).await.unwrap(), None, "not revived");
    // A share id of a deleted share may be used again.
    create(&index, "x0", &a, &x, 0).await;

    assert!(index.delete_blob(&a, &x).await.unwrap());
    assert!(index.delete_blob(&a, &y).await.unwrap());
    index.delete_tenant(&a).await.unwrap();
    assert!(listed(&index, &a, None).await.is_empty());
    assert_eq!(index.share(&kept.share_id).await.unwrap(), None);
}

/// Rounds of racing creations of a share with the deletion of its blob.
const RACE_ROUNDS: usize = 12;

/// `create_share` racing `delete_blob`: the share is either refused
/// (`NotFound`) or created and then deleted with the blob; it never
/// outlives it.
pub async fn share_racing_blob_delete_never_outlives_it(index: Arc<dyn Index>) {
    let a = tid("alice");
    for round in 0..RACE_ROUNDS {
        let blob = shared_blob(&index, &a, "doc").await;
        let seed = format!("r{round}");
        let (creating, deleting) = (Arc::clone(&index), Arc::clone(&index));
        let record = share(&seed, &a, &blob, 0);
        let owner = a.clone();
        let create = tokio::spawn(async move { creating.create_share(record).await });
        let delete = tokio::spawn(async move { deleting.delete_blob(&owner, &blob).await });
        match create.await.expect("task ran") {
            Ok(()) | Err(IndexError::NotFound { .. }) => {}
            Err(other) => panic!("round {round}: unexpected error {other:?}"),
        }
        assert!(delete.await.expect("task ran").unwrap(), "round {round}");
        assert_eq!(
            index.share(&sid(&seed)).await.unwrap(),
            None,
            "round {round}"
        );
    }
    assert!(listed(&index, &a, None).await.is_empty());
}
