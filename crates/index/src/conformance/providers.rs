//! Providers: registry records and the per-provider shard listing.

use std::sync::Arc;

use shardgate_core::ContentId;

use super::fixtures::{cid, commit, gc_pass, new_blob, tenant, tid};
use crate::{
    CommitOutcome, Index, IndexError, ProviderRecord, ProviderState, ShardLocation, ShardUpdate,
};

fn provider(name: &str, weight: f64) -> ProviderRecord {
    ProviderRecord {
        name: name.into(),
        config_sealed: format!("sealed:{name}").into_bytes(),
        weight,
        state: ProviderState::Active,
    }
}

/// Providers are stored, listed by name, updated in place and removed.
pub async fn providers_crud(index: Arc<dyn Index>) {
    for name in ["s3-b", "gcs-a", "b2-c"] {
        index.put_provider(provider(name, 1.0)).await.unwrap();
    }
    let names: Vec<String> = index
        .providers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["b2-c", "gcs-a", "s3-b"], "ordered by name");

    let draining = ProviderRecord {
        state: ProviderState::Draining,
        weight: 0.5,
        ..provider("gcs-a", 0.0)
    };
    index.put_provider(draining.clone()).await.unwrap();
    let all = index.providers().await.unwrap();
    assert_eq!(all.len(), 3, "put replaces by name");
    assert_eq!(all.iter().find(|p| p.name == "gcs-a"), Some(&draining));

    index.remove_provider("s3-b").await.unwrap();
    assert!(
        index
            .providers()
            .await
            .unwrap()
            .iter()
            .all(|p| p.name != "s3-b")
    );
    assert!(matches!(
        index.remove_provider("s3-b").await,
        Err(IndexError::NotFound { .. })
    ));
    for bad in [
        provider("x", f64::NAN),
        provider("x", -1.0),
        provider("", 1.0),
    ] {
        assert!(matches!(
            index.put_provider(bad).await,
            Err(IndexError::Invalid { .. })
        ));
    }
    assert_eq!(index.providers().await.unwrap().len(), 2);
}

async fn listed(index: &Arc<dyn Index>, provider: &str, limit: usize) -> Vec<ContentId> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let page = index
            .shards_on_provider(provider, after, limit)
            .await
            .unwrap();
        assert!(page.len() <= limit);
        match page.last() {
            Some(last) => after = Some(last.chunk_id),
            None => return all,
        }
        all.extend(page.iter().map(|c| c.chunk_id));
    }
}

/// `shards_on_provider` pages through every chunk with a shard on a
/// provider, by chunk id, each exactly once.
pub async fn shards_on_provider_pages(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    let seeds = ["a", "b", "c", "d", "e"];
    commit(&index, &t, "five", &seeds).await; // all on p0, p1, p2
    let mut expected: Vec<ContentId> = seeds.iter().map(|s| cid(s)).collect();
    expected.sort();

    assert_eq!(
        listed(&index, "p0", 2).await,
        expected,
        "pages of 2, sorted, no repeats"
    );
    assert_eq!(listed(&index, "p2", 5).await, expected);
    assert!(listed(&index, "p9", 2).await.is_empty());

    // Repair moves shard 0 of "a" from p0 to p9.
    let read = index.chunks_of(&[cid("a")]).await.unwrap().remove(0);
    assert_eq!(read.shards_version, 0, "as uploaded");
    let before = read.shards.clone();
    let mut shards = before.clone();
    shards[0] = ShardLocation {
        index: 0,
        provider: "p9".into(),
    };
    let ShardUpdate::Updated(moved) = index
        .update_chunk_shards(&cid("a"), 0, shards.clone())
        .await
        .unwrap()
    else {
        panic!("the record was at the expected version");
    };
    assert_eq!(
        (moved.shards.clone(), moved.refcount, moved.shards_version),
        (shards.clone(), 1, 1)
    );
    assert_eq!(
        index.chunks_of(&[cid("a")]).await.unwrap().remove(0),
        moved,
        "the update is what a later read sees"
    );
    // A second plan made from the old version lands nowhere: the compare
    // fails and the current record comes back.
    let mut other = before.clone();
    other[0] = ShardLocation {
        index: 0,
        provider: "p8".into(),
    };
    assert_eq!(
        index.update_chunk_shards(&cid("a"), 0, other.clone()).await,
        Ok(ShardUpdate::Changed(moved.clone()))
    );
    // A shard restored in place leaves the list as it was and still moves
    // the version on, so a plan another replica made before it cannot land
    // (it would rebuild the same lost shard a second time).
    let ShardUpdate::Updated(restored) = index
        .update_chunk_shards(&cid("a"), 1, shards.clone())
        .await
        .unwrap()
    else {
        panic!("the record was at version 1");
    };
    assert_eq!(
        (restored.shards.clone(), restored.shards_version),
        (shards.clone(), 2)
    );
    assert_eq!(
        index.update_chunk_shards(&cid("a"), 1, other).await,
        Ok(ShardUpdate::Changed(restored.clone()))
    );
    assert!(!listed(&index, "p0", 2).await.contains(&cid("a")));
    assert_eq!(listed(&index, "p9", 2).await, [cid("a")]);
    let bad = vec![ShardLocation {
        index: 7,
        provider: "p1".into(),
    }];
    assert!(matches!(
        index.update_chunk_shards(&cid("a"), 2, bad).await,
        Err(IndexError::Invalid { .. })
    ));
    assert!(matches!(
        index.update_chunk_shards(&cid("zz"), 0, vec![]).await,
        Err(IndexError::NotFound { .. })
    ));

    // Collected chunks disappear from the listing; condemned ones cannot
    // be repaired meanwhile.
    let blob = index.list_blobs(&t, "", None, 1).await.unwrap().0.remove(0);
    index.delete_blob(&t, &blob.blob_id).await.unwrap();
    let other = new_blob(&t, "keep", &["b"], index.gc_epoch().await.unwrap());
    assert_eq!(index.commit_blob(other).await, Ok(CommitOutcome::Created));
    index.gc_condemn(100).await.unwrap();
    let r = index.update_chunk_shards(&cid("a"), 2, vec![]).await;
    assert!(matches!(r, Err(IndexError::Conflict { .. })), "{r:?}");
    gc_pass(&index).await;
    assert_eq!(listed(&index, "p0", 3).await, [cid("b")]);
    assert!(listed(&index, "p9", 3).await.is_empty());
}

/// Repairs racing on one chunk (one per replica): from the same expected
/// version, exactly one lands; every other sees `Changed` with the
/// winner's record, and the record ends as the winner wrote it.
pub async fn concurrent_shard_updates_land_exactly_once(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    let t = tid("t");
    commit(&index, &t, "one", &["a"]).await;
    let before = index.chunks_of(&[cid("a")]).await.unwrap().remove(0).shards;
    let racers = (0..16).map(|i| {
        let index = index.clone();
        let before = before.clone();
        tokio::spawn(async move {
            let mut shards = before.clone();
            shards[0] = ShardLocation {
                index: 0,
                provider: format!("repair-{i}"),
            };
            index
                .update_chunk_shards(&cid("a"), 0, shards)
                .await
                .unwrap()
        })
    });
    let mut winners = Vec::new();
    let mut changed = Vec::new();
    for outcome in futures_join(racers).await {
        match outcome {
            ShardUpdate::Updated(record) => winners.push(record),
            ShardUpdate::Changed(record) => changed.push(record),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one repair lands");
    let winner = &winners[0];
    assert_eq!(changed.len(), 15);
    for seen in &changed {
        assert_eq!(seen.shards, winner.shards, "losers see the winner's record");
    }
    let now = index.chunks_of(&[cid("a")]).await.unwrap().remove(0);
    assert_eq!(now.shards, winner.shards);
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.expect("racer panicked"));
    }
    out
}

/// A shared rate: slots `spacing` apart, a caller told to wait for its
/// own; one further than the caller may wait is refused with how long the
/// queue is, and books nothing; each rate has its own queue.
pub async fn rate_slots_are_spaced_and_refuse_beyond_the_wait(index: Arc<dyn Index>) {
    use crate::SlotBooking;
    use std::time::Duration;
    let spacing = Duration::from_millis(100);
    let max_wait = Duration::from_millis(250);
    let mut waits = Vec::new();
    for _ in 0..3 {
        match index
            .book_rate_slot("node", spacing, max_wait)
            .await
            .unwrap()
        {
            SlotBooking::Booked { wait } => waits.push(wait),
            full => panic!("slot {} refused: {full:?}", waits.len()),
        }
    }
    // Bookings take a little time each (a transaction on PostgreSQL), so
    // the waits are 0, 100 and 200 ms less what elapsed meanwhile.
    for (i, wait) in waits.iter().enumerate() {
        let planned = spacing * i as u32;
        assert!(
            *wait <= planned && planned - *wait < Duration::from_millis(50),
            "slot {i}: wait {wait:?} for {planned:?}"
        );
    }
    let SlotBooking::Full { retry_after } = index
        .book_rate_slot("node", spacing, max_wait)
        .await
        .unwrap()
    else {
        panic!("a fourth slot is 300 ms away, beyond the 250 ms wait");
    };
    assert!(
        retry_after <= Duration::from_millis(50) && retry_after > Duration::ZERO,
        "{retry_after:?}"
    );
    // Refused: nothing booked, so the queue did not grow.
    assert!(matches!(
        index
            .book_rate_slot("node", spacing, max_wait)
            .await
            .unwrap(),
        SlotBooking::Full { .. }
    ));
    assert_eq!(
        index
            .book_rate_slot("other", spacing, max_wait)
            .await
            .unwrap(),
        SlotBooking::Booked {
            wait: Duration::ZERO
        },
        "another rate has its own queue"
    );
}
