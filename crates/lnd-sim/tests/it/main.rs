//! Integration tests of shardgate-lnd-sim: a sim node through the real LND
//! clients, and the `lnd-sim` binary.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod common;

mod auth;
mod binary;
mod concurrency;
mod faults;
mod hold_invoices;
mod invoices;
mod payments;
mod routing_fees;
mod stalled_payments;
