//! The pure planning rules.

use bytes::Bytes;
use shardgate_core::ContentId;
use shardgate_index::{ChunkRecord, ShardLocation};

use crate::repair::inspect::{InspectedShard, ShardState};
use crate::repair::plan::{Plan, Reason, Verdict, plan};
use crate::repair::view::{ProviderView, Standing};

use Standing::{Down, Draining, Healthy};

/// The verdict for a 2+1 chunk whose shard `i` is `shards[i]` (provider,
/// state), with providers standing as `providers` says.
fn verdict(providers: &[(&str, Standing)], shards: &[(&str, ShardState)]) -> Verdict {
    let record = ChunkRecord {
        chunk_id: ContentId::of(b"planner"),
        k: 2,
        m: 1,
        sealed_len: 1000,
        shards: shards
            .iter()
            .enumerate()
            .map(|(i, (p, _))| ShardLocation {
                index: i as u8,
                provider: (*p).to_owned(),
            })
            .collect(),
        wrapped_key: None,
        refcount: 1,
        shards_version: 0,
    };
    let inspected: Vec<InspectedShard> = shards
        .iter()
        .enumerate()
        .map(|(i, (p, s))| InspectedShard {
            index: i as u8,
            provider: (*p).to_owned(),
            state: s.clone(),
        })
        .collect();
    plan(
        &record,
        &inspected,
        &ProviderView::from_standings(providers),
    )
}

fn planned(providers: &[(&str, Standing)], shards: &[(&str, ShardState)]) -> Plan {
    match verdict(providers, shards) {
        Verdict::Repair(p) => p,
        other => panic!("expected a repair plan, got {other:?}"),
    }
}

fn ok() -> ShardState {
    ShardState::Intact(Bytes::from_static(b"x"))
}

/// (index, target, reason) of each rebuild.
fn moves(p: &Plan) -> Vec<(u8, &str, Reason)> {
    p.rebuilds
        .iter()
        .map(|r| (r.index, r.target.as_str(), r.reason))
        .collect()
}

const ABCD: [(&str, Standing); 4] = [
    ("a", Healthy),
    ("b", Healthy),
    ("c", Healthy),
    ("d", Healthy),
];

#[test]
fn all_intact_on_distinct_healthy_providers_is_healthy() {
    let v = verdict(&ABCD, &[("a", ok()), ("b", ok()), ("c", ok())]);
    assert_eq!(v, Verdict::Healthy);
}

#[test]
fn a_missing_shard_is_rewritten_where_it_was() {
    let p = planned(
        &ABCD,
        &[("a", ok()), ("b", ShardState::Missing), ("c", ok())],
    );
    assert_eq!(moves(&p), [(1, "b", Reason::Bad)]);
    assert!(!p.reduced);
}

#[test]
fn a_draining_shard_goes_to_a_provider_holding_none_of_the_chunk() {
    let providers = [
        ("a", Draining),
        ("b", Healthy),
        ("c", Healthy),
        ("d", Healthy),
    ];
    let p = planned(&providers, &[("a", ok()), ("b", ok()), ("c", ok())]);
    assert_eq!(moves(&p), [(0, "d", Reason::Drain)]);
    assert_eq!(p.rebuilds[0].old.as_deref(), Some("a"));
}

#[test]
fn without_a_free_provider_the_move_is_reduced() {
    let providers = [("a", Draining), ("b", Healthy), ("c", Healthy)];
    let p = planned(&providers, &[("a", ok()), ("b", ok()), ("c", ok())]);
    assert!(p.reduced);
    assert!(["b", "c"].contains(&p.rebuilds[0].target.as_str()));
}

#[test]
fn a_provider_down_within_its_grace_is_left_alone_and_not_doubled_up() {
    let providers = [("a", Down), ("b", Healthy), ("c", Healthy)];
    let p = planned(
        &providers,
        &[("a", ShardState::Unknown), ("b", ok()), ("c", ok())],
    );
    assert!(p.rebuilds.is_empty());
    assert_eq!(p.unknown, 1);
}

#[test]
fn lost_shards_are_recreated_and_too_few_survivors_are_unreadable() {
    let providers = [("b", Healthy), ("c", Healthy), ("d", Healthy)];
    let p = planned(
        &providers,
        &[("gone", ShardState::Lost), ("b", ok()), ("c", ok())],
    );
    assert_eq!(moves(&p), [(0, "d", Reason::Lost)]);
    let v = verdict(
        &providers,
        &[
            ("gone", ShardState::Lost),
            ("b", ShardState::Corrupt),
            ("c", ok()),
        ],
    );
    assert_eq!(v, Verdict::Unreadable { intact: 1 });
}

#[test]
fn two_shards_on_one_provider_are_spread_when_possible() {
    let providers = [("a", Healthy), ("b", Healthy), ("c", Healthy)];
    let p = planned(&providers, &[("a", ok()), ("a", ok()), ("b", ok())]);
    assert_eq!(moves(&p), [(1, "c", Reason::Shared)]);
}
