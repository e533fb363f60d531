//! BOLT 11 payment requests: bech32 with the tagged fields the simulator
//! uses (payment hash, payment secret, description or its hash, payee node,
//! expiry, min final CLTV delta, features), signed with the issuing node's
//! secp256k1 key exactly as BOLT 11 specifies. Decoding checks the signature
//! against the `n` field, or recovers the payee when `n` is absent.

use sha2::{Digest, Sha256};

use crate::bech32;
use crate::node_key::{self, NodeKey, RecoverableSignature};

/// Every invoice's human-readable part starts with this.
const LN_PREFIX: &str = "ln";
/// BIP-173 prefix of regtest, the only network sim nodes run on.
pub(crate) const REGTEST: &str = "bcrt";
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
pub(crate) const INVOICE_FEATURE_BITS: [u32; 3] = [8, 14, 17];

/// Why a payment request could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bolt11Error {
    /// The string is not valid bech32 (bad character, mixed case, checksum).
    #[error("invalid bech32 string: {0}")]
    Bech32(#[from] bech32::Bech32Error),
    /// The invoice is for another network than the simulator's regtest
    /// (`lnbcrt`); raised when paying it, with LND's own message.
    #[error("invoice not for current active network 'regtest'")]
    WrongNetwork,
    /// The human-readable part does not start with `ln`.
    #[error("not a lightning invoice (no 'ln' prefix)")]
    NotLightning,
    /// The recoverable signature is malformed or does not verify.
    #[error("invalid invoice signature")]
    BadSignature,
    /// The amount after the network prefix has a bad multiplier or is not a
    /// whole number of millisatoshis, or overflows `u64`.
    #[error("invalid amount in human-readable part")]
    BadAmount,
    /// Fewer 5-bit words than a timestamp and a signature need.
    #[error("invoice too short")]
    TooShort,
    /// A tagged field (named) has the wrong length or content.
    #[error("invalid field {0}")]
    BadField(&'static str),
    /// A required tagged field (named) is absent, e.g. the payment hash.
    #[error("invoice missing {0}")]
    Missing(&'static str),
}

/// The decoded content of a payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// BIP-173 network prefix: `bc`, `tb`, `bcrt`, ...
    pub network: String,
    /// Amount asked, millisatoshis; `None` for an any-amount invoice.
    pub amount_msat: Option<u64>,
    /// Creation time, unix seconds.
    pub timestamp: u64,
    /// SHA-256 of the preimage the payee reveals on settlement (tag `p`).
    pub payment_hash: [u8; 32],
    /// The payment secret (tag `s`) the payer must echo, if present.
    pub payment_secret: Option<[u8; 32]>,
    /// Free-text description (tag `d`); empty when absent.
    pub description: String,
    /// SHA-256 of a longer description (tag `h`), if present.
    pub description_hash: Option<[u8; 32]>,
    /// Compressed public key of the node that issued (and signed) it.
    pub payee: [u8; 33],
    /// Seconds after `timestamp` until the invoice expires (tag `x`;
    /// BOLT 11 default 3600 when absent).
    pub expiry_secs: u64,
    /// CLTV delta, in blocks, the last hop needs (tag `c`; default 18).
    pub min_final_cltv_expiry: u64,
    /// Numbers of the feature bits set (tag `9`), ascending.
    pub feature_bits: Vec<u32>,
}

impl PaymentRequest {
    /// Unix second after which the invoice may no longer be paid.
    pub fn expires_at(&self) -> u64 {
        self.timestamp.saturating_add(self.expiry_secs)
    }

    /// Encodes and signs with `key`; the `n` field is the key's public key
    /// (whatever `self.payee` says), so the result always verifies.
    pub(crate) fn encode(&self, key: &NodeKey) -> String {
        let mut hrp = format!("{LN_PREFIX}{}", self.network);
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
        push_field(&mut data, TAG_PAYEE, bech32::to_words(&key.pubkey()));
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
        let signature = key.sign_recoverable(&signing_digest(&hrp, &data));
        data.extend(bech32::to_words(&signature));
        bech32::encode(&hrp, &data)
    }

    /// Decodes a payment request of any network and checks its signature.
    /// Unknown tagged fields are skipped, as BOLT 11 requires.
    pub fn decode(s: &str) -> Result<Self, Bolt11Error> {
        let (hrp, data) = bech32::decode(s.trim())?;
        let rest = hrp
            .strip_prefix(LN_PREFIX)
            .ok_or(Bolt11Error::NotLightning)?;
        let split = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (network, amount_part) = rest.split_at(split);
        if network.is_empty() {
            return Err(Bolt11Error::NotLightning);
        }
        let amount_msat = if amount_part.is_empty() {
            None
        } else {
            Some(decode_amount(amount_part)?)
        };
        if data.len() < TIMESTAMP_WORDS + SIGNATURE_WORDS {
            return Err(Bolt11Error::TooShort);
        }
        let (fields, signature_words) = data.split_at(data.len() - SIGNATURE_WORDS);
        let signature: RecoverableSignature = bech32::from_words(signature_words)
            .try_into()
            .map_err(|_| Bolt11Error::BadSignature)?;
        let signer = node_key::recover(&signing_digest(&hrp, fields), &signature)
            .ok_or(Bolt11Error::BadSignature)?;
        let timestamp = words_to_int(&fields[..TIMESTAMP_WORDS]);
        let mut req = PaymentRequest {
            network: network.to_string(),
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
            // Without `n` the payee is whoever signed (BOLT 11 recovery).
            req.payee = signer;
        } else if req.payee != signer {
            return Err(Bolt11Error::BadSignature);
        }
        Ok(req)
    }
}

/// SHA-256 of the human-readable part's bytes followed by the data words
/// (without signature) packed into bytes, zero-padded to a byte boundary.
fn signing_digest(hrp: &str, words: &[u8]) -> [u8; 32] {
    let mut message = hrp.as_bytes().to_vec();
    message.extend(words_to_padded_bytes(words));
    Sha256::digest(&message).into()
}

fn words_to_padded_bytes(words: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((words.len() * 5).div_ceil(8));
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
    if bits > 0 {
        out.push(((acc << (8 - bits)) & 0xff) as u8);
    }
    out
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
#[path = "bolt11_tests.rs"]
mod tests;
