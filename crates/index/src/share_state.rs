//! [`ShareState`]: whether a share still gives its blob. Its own file
//! because both the records (`shares.rs`) and the errors (`error.rs`)
//! name it, and the errors must not depend on the records that use them.

use std::fmt;

/// Whether a share still gives its blob, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareState {
    /// Not revoked, not expired, downloads left.
    Live,
    /// Revoked by its owner; final.
    Revoked,
    /// Past `expires_at_unix_ms`.
    Expired,
    /// Every one of `max_downloads` is taken.
    UsedUp,
}

impl fmt::Display for ShareState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShareState::Live => "live",
            ShareState::Revoked => "revoked",
            ShareState::Expired => "expired",
            ShareState::UsedUp => "used up",
        })
    }
}
