//! End-to-end tests: the real `shardgate` binary on real peers (moto, the GCS
//! emulator, s3s-fs, PostgreSQL, lnd-sim), seen from the client's side.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod abuse_limits;
mod broker_access;
mod broker_bad_input;
mod broker_dedup_gc;
mod broker_drain_dead_provider;
mod broker_faults;
mod broker_grpc_js;
mod broker_honest_redundancy;
mod broker_memory_budget;
mod broker_orphan_gc;
mod broker_postgres;
mod broker_repair;
mod broker_replicas;
mod broker_round_trip;
mod broker_wire_status;
mod deploy_manifests;
mod download_refused_before_paying;
mod fault_proxy;
mod gate_table;
mod gateway_cli;
mod gateway_http;
mod gateway_shares;
mod payments_bad_input;
mod payments_concurrency;
mod payments_credit;
mod payments_expiry;
mod payments_get_flow;
mod payments_hold;
mod payments_ledger;
mod payments_lnd_down;
mod payments_money_out;
mod payments_permissions;
mod payments_refusals;
mod peers_smoke;
mod pg_schema;
mod provider_behaviour;
mod provider_faults;
mod provider_independent_check;
mod provider_placement_outage;
mod sdk_direct_download;
mod sdk_end_to_end;
mod sdk_unread_downloads;
mod share_browser;
