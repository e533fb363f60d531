//! Listing a provider's shard objects with their age, for the orphan sweep
//! of garbage collection: an object no index record names is deleted only
//! once it is older than a grace period, so its age must come with it.

use std::time::SystemTime;

use futures::TryStreamExt;
use opendal::EntryMode;
use shardgate_core::ContentId;

use crate::error::BackendError;
use crate::store::ShardStore;

/// A shard object found on a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedShard {
    /// The object key, as [`ShardStore::delete`] takes it.
    pub key: String,
    /// The chunk the key names.
    pub chunk_id: ContentId,
    /// The shard index the key names.
    pub index: u8,
    /// When the provider last wrote it; `None` if it cannot say.
    pub modified: Option<SystemTime>,
}

impl ShardStore {
    /// Every object under `shards/` whose key has the shard layout
    /// (`shard_key`), with its modification time. Objects with other keys
    /// are not ours to judge and are left out.
    pub async fn list_shards(&self) -> Result<Vec<ListedShard>, BackendError> {
        let dir = if self.prefix.is_empty() {
            "shards/".to_owned()
        } else {
            format!("{}/shards/", self.prefix.trim_end_matches('/'))
        };
        let lister = self
            .op
            .lister_with(&dir)
            .recursive(true)
            .await
            .map_err(|e| self.err(&e, "list", &dir))?;
        let entries: Vec<opendal::Entry> = lister
            .try_collect()
            .await
            .map_err(|e| self.err(&e, "list", &dir))?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.metadata().mode() != EntryMode::FILE {
                continue;
            }
            let Some((chunk_id, index)) = parse_shard_key(entry.path()) else {
                continue;
            };
            let key = self.shard_key(&chunk_id, index);
            if key != entry.path() {
                continue;
            }
            // Some services list names only: ask for the time then.
            let modified = match entry.metadata().last_modified() {
                Some(t) => Some(t),
                None => self
                    .op
                    .stat(&key)
                    .await
                    .map_err(|e| self.err(&e, "stat", &key))?
                    .last_modified(),
            };
            out.push(ListedShard {
                key,
                chunk_id,
                index,
                modified: modified.map(SystemTime::from),
            });
        }
        Ok(out)
    }
}

/// `…/<chunk hex>.<index>` → (chunk, index).
fn parse_shard_key(path: &str) -> Option<(ContentId, u8)> {
    let name = path.rsplit('/').next()?;
    let (hex, index) = name.split_once('.')?;
    Some((hex.parse().ok()?, index.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_parse_and_others_do_not() {
        let id = ContentId::from_bytes([7; 32]);
        let key = shardgate_core::shard_object_key("p", &id, 3);
        assert_eq!(parse_shard_key(&key), Some((id, 3)));
        assert_eq!(parse_shard_key("p/shards/07/readme.txt"), None);
        assert_eq!(parse_shard_key("p/shards/07/x.300"), None);
    }
}
