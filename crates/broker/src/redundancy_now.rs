//! Redundancy as it is now, not as it was placed: a shard on a provider
//! that is DOWN or has left cannot be read, so Stat must not count it.
//! Before this, a blob with one of its three providers DOWN reported
//! `tolerated_provider_failures: 1`, not reduced — while losing one more
//! provider made it unreadable.

use std::collections::BTreeSet;

use shardgate_backends::ProviderRegistry;
use shardgate_index::ChunkRecord;
use shardgate_proto::v1 as pb;

/// The chunk records with only the shards that can be read now, and the
/// providers whose shards were left out (for the report's reason).
pub(crate) fn readable_now(
    registry: &ProviderRegistry,
    chunks: &[ChunkRecord],
) -> (Vec<ChunkRecord>, BTreeSet<String>) {
    let up: BTreeSet<String> = registry
        .list()
        .into_iter()
        .filter(|p| p.up)
        .map(|p| p.name)
        .collect();
    let mut unreadable = BTreeSet::new();
    let readable = chunks
        .iter()
        .map(|chunk| {
            let mut chunk = chunk.clone();
            chunk.shards.retain(|s| {
                let ok = up.contains(&s.provider);
                if !ok {
                    unreadable.insert(s.provider.clone());
                }
                ok
            });
            chunk
        })
        .collect();
    (readable, unreadable)
}

/// Says in the report why redundancy is reduced when providers are out.
pub(crate) fn explain(report: &mut pb::RedundancyReport, unreadable: &BTreeSet<String>) {
    if unreadable.is_empty() || !report.reduced {
        return;
    }
    let names: Vec<&str> = unreadable.iter().map(String::as_str).collect();
    report.reduced_reason = format!(
        "provider(s) {} unreachable (DOWN or gone) until repaired; {}",
        names.join(", "),
        report.reduced_reason
    );
}
