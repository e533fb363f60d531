//! Integration tests of shardgate-proto: the descriptor set and message round
//! trips.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod descriptor;
mod roundtrip;
