//! Bech32 (BIP-173) encoding, as BOLT 11 uses it: the original checksum
//! constant (not bech32m) and no 90-character limit, since invoices are long.

/// The 32 data characters; a character's index is its 5-bit value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/// Generator coefficients of the BCH checksum (BIP-173).
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];
/// Number of 5-bit words in the checksum.
const CHECKSUM_WORDS: usize = 6;

/// Why a string is not valid bech32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bech32Error {
    #[error("string mixes upper and lower case")]
    MixedCase,
    #[error("no separator character '1'")]
    MissingSeparator,
    #[error("invalid character {0:?} in data part")]
    InvalidChar(char),
    #[error("data part too short")]
    TooShort,
    #[error("checksum failed")]
    BadChecksum,
}

fn polymod(values: impl IntoIterator<Item = u8>) -> u32 {
    let mut chk: u32 = 1;
    for value in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(value);
        for (i, generator) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= generator;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &str) -> Vec<u8> {
    let bytes = hrp.as_bytes();
    let mut out: Vec<u8> = bytes.iter().map(|b| b >> 5).collect();
    out.push(0);
    out.extend(bytes.iter().map(|b| b & 0x1f));
    out
}

/// Encodes `hrp` and 5-bit `data` words (each < 32) with a checksum.
pub(crate) fn encode(hrp: &str, data: &[u8]) -> String {
    let checked = hrp_expand(hrp)
        .into_iter()
        .chain(data.iter().copied())
        .chain([0u8; CHECKSUM_WORDS]);
    let residue = polymod(checked) ^ 1;
    let mut out = String::with_capacity(hrp.len() + 1 + data.len() + CHECKSUM_WORDS);
    out.push_str(hrp);
    out.push('1');
    for word in data {
        out.push(char::from(CHARSET[usize::from(word & 0x1f)]));
    }
    for i in 0..CHECKSUM_WORDS {
        let word = (residue >> (5 * (CHECKSUM_WORDS - 1 - i))) & 0x1f;
        out.push(char::from(CHARSET[word as usize]));
    }
    out
}

/// Decodes a bech32 string into its (lowercase) human-readable part and the
/// 5-bit data words without the checksum.
pub(crate) fn decode(s: &str) -> Result<(String, Vec<u8>), Bech32Error> {
    let has_lower = s.chars().any(|c| c.is_ascii_lowercase());
    let has_upper = s.chars().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(Bech32Error::MixedCase);
    }
    let s = s.to_ascii_lowercase();
    let sep = s.rfind('1').ok_or(Bech32Error::MissingSeparator)?;
    let (hrp, rest) = s.split_at(sep);
    if hrp.is_empty() {
        return Err(Bech32Error::MissingSeparator);
    }
    let mut data = Vec::with_capacity(rest.len().saturating_sub(1));
    for c in rest[1..].chars() {
        let word = CHARSET
            .iter()
            .position(|&x| char::from(x) == c)
            .ok_or(Bech32Error::InvalidChar(c))?;
        // `position` over a 32-entry table always fits in five bits.
        data.push(word as u8);
    }
    if data.len() < CHECKSUM_WORDS {
        return Err(Bech32Error::TooShort);
    }
    if polymod(hrp_expand(hrp).into_iter().chain(data.iter().copied())) != 1 {
        return Err(Bech32Error::BadChecksum);
    }
    data.truncate(data.len() - CHECKSUM_WORDS);
    Ok((hrp.to_string(), data))
}

/// Regroups bytes into 5-bit words, zero-padding the last word.
pub(crate) fn to_words(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        acc = (acc << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(((acc >> bits) & 0x1f) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (5 - bits)) & 0x1f) as u8);
    }
    out
}

/// Regroups 5-bit words into bytes, dropping the padding bits of the tail.
pub(crate) fn from_words(words: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for word in words {
        acc = ((acc << 5) | u32::from(word & 0x1f)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip173_valid_vectors_decode() {
        // Test vectors from BIP-173.
        for valid in [
            "A12UEL5L",
            "a12uel5l",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        ] {
            assert!(decode(valid).is_ok(), "{valid}");
        }
    }

    #[test]
    fn roundtrip_and_checksum_detects_a_flipped_char() {
        let words = to_words(b"shardgate");
        let encoded = encode("lnbcrt", &words);
        let (hrp, data) = decode(&encoded).expect("decodes");
        assert_eq!(hrp, "lnbcrt");
        assert_eq!(from_words(&data), b"shardgate");

        let mut corrupted = encoded.into_bytes();
        let last = corrupted.len() - 1;
        corrupted[last] = if corrupted[last] == b'q' { b'p' } else { b'q' };
        let corrupted = String::from_utf8(corrupted).expect("ascii");
        assert_eq!(decode(&corrupted), Err(Bech32Error::BadChecksum));
    }

    #[test]
    fn mixed_case_is_rejected() {
        assert_eq!(decode("A12uEL5L"), Err(Bech32Error::MixedCase));
    }
}
