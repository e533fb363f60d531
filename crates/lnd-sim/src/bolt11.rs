//! BOLT 11 payment requests: a real bech32 encoding of the fields the
//! simulator needs (payment hash, payment secret, amount, timestamp, expiry,
//! description or its hash, min final CLTV delta, payee node, features).
//!
//! Not faithful: the 65-byte signature is all zeros. Signing needs secp256k1,
//! which this workspace does not carry, and the simulated payee key is not a
//! real curve point. A decoder that verifies or recovers the signature (as LND
//! itself does) will reject our invoices; sim nodes find the payee from the
//! `n` field instead.

use crate::bech32;

/// Human-readable prefix of a regtest invoice (`ln` + BIP-173 `bcrt`).
pub const REGTEST_PREFIX: &str = "lnbcrt";
/// BOLT 11 default when the `x` field is absent.
const DEFAULT_EXPIRY_SECS: u64 = 3600;
/// BOLT 11 default when the `c` field is absent.
const DEFAULT_MIN_FINAL_CLTV: u64 = 18;
/// Timestamp width: 35 bits, seven 5-bit words.
const TIMESTAMP_WORDS: usize = 7;
/// Signature: 64 bytes plus a recovery id = 520 bits = 104 words.
const SIGNATURE_WORDS: usize = 104;
/// Millisatoshis in one bitcoin, the unit of an amount without multiplier.
const MSAT_PER_BTC: u64 = 100_000_000_000;

// Tagged field types (the 5-bit value of their bech32 letter).
const TAG_PAYMENT_HASH: u8 = 1; // p
const TAG_FEATURES: u8 = 5; // 9
const TAG_EXPIRY: u8 = 6; // x
const TAG_DESCRIPTION: u8 = 13; // d
const TAG_PAYMENT_SECRET: u8 = 16; // s
const TAG_PAYEE: u8 = 19; // n
const TAG_DESCRIPTION_HASH: u8 = 23; // h
const TAG_MIN_FINAL_CLTV: u8 = 24; // c

/// Feature bits LND sets on its invoices: var_onion_optin (8, required),
/// payment_addr (14, required), basic_mpp (17, optional).
pub const INVOICE_FEATURE_BITS: [u32; 3] = [8, 14, 17];

/// Why a payment request could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bolt11Error {
    #[error("invalid bech32 string: {0}")]
    Bech32(#[from] bech32::Bech32Error),
    #[error("invoice not for current active network 'regtest'")]
    WrongNetwork,
    #[error("invalid amount in human-readable part")]
    BadAmount,
    #[error("invoice too short")]
    TooShort,
    #[error("invalid field {0}")]
    BadField(&'static str),
    #[error("invoice missing {0}")]
    Missing(&'static str),
}

/// The decoded content of a payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub amount_msat: Option<u64>,
    /// Creation time, unix seconds.
    pub timestamp: u64,
    pub payment_hash: [u8; 32],
    pub payment_secret: Option<[u8; 32]>,
    pub description: String,
    pub description_hash: Option<[u8; 32]>,
    /// Compressed public key of the node that issued the invoice.
    pub payee: [u8; 33],
    pub expiry_secs: u64,
    pub min_final_cltv_expiry: u64,
    pub feature_bits: Vec<u32>,
}

impl PaymentRequest {
    /// Unix second after which the invoice may no longer be paid.
    pub fn expires_at(&self) -> u64 {
        self.timestamp.saturating_add(self.expiry_secs)
    }

    /// Encodes to the `lnbcrt…` string form.
    pub fn encode(&self) -> String {
        let mut hrp = REGTEST_PREFIX.to_string();
        if let Some(msat) = self.amount_msat {
            hrp.push_str(&encode_amount(msat));
        }
        let mut data = int_to_words(self.timestamp, TIMESTAMP_WORDS);
        push_field(
            &mut data,
            TAG_PAYMENT_HASH,
            bech32::to_words(&self.payment_hash),
        );
        if let Some(secret) = &self.payment_secret {
            push_field(&mut data, TAG_PAYMENT_SECRET, bech32::to_words(secret));
        }
        match &self.description_hash {
            Some(hash) => push_field(&mut data, TAG_DESCRIPTION_HASH, bech32::to_words(hash)),
            None => push_field(
                &mut data,
                TAG_DESCRIPTION,
                bech32::to_words(self.description.as_bytes()),
            ),
        }
        push_field(&mut data, TAG_PAYEE, bech32::to_words(&self.payee));
        push_field(&mut data, TAG_EXPIRY, int_to_min_words(self.expiry_secs));
        push_field(
            &mut data,
            TAG_MIN_FINAL_CLTV,
            int_to_min_words(self.min_final_cltv_expiry),
        );
        push_field(
            &mut data,
            TAG_FEATURES,
            features_to_words(&self.feature_bits),
        );
        data.extend([0u8; SIGNATURE_WORDS]);
        bech32::encode(&hrp, &data)
    }

    /// Decodes an `lnbcrt…` payment request. Unknown tagged fields are skipped,
    /// as BOLT 11 requires; the signature is not checked (see module docs).
    pub fn decode(s: &str) -> Result<Self, Bolt11Error> {
        let (hrp, data) = bech32::decode(s.trim())?;
        let amount_part = hrp
            .strip_prefix(REGTEST_PREFIX)
            .ok_or(Bolt11Error::WrongNetwork)?;
        let amount_msat = if amount_part.is_empty() {
            None
        } else {
            Some(decode_amount(amount_part)?)
        };
        if data.len() < TIMESTAMP_WORDS + SIGNATURE_WORDS {
            return Err(Bolt11Error::TooShort);
        }
        let fields = &data[..data.len() - SIGNATURE_WORDS];
        let timestamp = words_to_int(&fields[..TIMESTAMP_WORDS]);
        let mut req = PaymentRequest {
            amount_msat,
            timestamp,
            payment_hash: [0; 32],
            payment_secret: None,
            description: String::new(),
            description_hash: None,
            payee: [0; 33],
            expiry_secs: DEFAULT_EXPIRY_SECS,
            min_final_cltv_expiry: DEFAULT_MIN_FINAL_CLTV,
            feature_bits: Vec::new(),
        };
        let (mut have_hash, mut have_payee) = (false, false);
        let mut rest = &fields[TIMESTAMP_WORDS..];
        while !rest.is_empty() {
            if rest.len() < 3 {
                return Err(Bolt11Error::BadField("header"));
            }
            let tag = rest[0];
            let len = (usize::from(rest[1]) << 5) | usize::from(rest[2]);
            let value = rest
                .get(3..3 + len)
                .ok_or(Bolt11Error::BadField("length"))?;
            rest = &rest[3 + len..];
            match tag {
                TAG_PAYMENT_HASH => {
                    req.payment_hash = fixed(value, "payment hash")?;
                    have_hash = true;
                }
                TAG_PAYMENT_SECRET => req.payment_secret = Some(fixed(value, "payment secret")?),
                TAG_DESCRIPTION => {
                    req.description = String::from_utf8(bech32::from_words(value))
                        .map_err(|_| Bolt11Error::BadField("description"))?;
                }
                TAG_DESCRIPTION_HASH => {
                    req.description_hash = Some(fixed(value, "description hash")?);
                }
                TAG_PAYEE => {
                    req.payee = fixed(value, "payee")?;
                    have_payee = true;
                }
                TAG_EXPIRY => req.expiry_secs = words_to_int(value),
                TAG_MIN_FINAL_CLTV => req.min_final_cltv_expiry = words_to_int(value),
                TAG_FEATURES => req.feature_bits = words_to_features(value),
                _ => {}
            }
        }
        if !have_hash {
            return Err(Bolt11Error::Missing("payment hash"));
        }
        if !have_payee {
            // Real invoices may omit `n` (the key is recovered from the
            // signature); ours always carry it because we cannot sign.
            return Err(Bolt11Error::Missing("payee node key"));
        }
        Ok(req)
    }
}

fn fixed<const N: usize>(words: &[u8], what: &'static str) -> Result<[u8; N], Bolt11Error> {
    let bytes = bech32::from_words(words);
    bytes.try_into().map_err(|_| Bolt11Error::BadField(what))
}

fn push_field(data: &mut Vec<u8>, tag: u8, value: Vec<u8>) {
    // Field length is two 5-bit words: at most 1023 words of payload.
    let len = value.len().min(1023);
    data.push(tag);
    data.push(((len >> 5) & 0x1f) as u8);
    data.push((len & 0x1f) as u8);
    data.extend_from_slice(&value[..len]);
}

fn int_to_words(mut value: u64, count: usize) -> Vec<u8> {
    let mut words = vec![0u8; count];
    for word in words.iter_mut().rev() {
        *word = (value & 0x1f) as u8;
        value >>= 5;
    }
    words
}

/// Big-endian words without leading zeros (BOLT 11 integers are minimal).
fn int_to_min_words(value: u64) -> Vec<u8> {
    let mut words = int_to_words(value, 13);
    let first = words
        .iter()
        .position(|&w| w != 0)
        .unwrap_or(words.len() - 1);
    words.split_off(first)
}

fn words_to_int(words: &[u8]) -> u64 {
    words
        .iter()
        .fold(0u64, |acc, &w| acc.wrapping_shl(5) | u64::from(w & 0x1f))
}

fn features_to_words(bits: &[u32]) -> Vec<u8> {
    let count = bits.iter().map(|b| b / 5 + 1).max().unwrap_or(0) as usize;
    let mut words = vec![0u8; count];
    for bit in bits {
        let from_end = (bit / 5) as usize;
        words[count - 1 - from_end] |= 1 << (bit % 5);
    }
    words
}

fn words_to_features(words: &[u8]) -> Vec<u32> {
    let mut bits = Vec::new();
    for (from_end, word) in words.iter().rev().enumerate() {
        for bit in 0..5 {
            if word & (1 << bit) != 0 {
                bits.push(from_end as u32 * 5 + bit);
            }
        }
    }
    bits
}

/// The shortest BOLT 11 amount for `msat`: whole BTC, or m/u/n/p units.
fn encode_amount(msat: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (MSAT_PER_BTC, ""),
        (100_000_000, "m"),
        (100_000, "u"),
        (100, "n"),
    ];
    for (per_unit, suffix) in UNITS {
        if msat.is_multiple_of(per_unit) {
            return format!("{}{suffix}", msat / per_unit);
        }
    }
    // One pico-bitcoin is a tenth of a millisatoshi.
    format!("{}p", u128::from(msat) * 10)
}

fn decode_amount(s: &str) -> Result<u64, Bolt11Error> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], Some(c)),
        _ => (s, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bolt11Error::BadAmount);
    }
    let value: u128 = digits.parse().map_err(|_| Bolt11Error::BadAmount)?;
    let msat = match unit {
        None => value * u128::from(MSAT_PER_BTC),
        Some('m') => value * 100_000_000,
        Some('u') => value * 100_000,
        Some('n') => value * 100,
        Some('p') if value.is_multiple_of(10) => value / 10,
        _ => return Err(Bolt11Error::BadAmount),
    };
    u64::try_from(msat).map_err(|_| Bolt11Error::BadAmount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(amount_msat: Option<u64>) -> PaymentRequest {
        PaymentRequest {
            amount_msat,
            timestamp: 1_700_000_000,
            payment_hash: [7; 32],
            payment_secret: Some([9; 32]),
            description: "download blob 1f2e".into(),
            description_hash: None,
            payee: [2; 33],
            expiry_secs: 86_400,
            min_final_cltv_expiry: 80,
            feature_bits: INVOICE_FEATURE_BITS.to_vec(),
        }
    }

    #[test]
    fn roundtrips_every_amount_unit() {
        for (msat, prefix) in [
            (Some(250_000_000u64), "lnbcrt2500u1"),
            (Some(100_000_000_000), "lnbcrt11"),
            (Some(200_000_000), "lnbcrt2m1"),
            (Some(1_500), "lnbcrt15n1"),
            (Some(1_234), "lnbcrt12340p1"),
            (None, "lnbcrt1"),
        ] {
            let req = sample(msat);
            let encoded = req.encode();
            assert!(encoded.starts_with(prefix), "{encoded} vs {prefix}");
            assert_eq!(PaymentRequest::decode(&encoded), Ok(req));
        }
    }

    #[test]
    fn description_hash_replaces_description() {
        let mut req = sample(Some(1_000));
        req.description = String::new();
        req.description_hash = Some([5; 32]);
        assert_eq!(PaymentRequest::decode(&req.encode()), Ok(req));
    }

    #[test]
    fn other_networks_are_refused() {
        let encoded = sample(Some(1_000)).encode().replacen("lnbcrt", "lnbc", 1);
        assert!(PaymentRequest::decode(&encoded).is_err());
    }

    #[test]
    fn feature_words_match_bolt11_layout() {
        // Bits 8, 14, 17: words (big-endian) 0b00100, 0b10000, 0b01000, 0.
        assert_eq!(features_to_words(&[8, 14, 17]), vec![4, 16, 8, 0]);
        assert_eq!(words_to_features(&[4, 16, 8, 0]), vec![8, 14, 17]);
    }
}
