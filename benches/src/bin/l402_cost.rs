//! Measures what one L402 check costs the broker: parsing the
//! `authorization` value and verifying the token (HMAC chain, caveats,
//! preimage), and minting a token.
//!
//! `cargo run --release -p shardgate-benches --bin l402_cost`

use std::time::Instant;

use shardgate_core::ContentId;
use shardgate_payments::l402::header::authorization;
use shardgate_payments::{
    AccessRequest, L402Keys, PaidRange, Preimage, TokenClaims, parse_authorization,
};

const ROUNDS: u32 = 100_000;

fn main() {
    let keys = L402Keys::from_root_key([1; 32]);
    let preimage = Preimage([2; 32]);
    let blob = ContentId::of(b"blob");
    let claims = TokenClaims {
        payment_hash: preimage.payment_hash(),
        blob,
        range: PaidRange {
            offset: 0,
            length: 1 << 30,
        },
        expires_at_unix: u64::MAX,
        uses: 10,
        share: None,
    };
    let request = AccessRequest {
        blob,
        range: PaidRange {
            offset: 0,
            length: 1 << 20,
        },
        now_unix: 1_900_000_000,
        share: None,
    };

    let started = Instant::now();
    let mut token = String::new();
    for _ in 0..ROUNDS {
        token = keys.mint(&claims).expect("mint");
    }
    let mint = started.elapsed() / ROUNDS;

    let value = authorization(&token, Some(&preimage));
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let credential = parse_authorization(&value).expect("parse");
        keys.verify(&credential, &request).expect("verify");
    }
    let check = started.elapsed() / ROUNDS;
    println!(
        "token {} base64 chars; mint {mint:?}/token; parse+verify {check:?}/request ({ROUNDS} rounds)",
        token.len()
    );
}
