//! Macaroons in the libmacaroons v2 binary format, with the HMAC-SHA256
//! signature chain of the macaroons paper.
//!
//! We write the format ourselves rather than use a macaroon crate: the one
//! published crate signs with libsodium's HMAC-SHA512/256 and pulls in a C
//! library, while L402 (bLIP-26) and LND use HMAC-SHA256 and this v2 layout.
//! Keeping the standard layout lets any L402 client read the identifier
//! (and so the payment hash) of our tokens.
//!
//! ```text
//! macaroon = 0x02 [field(1, location)] field(2, identifier) 0x00
//!            { field(2, caveat id) 0x00 }  0x00  field(6, signature)
//! field(t, v) = varint(t) varint(len v) v          (unsigned LEB128)
//! ```
//!
//! Signature chain (libmacaroons-compatible):
//! `k = HMAC(key = "macaroons-key-generator" ‖ 0-padding to 32, root_key)`,
//! `sig₀ = HMAC(k, identifier)`, `sigᵢ = HMAC(sigᵢ₋₁, caveatᵢ)`. Anyone
//! holding a token can append a caveat (and its HMAC step) but cannot
//! remove one: that needs an earlier signature, which is never revealed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::PaymentError;

/// Version byte of the libmacaroons v2 binary format.
pub const FORMAT_V2: u8 = 0x02;
/// Field types of the v2 format.
const FIELD_EOS: u64 = 0;
const FIELD_LOCATION: u64 = 1;
const FIELD_IDENTIFIER: u64 = 2;
const FIELD_VID: u64 = 4;
const FIELD_SIGNATURE: u64 = 6;
/// HMAC-SHA256 output length.
pub const SIGNATURE_LEN: usize = 32;
/// Most caveats a token may carry (ours mint 4; holders may add a few).
pub const MAX_CAVEATS: usize = 16;
/// Longest location, identifier or caveat field we accept.
pub const MAX_FIELD_LEN: usize = 256;
/// Key-generator constant of libmacaroons, zero-padded to 32 bytes.
const KEY_GENERATOR: &[u8] = b"macaroons-key-generator";

type HmacSha256 = Hmac<Sha256>;

/// A decoded macaroon. The signature is only meaningful after
/// [`Macaroon::verify`].
#[derive(Clone, PartialEq, Eq)]
pub struct Macaroon {
    /// Hint where the macaroon is used; not covered by the signature.
    pub location: Vec<u8>,
    /// The encoded [`super::identifier::Identifier`]: the first link of the
    /// HMAC chain.
    pub identifier: Vec<u8>,
    /// First-party caveats (`key=value`), in the order they were chained.
    pub caveats: Vec<Vec<u8>>,
    /// HMAC-SHA256 chain over the identifier and every caveat, keyed from
    /// the root key.
    pub signature: [u8; SIGNATURE_LEN],
}

impl std::fmt::Debug for Macaroon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature is a bearer secret: never print it.
        f.debug_struct("Macaroon")
            .field("identifier_len", &self.identifier.len())
            .field("caveats", &self.caveats.len())
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn derived_key(root_key: &[u8; 32]) -> [u8; SIGNATURE_LEN] {
    let mut generator = [0u8; 32];
    generator[..KEY_GENERATOR.len()].copy_from_slice(KEY_GENERATOR);
    hmac(&generator, root_key)
}

impl Macaroon {
    /// Mints a macaroon signed under `root_key`.
    pub fn mint(root_key: &[u8; 32], location: &[u8], identifier: Vec<u8>) -> Macaroon {
        let signature = hmac(&derived_key(root_key), &identifier);
        Macaroon {
            location: location.to_vec(),
            identifier,
            caveats: Vec::new(),
            signature,
        }
    }

    /// Appends a first-party caveat; needs no key (this is attenuation).
    pub fn add_caveat(&mut self, caveat: Vec<u8>) {
        self.signature = hmac(&self.signature, &caveat);
        self.caveats.push(caveat);
    }

    /// Checks the signature chain. Every step but the last yields the next
    /// key; the last is checked with `verify_slice`, which compares in
    /// constant time so timing reveals nothing about the expected value.
    pub fn verify(&self, root_key: &[u8; 32]) -> Result<(), PaymentError> {
        let mut key = derived_key(root_key);
        let mut message: &[u8] = &self.identifier;
        for caveat in &self.caveats {
            key = hmac(&key, message);
            message = caveat;
        }
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&key)
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(message);
        mac.verify_slice(&self.signature)
            .map_err(|_| PaymentError::InvalidSignature)
    }

    /// The v2 binary encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_V2];
        if !self.location.is_empty() {
            put_field(&mut out, FIELD_LOCATION, &self.location);
        }
        put_field(&mut out, FIELD_IDENTIFIER, &self.identifier);
        put_varint(&mut out, FIELD_EOS);
        for caveat in &self.caveats {
            put_field(&mut out, FIELD_IDENTIFIER, caveat);
            put_varint(&mut out, FIELD_EOS);
        }
        put_varint(&mut out, FIELD_EOS);
        put_field(&mut out, FIELD_SIGNATURE, &self.signature);
        out
    }

    /// Decodes the v2 binary encoding strictly: first-party caveats only,
    /// every length bounded, no trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Macaroon, PaymentError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.byte()? != FORMAT_V2 {
            return Err(malformed("not a v2 macaroon"));
        }
        let mut field = r.varint()?;
        let mut location = Vec::new();
        if field == FIELD_LOCATION {
            location = r.value()?.to_vec();
            field = r.varint()?;
        }
        if field != FIELD_IDENTIFIER {
            return Err(malformed("identifier missing"));
        }
        let identifier = r.value()?.to_vec();
        if r.varint()? != FIELD_EOS {
            return Err(malformed("unexpected field after identifier"));
        }
        let mut caveats = Vec::new();
        loop {
            match r.varint()? {
                FIELD_EOS => break,
                FIELD_LOCATION | FIELD_VID => {
                    return Err(malformed("third-party caveats are not supported"));
                }
                FIELD_IDENTIFIER => {
                    if caveats.len() == MAX_CAVEATS {
                        return Err(malformed("too many caveats"));
                    }
                    caveats.push(r.value()?.to_vec());
                    if r.varint()? != FIELD_EOS {
                        return Err(malformed("third-party caveats are not supported"));
                    }
                }
                _ => return Err(malformed("unknown field in caveat")),
            }
        }
        if r.varint()? != FIELD_SIGNATURE {
            return Err(malformed("signature missing"));
        }
        let signature: [u8; SIGNATURE_LEN] = r
            .value()?
            .try_into()
            .map_err(|_| malformed("signature is not 32 bytes"))?;
        if r.pos != bytes.len() {
            return Err(malformed("trailing bytes after signature"));
        }
        Ok(Macaroon {
            location,
            identifier,
            caveats,
            signature,
        })
    }
}

fn malformed(reason: &'static str) -> PaymentError {
    PaymentError::MalformedToken { reason }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_field(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    put_varint(out, field);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, PaymentError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Field types and lengths are small: at most two LEB128 bytes, and a
    /// non-minimal encoding is refused so every token has one encoding.
    fn varint(&mut self) -> Result<u64, PaymentError> {
        let first = self.byte()?;
        if first & 0x80 == 0 {
            return Ok(u64::from(first));
        }
        let second = self.byte()?;
        if second & 0x80 != 0 || second == 0 {
            return Err(malformed("oversized or non-minimal varint"));
        }
        Ok(u64::from(first & 0x7f) | (u64::from(second) << 7))
    }

    fn value(&mut self) -> Result<&'a [u8], PaymentError> {
        let len = usize::try_from(self.varint()?).map_err(|_| malformed("length"))?;
        if len > MAX_FIELD_LEN {
            return Err(malformed("field longer than 256 bytes"));
        }
        let end = self
            .pos
            .checked_add(len)
            .ok_or_else(|| malformed("length"))?;
        let value = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos = end;
        Ok(value)
    }
}

#[cfg(test)]
#[path = "macaroon_tests.rs"]
mod tests;
