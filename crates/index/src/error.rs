//! The one error type of the crate.
//!
//! Each variant tells the caller what to do: fix the request (`Invalid`),
//! retry the whole operation (`Conflict`), retry later (`Storage`), pay
//! again (`UsesExhausted`), ask the owner for a new link
//! (`ShareUnavailable`), report and stop (`Corrupt`), or show the user
//! why (`NotFound`, `AlreadyExists`, `QuotaExceeded`). Every implementation
//! (redb, PostgreSQL) maps its own failures onto these kinds, so the broker
//! maps them to gRPC in one place.

use crate::share_state::ShareState;

/// Errors of every [`crate::Index`] implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The tenant, blob, chunk or provider does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up (e.g. `tenant acme`).
        what: String,
    },
    /// A record with this id (or API key hash) already exists.
    #[error("already exists: {what}")]
    AlreadyExists {
        /// The record that exists already.
        what: String,
    },
    /// Storing `requested` more bytes would take the tenant over its quota.
    /// Nothing was written.
    #[error("quota exceeded: {used} of {quota} bytes used, {requested} more requested")]
    QuotaExceeded {
        /// Bytes the tenant stores now.
        used: u64,
        /// The tenant's quota, bytes.
        quota: u64,
        /// Bytes the refused operation would add.
        requested: u64,
    },
    /// A concurrent change (garbage collection, another writer) invalidated
    /// what the caller read before writing. Nothing was written; retry the
    /// operation from the start (for an upload: re-read the GC epoch and the
    /// live chunks, re-write the missing ones, commit again).
    #[error("conflict (retry): {what}")]
    Conflict {
        /// What changed under the caller.
        what: String,
    },
    /// A paid credential's invoice has no download left: all `uses` are
    /// spent. Not retryable; the payer needs a new invoice.
    #[error("credential used up: {used} of {uses} uses spent")]
    UsesExhausted {
        /// Downloads consumed.
        used: u32,
        /// Downloads bought.
        uses: u32,
    },
    /// The share exists but gives nothing any more: revoked, expired or
    /// used up (only `take_share_download` returns it). Not retryable; the
    /// holder needs a new link from the owner.
    #[error("share {state}")]
    ShareUnavailable {
        /// Why the share is not live (never `ShareState::Live`).
        state: ShareState,
    },
    /// The entry would take an account below zero (a payout or a credit
    /// download larger than what the account holds). Nothing was written.
    #[error("insufficient balance: {account} holds {balance_msat} msat, {needed_msat} msat needed")]
    InsufficientBalance {
        /// The account, as `kind:id`.
        account: String,
        /// What it holds now, msat.
        balance_msat: u64,
        /// What the refused entry takes from it, msat.
        needed_msat: u64,
    },
    /// The request itself is malformed or inconsistent; retrying cannot help.
    #[error("invalid request: {what}")]
    Invalid {
        /// What is wrong with the request, for the caller.
        what: String,
    },
    /// The store is unavailable or failed (I/O, connection, full disk).
    /// Retry later; nothing was committed.
    #[error("index storage unavailable: {what}")]
    Storage {
        /// The store's own message.
        what: String,
    },
    /// Stored bytes do not decode (unknown record version, truncation) or
    /// break an invariant. Needs an operator; never retried automatically.
    #[error("index corrupt: {what}")]
    Corrupt {
        /// Which record and what does not decode.
        what: String,
    },
}

impl IndexError {
    /// True when the same call may succeed if simply made again
    /// (`Conflict` after re-reading, `Storage` after a pause).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            IndexError::Conflict { .. } | IndexError::Storage { .. }
        )
    }

    /// Shorthand for [`IndexError::NotFound`] with this description.
    pub fn not_found(what: impl Into<String>) -> Self {
        IndexError::NotFound { what: what.into() }
    }
    /// Shorthand for [`IndexError::AlreadyExists`] with this description.
    pub fn already_exists(what: impl Into<String>) -> Self {
        IndexError::AlreadyExists { what: what.into() }
    }
    /// Shorthand for [`IndexError::Conflict`] with this description.
    pub fn conflict(what: impl Into<String>) -> Self {
        IndexError::Conflict { what: what.into() }
    }
    /// Shorthand for [`IndexError::Invalid`] with this description.
    pub fn invalid(what: impl Into<String>) -> Self {
        IndexError::Invalid { what: what.into() }
    }
    /// Shorthand for [`IndexError::Corrupt`] with this description.
    pub fn corrupt(what: impl Into<String>) -> Self {
        IndexError::Corrupt { what: what.into() }
    }
    /// Shorthand for [`IndexError::Storage`] with this description.
    pub fn storage(what: impl Into<String>) -> Self {
        IndexError::Storage { what: what.into() }
    }
}
