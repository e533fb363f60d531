//! The conformance suite every [`Index`] implementation must pass (cargo
//! feature `conformance`).
//!
//! Each case is a pub async fn taking a fresh, empty index, so a new
//! implementation runs exactly the same checks. The simplest way is the
//! [`conformance_tests!`](crate::conformance_tests) macro, which expands to
//! one `#[tokio::test]` per case (a new case added here reaches every
//! implementation at once):
//!
//! ```ignore
//! struct PgHarness;
//! impl shardgate_index::conformance::Harness for PgHarness { /* ... */ }
//! shardgate_index::conformance_tests!(PgHarness);
//! ```
//!
//! Cases panic with a message on failure (this is test support code).

mod blobs;
mod concurrency;
pub mod fixtures;
mod gc;
mod ledger;
mod listing;
pub mod payment_fixtures;
mod payments;
mod payments_durability;
mod payouts;
mod providers;
mod race;
mod share_downloads;
pub mod share_fixtures;
mod shares;
mod tenants;

use std::future::Future;
use std::sync::Arc;

use crate::Index;

pub use blobs::{
    commit_get_and_stat, delete_returns_quota_and_decrements_refcounts,
    invalid_commits_write_nothing, public_and_private_lookups, quota_exceeded_writes_nothing,
    recommit_is_idempotent, shared_chunks_survive_deleting_one_blob,
};
pub use concurrency::{concurrent_commits_add_up, reopen_keeps_everything};
pub use gc::{
    commit_conflicts_when_condemned_before_and_finished_after_observed_epoch,
    commit_conflicts_when_gc_finished_after_observed_epoch, commit_conflicts_while_condemned,
    commit_succeeds_when_gc_finished_before_observed_epoch,
    dedup_against_live_chunk_conflicts_if_collected_before_commit,
    dedup_against_live_chunk_revives_if_not_yet_condemned, gc_condemns_only_zero_ref_chunks,
    live_chunk_with_other_params_conflicts, pruned_tombstones_reject_older_uploads,
    revive_keeps_stored_shard_locations,
};
pub use ledger::{
    balances_equal_sum_of_postings, invalid_ledger_entries_write_nothing,
    list_ledger_pages_filters_and_inserts_between_pages, malformed_ledger_token_is_invalid,
    record_payment_once_per_entry_id,
};
pub use listing::list_pagination_prefix_and_inserts_between_pages;
pub use payments::{
    concurrent_reserve_use_grants_exactly_uses, finish_invoice_is_idempotent_and_final,
    invoice_insert_get_duplicate_and_invalid, mark_hold_accepted_first_time_wins,
    pending_hold_invoices_pages_by_hash, reserve_use_until_exhausted_and_release_floor,
};
pub use payments_durability::{concurrent_record_payment_counts_once, payments_survive_reopen};
pub use payouts::{
    concurrent_payouts_never_overdraw, credit_funded_once_and_never_overspent,
    failed_payout_reverses_and_may_be_retried, payout_addresses_round_trip,
    payout_takes_money_once_and_refuses_overdraft,
};
pub use providers::{
    concurrent_shard_updates_land_exactly_once, providers_crud,
    rate_slots_are_spaced_and_refuse_beyond_the_wait, shards_on_provider_pages,
};
pub use race::gc_racing_uploads_loses_no_data;
pub use share_downloads::{
    concurrent_take_share_download_never_exceeds_max, return_share_download_gives_one_back,
    shares_survive_reopen, take_share_download_counts_and_refuses_unavailable,
};
pub use shares::{
    deleting_a_blob_deletes_its_shares, list_shares_pages_by_id_and_filters_by_blob,
    revoke_share_is_idempotent_and_owner_only, share_racing_blob_delete_never_outlives_it,
    share_round_trip_and_create_rules,
};
pub use tenants::tenants_crud_and_key_lookup;

/// How the suite gets stores of one implementation.
pub trait Harness: Send + Sync + 'static {
    /// One backing store (a temp dir, a scratch database); dropping it
    /// cleans up.
    type Store: Send + Sync;
    /// A new, empty store.
    fn create_store(&self) -> impl Future<Output = Self::Store> + Send;
    /// Opens an index on `store`. Called again after the previous index was
    /// dropped, it must see everything committed before (durability).
    fn open(&self, store: &Self::Store) -> impl Future<Output = Arc<dyn Index>> + Send;
}

/// One `#[tokio::test]` per conformance case, against `$harness` (an
/// expression of a type implementing [`Harness`]).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@fresh $harness;
            tenants_crud_and_key_lookup,
            commit_get_and_stat,
            invalid_commits_write_nothing,
            list_pagination_prefix_and_inserts_between_pages,
            recommit_is_idempotent,
            quota_exceeded_writes_nothing,
            delete_returns_quota_and_decrements_refcounts,
            shared_chunks_survive_deleting_one_blob,
            public_and_private_lookups,
            gc_condemns_only_zero_ref_chunks,
            commit_conflicts_while_condemned,
            commit_conflicts_when_gc_finished_after_observed_epoch,
            commit_conflicts_when_condemned_before_and_finished_after_observed_epoch,
            commit_succeeds_when_gc_finished_before_observed_epoch,
            dedup_against_live_chunk_conflicts_if_collected_before_commit,
            dedup_against_live_chunk_revives_if_not_yet_condemned,
            revive_keeps_stored_shard_locations,
            live_chunk_with_other_params_conflicts,
            pruned_tombstones_reject_older_uploads,
            providers_crud,
            shards_on_provider_pages,
            concurrent_shard_updates_land_exactly_once,
            rate_slots_are_spaced_and_refuse_beyond_the_wait,
            concurrent_commits_add_up,
            gc_racing_uploads_loses_no_data,
            invoice_insert_get_duplicate_and_invalid,
            reserve_use_until_exhausted_and_release_floor,
            concurrent_reserve_use_grants_exactly_uses,
            mark_hold_accepted_first_time_wins,
            finish_invoice_is_idempotent_and_final,
            pending_hold_invoices_pages_by_hash,
            record_payment_once_per_entry_id,
            invalid_ledger_entries_write_nothing,
            balances_equal_sum_of_postings,
            list_ledger_pages_filters_and_inserts_between_pages,
            malformed_ledger_token_is_invalid,
            concurrent_record_payment_counts_once,
            payout_takes_money_once_and_refuses_overdraft,
            failed_payout_reverses_and_may_be_retried,
            concurrent_payouts_never_overdraw,
            credit_funded_once_and_never_overspent,
            payout_addresses_round_trip,
            share_round_trip_and_create_rules,
            list_shares_pages_by_id_and_filters_by_blob,
            revoke_share_is_idempotent_and_owner_only,
            deleting_a_blob_deletes_its_shares,
            share_racing_blob_delete_never_outlives_it,
            take_share_download_counts_and_refuses_unavailable,
            return_share_download_gives_one_back,
            concurrent_take_share_download_never_exceeds_max
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn reopen_keeps_everything() {
            $crate::conformance::reopen_keeps_everything(&$harness).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn payments_survive_reopen() {
            $crate::conformance::payments_survive_reopen(&$harness).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn shares_survive_reopen() {
            $crate::conformance::shares_survive_reopen(&$harness).await;
        }
    };
    (@fresh $harness:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let harness = $harness;
            let store = $crate::conformance::Harness::create_store(&harness).await;
            let index = $crate::conformance::Harness::open(&harness, &store).await;
            $crate::conformance::$case(index).await;
        }
    )*};
}
