//! A repair of one chunk stopped right before its commit (scrubbed, planned
//! and rebuilt from the record as it is now), for tests that let something
//! else happen in between: GC, or another replica's repair.

use std::time::Duration;

use bytes::Bytes;
use shardgate_core::ContentId;
use shardgate_index::ChunkRecord;

use super::fixture::Fixture;
use crate::repair::commit::{Committed, commit};
use crate::repair::inspect::{ShardState, inspect};
use crate::repair::plan::{Plan, Verdict, plan};
use crate::repair::rebuild::rebuild_shards;
use crate::repair::view::{DownTracker, ProviderView};

pub(super) struct Pending {
    pub record: ChunkRecord,
    pub plan: Plan,
    pub objects: Vec<(u8, Bytes)>,
}

impl Pending {
    /// Scrubs, plans and rebuilds `id`, which must need repair.
    pub(super) async fn prepare(f: &Fixture, id: &ContentId) -> Pending {
        let record = f.record(id).await;
        let view = ProviderView::capture(
            &f.registry,
            &DownTracker::default(),
            Duration::from_secs(3600),
        );
        let shards = inspect(&f.registry, &view, &record).await;
        let Verdict::Repair(plan) = plan(&record, &shards, &view) else {
            panic!("the chunk needs repair");
        };
        let intact: Vec<(u8, Bytes)> = shards
            .iter()
            .filter_map(|s| match &s.state {
                ShardState::Intact(o) => Some((s.index, o.clone())),
                _ => None,
            })
            .collect();
        let wanted: Vec<u8> = plan.rebuilds.iter().map(|r| r.index).collect();
        let objects = rebuild_shards(&record, &intact, &wanted).expect("rebuild");
        Pending {
            record,
            plan,
            objects,
        }
    }

    pub(super) async fn commit(&self, f: &Fixture) -> Committed {
        commit(
            &f.registry,
            f.index.as_ref(),
            &self.record,
            &self.plan.rebuilds,
            &self.objects,
        )
        .await
        .expect("commit")
    }
}
