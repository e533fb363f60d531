//! Property tests of token minting and verification.
use proptest::prelude::*;

use super::*;

/// Byte offset where the identifier field starts (after version and
/// the unsigned location field "shardgate").
const SIGNED_FROM: usize = 1 + 2 + 9;

/// Flipping any single bit of the signed part (identifier, caveats,
/// structure, signature) never yields an accepted credential; all
/// 1,840 flips are tried.
#[test]
fn no_single_bit_flip_is_accepted() {
    let token = keys()
        .mint_with_id(&claims(), TokenId([0x33; 32]))
        .expect("mints");
    let bytes = STANDARD.decode(&token).expect("b64");
    for byte in SIGNED_FROM..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[byte] ^= 1 << bit;
            let value = with_preimage(&STANDARD.encode(&flipped));
            assert!(
                verify_value(&value, &request()).is_err(),
                "flip of bit {bit} in byte {byte} accepted"
            );
        }
    }
}

proptest! {
    /// Arbitrary header values never panic and never verify.
    #[test]
    fn arbitrary_authorization_values_are_refused(value in ".{0,600}") {
        prop_assert!(verify_value(&value, &request()).is_err());
    }

    /// Arbitrary bytes behind a valid scheme never panic or verify.
    #[test]
    fn arbitrary_token_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let value = with_preimage(&STANDARD.encode(&bytes));
        prop_assert!(verify_value(&value, &request()).is_err());
    }

    /// Whatever the claims, a minted token verifies for any request
    /// inside them and reports them back.
    #[test]
    fn minted_claims_round_trip(
        offset in 0u64..(1 << 40),
        length in 0u64..(1 << 40),
        uses in 1u32..=u32::MAX,
        ttl in 1u64..(1 << 32),
    ) {
        let c = TokenClaims {
            range: PaidRange { offset, length },
            uses,
            expires_at_unix: NOW + ttl,
            ..claims()
        };
        let token = keys().mint(&c).expect("mints");
        let req = AccessRequest { range: c.range, ..request() };
        let v = verify_value(&with_preimage(&token), &req).expect("valid");
        prop_assert_eq!(v.paid_range, c.range);
        prop_assert_eq!(v.max_uses, uses);
        prop_assert_eq!(v.expires_at_unix, NOW + ttl);
    }
}
