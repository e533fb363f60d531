//! The small Storage calls: stat, list, delete, update, limits, and the
//! blob manifest checked against the blob id.

use std::sync::Arc;

use shardgate_core::{ContentId, Manifest};
use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Page size of [`Client::list_all`]: the broker's maximum.
const LIST_PAGE: u32 = 1000;
/// A manifest is 24 + 36 bytes per chunk and a blob has at most 2^20
/// chunks: anything longer is not a manifest.
const MAX_MANIFEST_BYTES: usize = 24 + 36 * (1 << 20);

impl Client {
    /// The limits and defaults this broker enforces.
    pub async fn limits(&self) -> Result<pb::Limits> {
        Ok(self
            .storage()
            .get_limits(self.request(pb::GetLimitsRequest {}))
            .await?
            .into_inner())
    }

    /// A blob's metadata (public blobs need no key).
    pub async fn stat(&self, blob_id: &str) -> Result<pb::BlobInfo> {
        Ok(self
            .storage()
            .stat(self.request(pb::StatRequest {
                blob_id: blob_id.to_owned(),
            }))
            .await?
            .into_inner())
    }

    /// One page of the tenant's blobs whose name starts with `prefix`;
    /// pass the previous page's `next_page_token` (empty at first).
    pub async fn list(
        &self,
        prefix: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<pb::ListBlobsResponse> {
        Ok(self
            .storage()
            .list(self.keyed(pb::ListBlobsRequest {
                page_size,
                page_token: page_token.to_owned(),
                name_prefix: prefix.to_owned(),
            })?)
            .await?
            .into_inner())
    }

    /// Every blob of the tenant whose name starts with `prefix` (all pages).
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<pb::BlobInfo>> {
        let mut blobs = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.list(prefix, LIST_PAGE, &token).await?;
            blobs.extend(page.blobs);
            if page.next_page_token.is_empty() {
                return Ok(blobs);
            }
            token = page.next_page_token;
        }
    }

    /// Deletes the tenant's blob; returns the quota bytes released.
    pub async fn delete(&self, blob_id: &str) -> Result<u64> {
        Ok(self
            .storage()
            .delete(self.keyed(pb::DeleteBlobRequest {
                blob_id: blob_id.to_owned(),
            })?)
            .await?
            .into_inner()
            .released_quota_bytes)
    }

    /// Changes a blob's price and/or visibility (`None` keeps it).
    pub async fn update(
        &self,
        blob_id: &str,
        price: Option<pb::Price>,
        visibility: Option<pb::Visibility>,
    ) -> Result<pb::BlobInfo> {
        Ok(self
            .storage()
            .update_blob(self.keyed(pb::UpdateBlobRequest {
                blob_id: blob_id.to_owned(),
                price,
                visibility: visibility.map_or(0, |v| v as i32),
            })?)
            .await?
            .into_inner())
    }

    /// The blob's canonical manifest, checked against `blob_id`: its
    /// BLAKE3 must be the id, so the chunk count, chunk ids and lengths can
    /// be trusted as far as the id is.
    pub async fn manifest(&self, blob_id: &str) -> Result<Manifest> {
        let expected = blob_id
            .parse::<ContentId>()
            .map_err(|_| ClientError::invalid("a blob id is 64 lowercase hex characters"))?;
        let mut stream = self
            .storage()
            .get_manifest(self.request(pb::GetManifestRequest {
                blob_id: blob_id.to_owned(),
            }))
            .await?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(frame) = stream.message().await? {
            if bytes.len() + frame.data.len() > MAX_MANIFEST_BYTES {
                return Err(ClientError::integrity(
                    "the broker's manifest is longer than any manifest can be",
                ));
            }
            bytes.extend_from_slice(&frame.data);
        }
        verified_manifest(&expected, &bytes)
    }

    /// [`Client::manifest`], or the same manifest if this client verified
    /// it lately (`manifest_cache.rs`).
    pub(crate) async fn verified_manifest(&self, blob_id: &str) -> Result<Arc<Manifest>> {
        if let Ok(id) = blob_id.parse::<ContentId>()
            && let Some(kept) = self.manifests.get(&id)
        {
            return Ok(kept);
        }
        let manifest = Arc::new(self.manifest(blob_id).await?);
        self.manifests
            .keep(manifest.blob_id(), Arc::clone(&manifest));
        Ok(manifest)
    }
}

/// Decodes `bytes` and checks that they are the manifest of `blob_id`:
/// a manifest whose BLAKE3 is another id (another blob's, or altered) is
/// refused, so the chunk count and ids it gives can be trusted.
fn verified_manifest(blob_id: &ContentId, bytes: &[u8]) -> Result<Manifest> {
    let manifest = Manifest::decode(bytes).map_err(|e| {
        ClientError::integrity(format!(
            "the broker's manifest for {blob_id} is malformed: {e}"
        ))
    })?;
    if manifest.blob_id() != *blob_id {
        return Err(ClientError::integrity(format!(
            "the broker's manifest does not hash to blob id {blob_id}: it belongs to another blob or was altered"
        )));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use shardgate_core::{ErasureParams, KeyMode, ManifestChunk};

    use super::*;
    use crate::ErrorKind;

    fn manifest(seed: u8) -> Manifest {
        let chunk = ManifestChunk {
            id: ContentId::of(&[seed]),
            len: 10,
        };
        Manifest::new(
            KeyMode::EndToEnd,
            shardgate_core::MIN_CHUNK_SIZE,
            10,
            ErasureParams::new(2, 1).expect("params"),
            vec![chunk],
        )
        .expect("manifest")
    }

    #[test]
    fn only_the_manifest_of_the_asked_blob_is_accepted() {
        let (a, b) = (manifest(1), manifest(2));
        let got = verified_manifest(&a.blob_id(), &a.encode()).expect("its own manifest");
        assert_eq!(got, a);
        let err = verified_manifest(&a.blob_id(), &b.encode()).expect_err("another blob's");
        assert_eq!(err.kind(), ErrorKind::Integrity);
        assert!(err.to_string().contains("another blob"), "{err}");
        let mut altered = a.encode();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(verified_manifest(&a.blob_id(), &altered).is_err());
        assert!(verified_manifest(&a.blob_id(), b"SGMF").is_err());
    }
}
