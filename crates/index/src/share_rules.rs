//! Decisions about share records every implementation must make
//! identically: what a new share may look like, how its download counter
//! moves, and revocation. Storage code calls these inside its transaction.

use crate::error::IndexError;
use crate::shares::{
    MAX_SHARE_SEALED_NAME_LEN, MAX_SHARE_WRAPPED_KEY_LEN, ShareRecord, ShareState,
};

/// `Invalid` unless `share` is a fresh share with bounded boxes:
/// `wrapped_key` and `sealed_name` within their limits, `downloads == 0`,
/// not revoked. (That the blob exists and is the owner's is checked in the
/// create transaction.)
pub fn check_new_share(share: &ShareRecord) -> Result<(), IndexError> {
    let too_long =
        |field: &Option<Vec<u8>>, max: usize| field.as_ref().is_some_and(|b| b.len() > max);
    let problem = if too_long(&share.wrapped_key, MAX_SHARE_WRAPPED_KEY_LEN) {
        Some(format!(
            "wrapped key longer than {MAX_SHARE_WRAPPED_KEY_LEN} bytes"
        ))
    } else if too_long(&share.sealed_name, MAX_SHARE_SEALED_NAME_LEN) {
        Some(format!(
            "sealed name longer than {MAX_SHARE_SEALED_NAME_LEN} bytes"
        ))
    } else if share.downloads != 0 {
        Some(format!(
            "downloads must be 0 on create (the index counts them), got {}",
            share.downloads
        ))
    } else if share.revoked_at_unix_ms.is_some() {
        Some("revoked_at must be unset on create".to_owned())
    } else {
        None
    };
    match problem {
        Some(what) => Err(IndexError::invalid(format!(
            "share {}: {what}",
            share.share_id
        ))),
        None => Ok(()),
    }
}

/// Takes one download: `ShareUnavailable` unless the share is live at
/// `now_unix_ms`, else `downloads += 1`.
pub fn take_download(share: &mut ShareRecord, now_unix_ms: u64) -> Result<(), IndexError> {
    match share.state(now_unix_ms) {
        // Live means downloads < the limit (at most u32::MAX): no overflow.
        ShareState::Live => {
            share.downloads += 1;
            Ok(())
        }
        state => Err(IndexError::ShareUnavailable { state }),
    }
}

/// Gives one download back; at 0 nothing changes. Returns whether it changed.
pub fn return_download(share: &mut ShareRecord) -> bool {
    match share.downloads.checked_sub(1) {
        Some(downloads) => {
            share.downloads = downloads;
            true
        }
        None => false,
    }
}

/// Revokes at `now_unix_ms`; an already revoked share keeps its first
/// time. Returns whether it changed.
pub fn revoke(share: &mut ShareRecord, now_unix_ms: u64) -> bool {
    if share.revoked_at_unix_ms.is_some() {
        return false;
    }
    share.revoked_at_unix_ms = Some(now_unix_ms);
    true
}
