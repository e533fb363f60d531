//! Integration tests of shardgate-index: the conformance suite over redb and
//! PostgreSQL (one or several replicas).
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod pg_schema;

mod postgres;
mod postgres_replicas;
mod postgres_tls;
mod redb;
