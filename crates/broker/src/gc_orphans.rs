//! The orphan sweep of a GC pass: shard objects on the providers that no
//! index record names — left by uploads that failed, were cancelled or died
//! with the broker (SIGKILL) before their commit. The index never learned
//! of them, so the condemn/finish protocol of `gc.rs` cannot find them;
//! only listing the providers can.
//!
//! # Why deleting them is safe
//!
//! An object is deleted only when (1) it is older than the grace period
//! `G` by the provider's clock when the pass checks it, and (2) the index,
//! read *after* the listing, names no shard with that chunk, index and
//! provider. An upload commits only within `G / 2` of reading its GC epoch
//! (`put/mod.rs`), and it writes its shards after that read. So if an
//! upload could still commit a shard we delete, it wrote that shard less
//! than `G / 2` before its commit, which is before our check time minus
//! `G / 2`: the commit came first, and the index read of step (2) saw it.
//! The other `G / 2` absorbs clock skew between broker and provider and
//! the gap between the check and the index commit. Records of any state
//! (live, zero-ref, condemned) count as references: a zero-ref chunk can
//! still be revived with its stored shards, and condemned ones are the
//! condemn pass's to delete.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use shardgate_backends::{ListedShard, ProviderRegistry};
use shardgate_core::ContentId;
use shardgate_index::{Index, MAX_PAGE_LIMIT};

use crate::error::BrokerError;

/// Deletes issued at once per provider.
const DELETE_CONCURRENCY: usize = 16;

/// What the sweep found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OrphanReport {
    /// Unreferenced shard objects older than the grace period.
    pub found: u64,
    /// Of those, deleted (0 for a dry run).
    pub deleted: u64,
    /// Providers that could not be listed (DOWN); swept next time.
    pub providers_skipped: u64,
}

/// Lists every joined provider and deletes (unless `dry_run`) its
/// unreferenced shard objects older than `grace`.
pub(crate) async fn sweep_orphans(
    index: &dyn Index,
    registry: &ProviderRegistry,
    grace: Duration,
    dry_run: bool,
) -> Result<OrphanReport, BrokerError> {
    let mut report = OrphanReport::default();
    for provider in registry.list() {
        let Ok(store) = registry.store(&provider.name) else {
            continue; // left meanwhile
        };
        let listed = match store.list_shards().await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(provider = %provider.name, error = %e, "GC could not list shard objects; orphans there wait for the next pass");
                report.providers_skipped += 1;
                continue;
            }
        };
        let checked_at = SystemTime::now();
        let old: Vec<ListedShard> = listed
            .into_iter()
            .filter(|s| older_than(s.modified, checked_at, grace))
            .collect();
        if old.is_empty() {
            continue;
        }
        // Read after the listing: see the module docs.
        let referenced = referenced_on(index, &provider.name).await?;
        let orphans: Vec<ListedShard> = old
            .into_iter()
            .filter(|s| !referenced.contains(&(s.chunk_id, s.index)))
            .collect();
        report.found += orphans.len() as u64;
        if dry_run || orphans.is_empty() {
            continue;
        }
        let results: Vec<bool> = futures::stream::iter(orphans)
            .map(|shard| {
                let store = store.clone();
                async move {
                    match store.delete(&shard.key).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(key = %shard.key, error = %e, "GC could not delete an orphan shard; will retry");
                            false
                        }
                    }
                }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .collect()
            .await;
        let deleted = results.iter().filter(|ok| **ok).count() as u64;
        report.deleted += deleted;
        tracing::info!(provider = %provider.name, deleted, "GC deleted orphan shard objects");
    }
    Ok(report)
}

/// An object of unknown age is never old enough.
fn older_than(modified: Option<SystemTime>, now: SystemTime, grace: Duration) -> bool {
    modified
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age > grace)
}

/// Every (chunk, shard index) the index places on `provider`, in any state.
async fn referenced_on(
    index: &dyn Index,
    provider: &str,
) -> Result<HashSet<(ContentId, u8)>, BrokerError> {
    let mut out = HashSet::new();
    let mut after = None;
    loop {
        let page = index
            .shards_on_provider(provider, after, MAX_PAGE_LIMIT)
            .await?;
        for chunk in &page {
            out.extend(
                chunk
                    .shards
                    .iter()
                    .filter(|s| s.provider == provider)
                    .map(|s| (chunk.chunk_id, s.index)),
            );
        }
        match page.last() {
            Some(last) if page.len() == MAX_PAGE_LIMIT => after = Some(last.chunk_id),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_past_the_grace_period_are_old() {
        let now = SystemTime::now();
        let grace = Duration::from_secs(60);
        assert!(older_than(Some(now - Duration::from_secs(61)), now, grace));
        assert!(!older_than(Some(now - Duration::from_secs(59)), now, grace));
        assert!(!older_than(Some(now + Duration::from_secs(5)), now, grace));
        assert!(!older_than(None, now, grace));
    }
}
