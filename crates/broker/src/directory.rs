//! [`ProviderDirectory`]: what the API shows about each joined provider
//! beyond the registry's status. A leaf the broker state holds; joining and
//! re-joining providers (`providers.rs`) fill it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use shardgate_proto::v1 as pb;

/// What the API shows about a provider beyond the registry's status.
#[derive(Debug, Clone)]
pub(crate) struct ProviderMeta {
    /// The config with secrets emptied.
    pub config: pb::ProviderConfig,
    pub weight: u32,
    pub joined_at_unix_ms: u64,
    /// Stored in the index (joined through the API), as opposed to the
    /// broker's config file.
    pub persisted: bool,
}

/// Name → [`ProviderMeta`].
#[derive(Debug, Default)]
pub(crate) struct ProviderDirectory(Mutex<BTreeMap<String, ProviderMeta>>);

impl ProviderDirectory {
    pub(crate) fn get(&self, name: &str) -> Option<ProviderMeta> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn insert(&self, name: &str, meta: ProviderMeta) {
        self.lock().insert(name.to_owned(), meta);
    }

    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProviderMeta>> {
        // Every change is a single insert/remove: a panic cannot leave it torn.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
