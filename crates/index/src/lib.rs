#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod codec;
pub mod credits;
pub mod error;
pub mod gc;
pub mod index;
pub mod payment_rules;
pub mod payments;
pub mod payouts;
#[cfg(feature = "postgres")]
mod postgres;
pub mod rate_slots;
pub mod records;
mod redb_index;
pub mod rules;
pub mod share_rules;
mod share_state;
pub mod shares;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use credits::CreditRecord;
pub use error::IndexError;
pub use index::Index;
pub use payments::{
    AccountBalance, EntryKind, InvoiceProgress, InvoiceRecord, LedgerAccount, LedgerAccountKind,
    LedgerEntry, LedgerFilter, LedgerPosting, PaymentHash, PostingSide,
};
pub use payouts::{PayoutAddressRecord, PayoutOrigin, PayoutRecord, PayoutStart, PayoutState};
#[cfg(feature = "postgres")]
pub use postgres::{DEFAULT_SCHEMA as DEFAULT_POSTGRES_SCHEMA, PostgresIndex, PostgresOptions};
pub use rate_slots::SlotBooking;
pub use records::{
    BlobRecord, ChunkRecord, CommitOutcome, MAX_BLOB_NAME_LEN, MAX_CONTENT_TYPE_LEN,
    MAX_METADATA_ENTRIES, MAX_METADATA_ITEM_LEN, MAX_PAGE_LIMIT, MAX_PROVIDER_NAME_LEN,
    MAX_TENANT_ID_LEN, NewBlob, Price, ProviderRecord, ProviderState, ShardLocation, ShardUpdate,
    TenantId, TenantRecord, Visibility,
};
pub use redb_index::RedbIndex;
pub use shares::{
    MAX_SHARE_SEALED_NAME_LEN, MAX_SHARE_WRAPPED_KEY_LEN, SHARE_ID_LEN, ShareId, ShareRecord,
    ShareState,
};
