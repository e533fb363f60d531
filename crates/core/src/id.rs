//! `ContentId`: the BLAKE3-256 name of a chunk ciphertext, a shard body, or a
//! canonical manifest (the blob id).

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// BLAKE3-256 digest used as a content address.
///
/// `Display` prints 64 lowercase hex characters; `Debug` prints the 8-char
/// short form so ids in logs and `{:?}` dumps stay readable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId([u8; 32]);

impl ContentId {
    /// Length of the digest in bytes.
    pub const LEN: usize = 32;
    /// Number of hex characters in [`ContentId::short`].
    pub const SHORT_HEX_LEN: usize = 8;

    /// BLAKE3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ContentId(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps an existing digest (e.g. read from an index or a header).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        ContentId(b)
    }

    /// Reads a digest from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CoreError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            CoreError::invalid(
                "content id",
                format!("need {} bytes, got {}", Self::LEN, bytes.len()),
            )
        })?;
        Ok(ContentId(arr))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..Self::SHORT_HEX_LEN / 2])
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl FromStr for ContentId {
    type Err = CoreError;

    /// Accepts exactly 64 hex characters, upper or lower case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::LEN * 2 {
            return Err(CoreError::invalid(
                "content id",
                format!("need {} hex characters, got {}", Self::LEN * 2, s.len()),
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| CoreError::invalid("content id", "not a hex string"))?;
        Ok(ContentId(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_any_case() {
        let id = ContentId::of(b"abc");
        let hex = id.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(hex.parse::<ContentId>().unwrap(), id);
        assert_eq!(hex.to_uppercase().parse::<ContentId>().unwrap(), id);
        assert_eq!(format!("{id}"), hex);
        assert_eq!(format!("{id:?}"), &hex[..8]);
        assert_eq!(id.short(), &hex[..8]);
    }

    #[test]
    fn rejects_bad_hex() {
        assert!("ab".parse::<ContentId>().is_err());
        let not_hex = "zz".repeat(32);
        assert!(not_hex.parse::<ContentId>().is_err());
        let too_long = "a".repeat(65);
        assert!(too_long.parse::<ContentId>().is_err());
        // Multi-byte UTF-8 of the right byte length must not panic.
        let utf8 = "é".repeat(32);
        assert!(utf8.parse::<ContentId>().is_err());
    }
}
