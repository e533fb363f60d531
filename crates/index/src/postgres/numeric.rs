//! `U64`: a `u64` stored as `numeric(20,0)`.
//!
//! PostgreSQL has no unsigned 64-bit integer and `bigint` stops at 2^63-1,
//! while quotas (`u64::MAX` = unlimited), sizes and msat amounts use the
//! whole range. `numeric(20,0)` holds every `u64` exactly, sorts correctly
//! and reads as plain numbers in `psql`. This type speaks numeric's binary
//! wire format directly (no decimal crate): base-10000 digits, most
//! significant first, with a weight (power of 10000 of the first digit).

use std::error::Error;

use bytes::{BufMut, BytesMut};
use deadpool_postgres::tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A `u64` that binds to and reads from `numeric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct U64(pub u64);

const NBASE: u64 = 10_000;
/// numeric's sign field for a positive value (0x4000 negative, 0xC000 NaN, ...).
const SIGN_POSITIVE: u16 = 0x0000;

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for U64 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        // Base-10000 digits, least significant first.
        let mut digits = Vec::with_capacity(5);
        let mut rest = self.0;
        while rest > 0 {
            digits.push((rest % NBASE) as i16);
            rest /= NBASE;
        }
        // The weight counts the stripped trailing zero digits too.
        let weight = i16::try_from(digits.len())
            .unwrap_or(0)
            .saturating_sub(1)
            .max(0);
        let zeros = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..zeros);
        digits.reverse();
        out.put_i16(i16::try_from(digits.len()).unwrap_or(0));
        out.put_i16(weight);
        out.put_u16(SIGN_POSITIVE);
        out.put_u16(0); // display scale: an integer
        for d in digits {
            out.put_i16(d);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for U64 {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let field = |i: usize| -> Result<[u8; 2], BoxError> {
            raw.get(i..i + 2)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| "numeric value truncated".into())
        };
        let ndigits = i16::from_be_bytes(field(0)?);
        let weight = i32::from(i16::from_be_bytes(field(2)?));
        let sign = u16::from_be_bytes(field(4)?);
        if sign != SIGN_POSITIVE {
            return Err("numeric value is negative, NaN or infinite, not a u64".into());
        }
        let ndigits = usize::try_from(ndigits).map_err(|_| "negative numeric digit count")?;
        if raw.len() != 8 + 2 * ndigits {
            return Err("numeric value has the wrong length".into());
        }
        let mut value: u128 = 0;
        for i in 0..ndigits {
            let digit = i16::from_be_bytes(field(8 + 2 * i)?);
            if !(0..NBASE as i16).contains(&digit) {
                return Err("numeric digit out of range".into());
            }
            let power = weight - i32::try_from(i).map_err(|_| "too many digits")?;
            if digit == 0 {
                continue;
            }
            if power < 0 {
                return Err("numeric value has a fraction, not a u64".into());
            }
            let scale = u32::try_from(power)
                .ok()
                .and_then(|p| u128::from(NBASE).checked_pow(p))
                .ok_or("numeric value exceeds u64")?;
            value = scale
                .checked_mul(digit as u128)
                .and_then(|v| v.checked_add(value))
                .ok_or("numeric value exceeds u64")?;
        }
        Ok(U64(
            u64::try_from(value).map_err(|_| "numeric value exceeds u64")?
        ))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: u64) -> u64 {
        let mut buf = BytesMut::new();
        U64(v).to_sql(&Type::NUMERIC, &mut buf).expect("encode");
        U64::from_sql(&Type::NUMERIC, &buf).expect("decode").0
    }

    #[test]
    fn every_magnitude_round_trips() {
        for v in [
            0,
            1,
            9_999,
            10_000,
            10_001,
            100_000_000,
            1_700_000_000_000,
            u64::from(u32::MAX),
            i64::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(round_trip(v), v);
        }
    }

    #[test]
    fn encodes_like_postgres() {
        // 10000 = one digit "1" of weight 1 (PostgreSQL strips trailing zeros).
        let mut buf = BytesMut::new();
        U64(10_000).to_sql(&Type::NUMERIC, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        let mut buf = BytesMut::new();
        U64(0).to_sql(&Type::NUMERIC, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn refuses_what_is_not_a_u64() {
        // -1
        let negative = [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 1];
        assert!(U64::from_sql(&Type::NUMERIC, &negative).is_err());
        // 0.5 = digit 5000 at weight -1
        let fraction = [0, 1, 0xff, 0xff, 0, 0, 0, 1, 0x13, 0x88];
        assert!(U64::from_sql(&Type::NUMERIC, &fraction).is_err());
        // 10^20 = digit 1 at weight 5
        let too_big = [0, 1, 0, 5, 0, 0, 0, 0, 0, 1];
        assert!(U64::from_sql(&Type::NUMERIC, &too_big).is_err());
        assert!(U64::from_sql(&Type::NUMERIC, &[0, 1, 0]).is_err());
    }
}
