//! Integration tests of the `shardgate` binary: serve and client commands,
//! dev mode, paid downloads, end-to-end mode.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod common;

mod dev_mode;
mod end_to_end;
mod paid_get;
mod serve_client;
