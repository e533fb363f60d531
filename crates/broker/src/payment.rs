//! [`PaymentGate`]: the one seam between downloads and payments.
//!
//! Every Get (and later GetShardLocations) asks the gate before the first
//! byte leaves. The payments work plugs an L402/Lightning gate in here; until
//! then [`FreeOnly`] serves blobs whose price is zero and refuses every
//! priced blob — a priced blob is never served free.

use futures::future::BoxFuture;
use shardgate_index::BlobRecord;
use tonic::metadata::MetadataMap;

use crate::error::BrokerError;
use crate::get::range::ServedRange;

/// What a granted download may show the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadGrant {
    /// Uses left on the credential after this download.
    pub uses_remaining: u32,
    /// Paid with a hold invoice (settled once the stream completes).
    pub hold: bool,
}

/// Decides whether `range` of `blob` may be served to this request.
pub trait PaymentGate: Send + Sync + 'static {
    /// `Ok` to serve; an error to refuse (its status goes to the client).
    fn authorize<'a>(
        &'a self,
        blob: &'a BlobRecord,
        range: ServedRange,
        metadata: &'a MetadataMap,
    ) -> BoxFuture<'a, Result<DownloadGrant, BrokerError>>;
}

/// Serves free blobs only; refuses priced ones with FAILED_PRECONDITION.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreeOnly;

impl PaymentGate for FreeOnly {
    fn authorize<'a>(
        &'a self,
        blob: &'a BlobRecord,
        _range: ServedRange,
        _metadata: &'a MetadataMap,
    ) -> BoxFuture<'a, Result<DownloadGrant, BrokerError>> {
        Box::pin(async move {
            if blob.price.flat_msat == 0 && blob.price.per_mib_msat == 0 {
                Ok(DownloadGrant {
                    uses_remaining: 0,
                    hold: false,
                })
            } else {
                Err(BrokerError::PaymentsNotEnabled {
                    blob: blob.blob_id.to_hex(),
                    flat_msat: blob.price.flat_msat,
                    per_mib_msat: blob.price.per_mib_msat,
                })
            }
        })
    }
}
