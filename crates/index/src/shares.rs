//! Share records: one link that gives one blob to whoever holds it (see
//! `docs/sharing.md`, "The share record").
//!
//! Like `records.rs`, plain data: redb encodes it with `codec/shares.rs`,
//! PostgreSQL maps it to columns. The decisions both make identically
//! (validation, the download counter, revocation) are in `share_rules.rs`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shardgate_core::ContentId;

use crate::error::IndexError;
use crate::records::TenantId;
pub use crate::share_state::ShareState;

/// Bytes in a share id (128 random bits drawn by the broker).
pub const SHARE_ID_LEN: usize = 16;
/// Characters of a share id's text form: 16 bytes in base64url, no padding.
const SHARE_ID_TEXT_LEN: usize = 22;
/// Longest `wrapped_key` kept, in bytes. The design's box is 60 bytes
/// (nonce 12 + key 32 + tag 16); the bound leaves room for a later scheme
/// while keeping a record small.
pub const MAX_SHARE_WRAPPED_KEY_LEN: usize = 256;
/// Longest `sealed_name` kept, in bytes: a blob name (at most
/// `MAX_BLOB_NAME_LEN` = 1024 bytes) plus nonce and tag, with room to spare.
pub const MAX_SHARE_SEALED_NAME_LEN: usize = 2048;

/// A share's id: 16 random bytes, written as 22 characters of base64url
/// without padding (the `/s/{id}` path segment of a share link).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareId(pub [u8; SHARE_ID_LEN]);

impl ShareId {
    /// Reads the text form; `Invalid` for anything but 22 characters of
    /// base64url (no padding, canonical trailing bits) encoding 16 bytes.
    pub fn parse(text: &str) -> Result<ShareId, IndexError> {
        let bad = || {
            IndexError::invalid(format!(
                "share id must be {SHARE_ID_TEXT_LEN} characters of base64url without padding"
            ))
        };
        if text.len() != SHARE_ID_TEXT_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let id: [u8; SHARE_ID_LEN] = bytes.try_into().map_err(|_| bad())?;
        Ok(ShareId(id))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; SHARE_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShareId({self})")
    }
}

impl FromStr for ShareId {
    type Err = IndexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShareId::parse(s)
    }
}

/// One share link of one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    /// The share's key (drawn by the broker at `CreateShare`).
    pub share_id: ShareId,
    /// The shared blob.
    pub blob_id: ContentId,
    /// The tenant that owns the blob (only the owner can share it).
    pub owner: TenantId,
    /// BLAKE3 of the read token; the token itself is never stored.
    pub token_hash: [u8; 32],
    /// End-to-end shares only: the file key sealed under the wrapping key
    /// (at most [`MAX_SHARE_WRAPPED_KEY_LEN`] bytes).
    pub wrapped_key: Option<Vec<u8>>,
    /// End-to-end shares only: the blob's name sealed under the wrapping
    /// key (at most [`MAX_SHARE_SEALED_NAME_LEN`] bytes).
    pub sealed_name: Option<Vec<u8>>,
    /// Flat price of one download through this share, msat; `None` = the
    /// blob's own price.
    pub price_msat: Option<u64>,
    /// The share stops working at this time, unix milliseconds; `None` = never.
    pub expires_at_unix_ms: Option<u64>,
    /// Downloads allowed; 0 = unlimited (in practice `u32::MAX`).
    pub max_downloads: u32,
    /// Downloads started. Maintained by the index: 0 on create.
    pub downloads: u32,
    /// When the owner revoked it (final). Maintained by the index: `None`
    /// on create.
    pub revoked_at_unix_ms: Option<u64>,
    /// When it was created, unix milliseconds.
    pub created_at_unix_ms: u64,
}

impl ShareRecord {
    /// The state at `now_unix_ms`. When several apply, revoked wins over
    /// expired, which wins over used up: the owner's decision is the
    /// reason shown, and giving a download back never revives an expired
    /// or revoked share.
    pub fn state(&self, now_unix_ms: u64) -> ShareState {
        if self.revoked_at_unix_ms.is_some() {
            ShareState::Revoked
        } else if self
            .expires_at_unix_ms
            .is_some_and(|expires| now_unix_ms >= expires)
        {
            ShareState::Expired
        } else if self.downloads >= self.download_limit() {
            ShareState::UsedUp
        } else {
            ShareState::Live
        }
    }
}

impl ShareRecord {
    /// The most downloads the counter allows: `max_downloads`, or for an
    /// unlimited share (0) as many as a `u32` counts.
    fn download_limit(&self) -> u32 {
        match self.max_downloads {
            0 => u32::MAX,
            max => max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ShareRecord {
        ShareRecord {
            share_id: ShareId([7; SHARE_ID_LEN]),
            blob_id: ContentId::of(b"blob"),
            owner: TenantId::new("acme").unwrap(),
            token_hash: [1; 32],
            wrapped_key: None,
            sealed_name: None,
            price_msat: None,
            expires_at_unix_ms: Some(1_000),
            max_downloads: 2,
            downloads: 0,
            revoked_at_unix_ms: None,
            created_at_unix_ms: 1,
        }
    }

    #[test]
    fn share_id_text_round_trips_and_matches_the_design() {
        let id = ShareId([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // The example link of docs/sharing.md.
        assert_eq!(id.to_string(), "3q2-7wAAAAAAAAAAAAAAAA");
        assert_eq!(ShareId::parse("3q2-7wAAAAAAAAAAAAAAAA").unwrap(), id);
        assert_eq!(format!("{id:?}"), "ShareId(3q2-7wAAAAAAAAAAAAAAAA)");
        for bytes in [[0u8; 16], [0xff; 16], [0x5a; 16]] {
            let id = ShareId(bytes);
            assert_eq!(id.to_string().len(), SHARE_ID_TEXT_LEN);
            assert_eq!(id.to_string().parse::<ShareId>().unwrap(), id);
        }
    }

    #[test]
    fn malformed_share_ids_are_invalid() {
        for bad in [
            "",
            "3q2-7wAAAAAAAAAAAAAAA",      // 21 chars
            "3q2-7wAAAAAAAAAAAAAAAAA",    // 23 chars
            "3q2+7wAAAAAAAAAAAAAAAA",     // standard alphabet, not url-safe
            "3q2-7wAAAAAAAAAAAAAAA=",     // padding
            "3q2-7wAAAAAAAAAAAAAAAB",     // non-canonical trailing bits
            "3q2-7wAAAAAAAAAAAAAA AA",    // space
            "3q2-7wAAAAAAAAAAAAAAAAAA==", // 18 bytes with padding
        ] {
            assert!(
                matches!(ShareId::parse(bad), Err(IndexError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn revoked_wins_over_expired_wins_over_used_up() {
        let live = record();
        assert_eq!(live.state(999), ShareState::Live);
        assert_eq!(
            live.state(1_000),
            ShareState::Expired,
            "expiry is exclusive"
        );
        let used_up = ShareRecord {
            downloads: 2,
            ..record()
        };
        assert_eq!(used_up.state(0), ShareState::UsedUp);
        assert_eq!(used_up.state(5_000), ShareState::Expired);
        let revoked = ShareRecord {
            revoked_at_unix_ms: Some(3),
            ..used_up.clone()
        };
        assert_eq!(revoked.state(0), ShareState::Revoked);
        assert_eq!(revoked.state(5_000), ShareState::Revoked);
        let unlimited = ShareRecord {
            max_downloads: 0,
            downloads: u32::MAX - 1,
            expires_at_unix_ms: None,
            ..record()
        };
        assert_eq!(unlimited.state(u64::MAX), ShareState::Live);
    }
}
