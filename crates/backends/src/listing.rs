//! Listing and presigning on a [`ShardStore`]: the two operations that
//! hand out keys or URLs rather than shard bytes.

use std::time::Duration;

use futures::{Stream, TryStreamExt};
use opendal::EntryMode;

use crate::error::{BackendError, BackendErrorKind};
use crate::store::{PresignedGet, ShardStore};

impl ShardStore {
    /// Every object key under `<prefix>/<under>` (recursively), as a stream.
    /// `under` is a directory such as `"shards/"`, or `""` for everything.
    pub fn list(
        &self,
        under: &str,
    ) -> impl Stream<Item = Result<String, BackendError>> + Send + 'static {
        let dir = if self.prefix.is_empty() {
            under.to_owned()
        } else {
            format!("{}/{}", self.prefix, under)
        };
        let dir = if dir.is_empty() || dir.ends_with('/') {
            dir
        } else {
            format!("{dir}/")
        };
        let op = self.op.clone();
        let name = self.name.clone();
        let err_name = name.clone();
        let dir2 = dir.clone();
        futures::stream::once(async move { op.lister_with(&dir).recursive(true).await })
            .map_err(move |e| BackendError::from_opendal(&e, &err_name, "list", Some(&dir2)))
            .map_ok(move |lister| {
                let name = name.clone();
                lister.map_err(move |e| BackendError::from_opendal(&e, &name, "list", None))
            })
            .try_flatten()
            .try_filter_map(|entry| async move {
                Ok((entry.metadata().mode() == EntryMode::FILE).then(|| entry.path().to_owned()))
            })
    }

    /// Convenience: collect [`ShardStore::list`] (bounded by the caller's prefix).
    pub async fn list_all(&self, under: &str) -> Result<Vec<String>, BackendError> {
        let mut keys: Vec<String> = self.list(under).try_collect().await?;
        keys.sort();
        Ok(keys)
    }

    /// A presigned GET URL valid for `expires`, if the provider can presign.
    pub async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<PresignedGet, BackendError> {
        if !self.capability().presign_read {
            return Err(BackendError::new(
                BackendErrorKind::Unsupported,
                &self.name,
                "presign",
                "this provider cannot presign reads; serve the shard through the broker",
            )
            .with_key(key));
        }
        let req = self
            .op
            .presign_read(key, expires)
            .await
            .map_err(|e| self.err(&e, "presign", key))?;
        let headers = req
            .header()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_owned())))
            .collect();
        Ok(PresignedGet {
            url: req.uri().to_string(),
            headers,
        })
    }
}
