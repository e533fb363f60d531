//! The few manifests this client verified last.
//!
//! Writing an end-to-end download to a file needs the blob's manifest
//! twice: once to size the output before anything is paid
//! (`Client::prepare_file`), once to map the range onto chunks when the
//! download opens (`Client::stored_range`). A manifest is as large as 36
//! bytes per chunk (about 1 MiB for a 100 GiB blob) and streamed, so it is
//! kept here between the two. Keeping it is always correct: a manifest is
//! kept only once it hashed to its blob id, and a blob id names exactly
//! one manifest. Whether the blob still exists, and whether this caller
//! may read it, is still the broker's answer to the Get itself.
//!
//! [`Client::manifest`](crate::Client::manifest) stays a call to the
//! broker every time: a caller asking for it may be asking whether the
//! blob is there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use shardgate_core::{ContentId, Manifest};

/// How many verified manifests are kept: enough for a few downloads
/// prepared side by side, small enough that the largest manifests (36 MiB
/// at the limit) cannot pile up.
const KEPT: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct ManifestCache {
    recent: Mutex<VecDeque<(ContentId, Arc<Manifest>)>>,
}

impl ManifestCache {
    /// The manifest of `blob_id`, if it was verified lately.
    pub(crate) fn get(&self, blob_id: &ContentId) -> Option<Arc<Manifest>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|(id, _)| id == blob_id)
            .map(|(_, manifest)| Arc::clone(manifest))
    }

    /// Keeps `manifest`, verified against `blob_id`, dropping the oldest.
    pub(crate) fn keep(&self, blob_id: ContentId, manifest: Arc<Manifest>) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|(id, _)| *id != blob_id);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back((blob_id, manifest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seed: u8) -> ContentId {
        ContentId::of(&[seed])
    }

    fn manifest() -> Arc<Manifest> {
        Arc::new(
            Manifest::new(
                shardgate_core::KeyMode::EndToEnd,
                shardgate_core::MIN_CHUNK_SIZE,
                0,
                shardgate_core::ErasureParams::new(2, 1).expect("params"),
                Vec::new(),
            )
            .expect("manifest"),
        )
    }

    #[test]
    fn keeps_the_last_few_and_forgets_the_oldest() {
        let cache = ManifestCache::default();
        assert!(cache.get(&id(0)).is_none());
        for seed in 0..=KEPT as u8 {
            cache.keep(id(seed), manifest());
        }
        assert!(cache.get(&id(0)).is_none(), "the oldest went first");
        for seed in 1..=KEPT as u8 {
            assert!(cache.get(&id(seed)).is_some(), "manifest {seed} kept");
        }
        // Keeping one again refreshes it instead of holding it twice.
        cache.keep(id(1), manifest());
        cache.keep(id(9), manifest());
        assert!(cache.get(&id(1)).is_some());
        assert!(cache.get(&id(2)).is_none());
    }
}
