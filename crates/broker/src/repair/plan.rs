//! The repair plan of one chunk, decided from what the scrub found and the
//! providers' standing — pure, so every rule is tested without I/O.
//!
//! Rules:
//! * a verified shard on a healthy provider stays where it is, unless an
//!   earlier index already sits on that provider (then it is *shared* and
//!   moves if a free provider exists);
//! * a shard that is missing, corrupt, lost (provider gone), absent from
//!   the record, or on a draining provider is re-created;
//! * a missing or corrupt shard on a healthy provider that holds no other
//!   shard of the chunk is rewritten in place (nothing moves);
//! * otherwise the target is the best-ranked healthy provider (weighted
//!   rendezvous, as for uploads) that holds no shard of the chunk; if none
//!   is left, the one holding the fewest — *reduced redundancy*, reported;
//! * shards that could not be read now (provider DOWN within its grace
//!   period, temporary errors) are left alone, and their provider is not
//!   given a second shard;
//! * with fewer than `k` verified shards nothing can be rebuilt.

use std::collections::BTreeMap;

use shardgate_backends::placement::preference;
use shardgate_index::ChunkRecord;

use crate::repair::inspect::{InspectedShard, ShardState};
use crate::repair::view::{ProviderView, Standing};

/// Why a shard is re-created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Missing, corrupt, or not in the record at all.
    Bad,
    /// Its provider left or stayed DOWN past the grace period.
    Lost,
    /// Its provider is draining.
    Drain,
    /// Another shard of the chunk is on the same provider.
    Shared,
}

/// One shard to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rebuild {
    pub index: u8,
    pub target: String,
    /// The provider the record lists for this index now, if any; its copy
    /// is deleted once the new one is committed (when it differs).
    pub old: Option<String>,
    pub reason: Reason,
}

/// What to do with one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// All `k + m` shards verified, on distinct healthy providers.
    Healthy,
    /// Readable (at least `k` verified shards); `rebuilds` may be empty when
    /// no provider can take a shard (or only unreadable shards are wrong).
    Repair(Plan),
    /// Fewer than `k` verified shards: unreadable until a provider comes back.
    Unreadable { intact: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    pub rebuilds: Vec<Rebuild>,
    /// Some target already holds another shard of the chunk.
    pub reduced: bool,
    /// Shards that need work but got no target (no healthy provider).
    pub stuck: usize,
    /// Shards left alone because they could not be read now.
    pub unknown: usize,
}

/// Decides what to do with `record` given its scrubbed shards.
pub(super) fn plan(
    record: &ChunkRecord,
    shards: &[InspectedShard],
    view: &ProviderView,
) -> Verdict {
    let total = usize::from(record.k) + usize::from(record.m);
    let intact = shards.iter().filter(|s| s.state.is_intact()).count();
    if intact < usize::from(record.k) {
        return Verdict::Unreadable { intact };
    }
    // Shards per provider among those that stay (multiplicity matters for
    // the reduced-redundancy fallback).
    let mut holding: BTreeMap<&str, usize> = BTreeMap::new();
    let mut needs: Vec<(u8, Option<&str>, Reason)> = Vec::new();
    let mut unknown = 0;
    let mut by_index: BTreeMap<u8, &InspectedShard> = BTreeMap::new();
    for s in shards {
        by_index.insert(s.index, s);
    }
    for index in 0..total as u8 {
        let Some(s) = by_index.get(&index) else {
            needs.push((index, None, Reason::Bad));
            continue;
        };
        let provider = s.provider.as_str();
        match (&s.state, view.standing(provider)) {
            (ShardState::Intact(_), Standing::Healthy) => {
                let held = holding.entry(provider).or_default();
                if *held == 0 {
                    *held = 1;
                } else {
                    needs.push((index, Some(provider), Reason::Shared));
                }
            }
            (ShardState::Intact(_), _) => needs.push((index, Some(provider), Reason::Drain)),
            (ShardState::Lost, _) => needs.push((index, Some(provider), Reason::Lost)),
            (ShardState::Missing | ShardState::Corrupt, _) => {
                needs.push((index, Some(provider), Reason::Bad))
            }
            (ShardState::Unknown, _) => {
                unknown += 1;
                *holding.entry(provider).or_default() += 1;
            }
        }
    }
    if needs.is_empty() && unknown == 0 {
        return Verdict::Healthy;
    }
    let ranked = preference(&record.chunk_id, view.candidates());
    let mut out = Plan {
        unknown,
        ..Plan::default()
    };
    for (index, old, reason) in needs {
        let free = |p: &&str| holding.get(*p).copied().unwrap_or(0) == 0;
        let in_place = old
            .filter(|p| reason == Reason::Bad && view.standing(p) == Standing::Healthy && free(p));
        let target = in_place.or_else(|| ranked.iter().copied().find(free));
        let target = match (target, reason) {
            (Some(t), _) => Some(t),
            // Moving a shared shard onto another shared provider gains nothing.
            (None, Reason::Shared) => None,
            (None, _) => {
                let fewest = ranked
                    .iter()
                    .copied()
                    .min_by_key(|p| holding.get(*p).copied().unwrap_or(0));
                if fewest.is_some() {
                    out.reduced = true;
                }
                fewest
            }
        };
        match target {
            Some(t) => {
                *holding.entry(t).or_default() += 1;
                out.rebuilds.push(Rebuild {
                    index,
                    target: t.to_owned(),
                    old: old.map(str::to_owned),
                    reason,
                });
            }
            None => {
                // It stays where it is, so its provider keeps counting.
                if let Some(p) = old.filter(|_| reason == Reason::Shared) {
                    *holding.entry(p).or_default() += 1;
                }
                out.stuck += 1;
            }
        }
    }
    Verdict::Repair(out)
}
