//! Opening a share from a request: the id in the path, the read token in
//! the header, the record's state, its blob at the price the share sets.

use axum::http::HeaderMap;
use shardgate_core::ReadToken;
use shardgate_index::{BlobRecord, IndexError, Price, ShareId, ShareRecord, ShareState};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::state::Broker;

/// Share token header: derived from the link's fragment by the page.
const SHARE_TOKEN_HEADER: &str = "x-shardgate-share-token";

/// A share the request may read, and the blob it gives.
pub(super) struct OpenShare {
    pub share: ShareRecord,
    /// The shared blob, priced as the share says.
    pub blob: BlobRecord,
}

/// One answer for an unknown id and a wrong token: a guesser learns
/// nothing about which ids exist.
fn no_such_share() -> BrokerError {
    BrokerError::NotFound(
        "no such share link, or the link is incomplete (the part after # is needed)".to_owned(),
    )
}

/// The share `id` if the request's token opens it and it is live.
pub(super) async fn open_share(
    broker: &Broker,
    id: &str,
    headers: &HeaderMap,
) -> Result<OpenShare, BrokerError> {
    let token = headers
        .get(SHARE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            BrokerError::Unauthenticated(format!(
                "the `{SHARE_TOKEN_HEADER}` header is missing: open the whole link (with the part after #) in the share page or `shardgate get`"
            ))
        })?;
    let token = ReadToken::parse(token).map_err(|_| no_such_share())?;
    let id = ShareId::parse(id).map_err(|_| no_such_share())?;
    let share = broker.index.share(&id).await?.ok_or_else(no_such_share)?;
    if !token.matches(&share.token_hash) {
        return Err(no_such_share());
    }
    check_live(&share)?;
    let mut blob = broker
        .index
        .blob(&share.owner, &share.blob_id)
        .await?
        .ok_or_else(|| BrokerError::ShareGone {
            kind: "blob_deleted",
            message: "the shared file was deleted by its owner".to_owned(),
        })?;
    if let Some(price) = share.price_msat {
        blob.price = Price {
            flat_msat: price,
            per_mib_msat: 0,
        };
    }
    Ok(OpenShare { share, blob })
}

/// `ShareGone` unless the share is live now.
pub(super) fn check_live(share: &ShareRecord) -> Result<(), BrokerError> {
    gone(share.state(now_unix_ms()), share).map_or(Ok(()), Err)
}

fn gone(state: ShareState, share: &ShareRecord) -> Option<BrokerError> {
    let (kind, message) = match state {
        ShareState::Live => return None,
        ShareState::Revoked => ("revoked", "this link was revoked by its owner".to_owned()),
        ShareState::Expired => ("expired", "this link has expired".to_owned()),
        ShareState::UsedUp => (
            "used_up",
            format!(
                "this link has been used up: {} of {} downloads taken",
                share.downloads, share.max_downloads
            ),
        ),
    };
    Some(BrokerError::ShareGone { kind, message })
}

/// Maps the index's refusal of a download to the share's own words.
pub(super) fn share_refusal(err: IndexError, share: &ShareRecord) -> BrokerError {
    match err {
        IndexError::ShareUnavailable { state } => {
            gone(state, share).unwrap_or_else(|| BrokerError::Internal("live share refused".into()))
        }
        IndexError::NotFound { .. } => no_such_share(),
        other => other.into(),
    }
}
