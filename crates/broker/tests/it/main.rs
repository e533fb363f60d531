//! Integration tests of shardgate-broker: a real broker in process on
//! 127.0.0.1:0 with fs providers, driven through the generated clients.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod common;

mod access;
mod direct_download;
mod gc_race;
mod lifecycle;
mod money_property;
mod operations;
mod payments;
mod round_trip;
