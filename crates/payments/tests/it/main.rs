//! Integration tests of shardgate-payments against simulated LND nodes.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod common;

mod faults;
mod gate_flow;
mod hold;
mod invoices;
mod lnurl;
mod lnurl_http;
mod metrics;
