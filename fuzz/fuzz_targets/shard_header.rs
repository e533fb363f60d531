//! Shard header and shard object decoders on arbitrary bytes: never panic,
//! and anything accepted re-encodes to exactly the input (canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_core::{ShardHeader, decode_shard_object, encode_shard_object};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = ShardHeader::decode(data) {
        assert_eq!(header.encode().as_slice(), data);
    }
    if let Ok((h, body)) = decode_shard_object(data) {
        let again = encode_shard_object(h.chunk_id, h.index, h.k, h.m, h.chunk_len, body);
        assert_eq!(again.as_slice(), data);
    }
});
