//! `open_chunk` with one shard object replaced by arbitrary bytes (a hostile
//! or broken provider): it either returns the original plaintext or an
//! error, never other plaintext, and never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shardgate_core::{
    ConvergenceScope, ErasureParams, MasterKey, OpenKey, SealKey, SealedChunk, open_chunk,
    seal_chunk,
};

const PLAINTEXT: &[u8] = b"the fuzzer must never make this decrypt to anything else";

fn sealed() -> &'static SealedChunk {
    static SEALED: OnceLock<SealedChunk> = OnceLock::new();
    SEALED.get_or_init(|| {
        let secret = MasterKey::from_bytes([7; 32])
            .convergence_secret(ConvergenceScope::Global)
            .expect("global scope");
        seal_chunk(PLAINTEXT, SealKey::Managed(&secret), ErasureParams::default())
            .expect("seal")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, replacement)) = data.split_first() else {
        return;
    };
    let sealed = sealed();
    let params = ErasureParams::default();
    let victim = usize::from(selector) % params.total();
    // Bit 7 of the selector also drops another shard, forcing the
    // replacement into use.
    let dropped = (selector & 0x80 != 0).then_some((victim + 1) % params.total());
    let slots: Vec<Option<&[u8]>> = (0..params.total())
        .map(|i| match i {
            i if i == victim => Some(replacement),
            i if Some(i) == dropped => None,
            i => Some(sealed.shards[i].as_slice()),
        })
        .collect();
    if let Ok(opened) = open_chunk(
        &slots,
        &sealed.manifest_entry(),
        params,
        OpenKey::Managed(&sealed.key),
    ) {
        assert_eq!(opened.plaintext, PLAINTEXT);
    }
});
