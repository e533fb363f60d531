//! Integration tests of shardgate-core: golden vectors, key schedule and
//! dedup, manifest and chunker, round-trip properties, shard format.
//!
//! One test binary per crate (see TESTING.md): each former `tests/*.rs`
//! file is a module here, so tonic, opendal and the crate link once.

mod golden;
mod keys_dedup;
mod manifest_chunker;
mod roundtrip_props;
mod shard_format;
