//! Manifest decoder on arbitrary bytes: never panics, never allocates more
//! than the input justifies, and anything accepted re-encodes to exactly the
//! input, so one manifest has one blob id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_core::{ContentId, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::decode(data) {
        assert_eq!(manifest.encode().as_slice(), data);
        assert_eq!(manifest.blob_id(), ContentId::of(data));
        let listed: u64 = manifest.chunks().iter().map(|c| u64::from(c.len)).sum();
        assert_eq!(listed, manifest.total_len());
    }
});
