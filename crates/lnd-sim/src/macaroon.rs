//! The node's admin macaroon: minted in LND's binary format and checked on
//! every call the way LND's interceptor checks it.
//!
//! Minting: a version-2 macaroon (location "lnd", an LND-style identifier:
//! version byte 3 + protobuf `MacaroonId` with the admin operations) signed
//! with the libmacaroons HMAC chain under a random root key. It decodes as a
//! real macaroon. Checking is stricter and simpler than LND's bakery: the one
//! hex value must equal ours byte for byte, so attenuated (caveated) copies
//! are refused, which no test here needs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tonic::metadata::MetadataMap;

use crate::lnd_status::LndStatus;

/// Metadata key LND reads the hex macaroon from.
pub const MACAROON_METADATA_KEY: &str = "macaroon";
/// libmacaroons derives the signing key from the root key with this HMAC key.
const KEY_GENERATOR: &[u8] = b"macaroons-key-generator";
/// LND's macaroon identifier version byte (bakery "LatestVersion").
const LND_ID_VERSION: u8 = 3;
/// Binary format version 2 (libmacaroons v2), as LND writes it.
const FORMAT_V2: u8 = 2;
const FIELD_EOS: u8 = 0;
const FIELD_LOCATION: u8 = 1;
const FIELD_IDENTIFIER: u8 = 2;
const FIELD_SIGNATURE: u8 = 6;

/// The entities an LND admin macaroon grants read+write on.
const ADMIN_ENTITIES: [&str; 9] = [
    "address", "info", "invoices", "macaroon", "message", "offchain", "onchain", "peers", "signer",
];

#[derive(Clone, PartialEq, prost::Message)]
struct MacaroonOp {
    #[prost(string, tag = "1")]
    entity: String,
    #[prost(string, repeated, tag = "2")]
    actions: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MacaroonId {
    #[prost(bytes = "vec", tag = "1")]
    nonce: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    storage_id: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    ops: Vec<MacaroonOp>,
}

/// A node's admin macaroon and the check run on every incoming call.
#[derive(Clone)]
pub(crate) struct AdminMacaroon {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for AdminMacaroon {
    // The macaroon is a bearer credential: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminMacaroon(<redacted>)")
    }
}

impl AdminMacaroon {
    /// Mints a fresh admin macaroon under a random root key.
    pub(crate) fn mint() -> Self {
        let root_key: [u8; 32] = rand::random();
        let nonce: [u8; 16] = rand::random();
        let id = MacaroonId {
            nonce: nonce.to_vec(),
            storage_id: b"0".to_vec(),
            ops: ADMIN_ENTITIES
                .iter()
                .map(|entity| MacaroonOp {
                    entity: (*entity).to_string(),
                    actions: vec!["read".into(), "write".into()],
                })
                .collect(),
        };
        let mut identifier = vec![LND_ID_VERSION];
        identifier.extend(prost::Message::encode_to_vec(&id));

        let signing_key = hmac_sha256(KEY_GENERATOR, &root_key);
        let signature = hmac_sha256(&signing_key, &identifier);

        let mut bytes = vec![FORMAT_V2];
        push_field(&mut bytes, FIELD_LOCATION, b"lnd");
        push_field(&mut bytes, FIELD_IDENTIFIER, &identifier);
        bytes.push(FIELD_EOS); // end of header
        bytes.push(FIELD_EOS); // end of (empty) caveat list
        push_field(&mut bytes, FIELD_SIGNATURE, &signature);
        AdminMacaroon { bytes }
    }

    /// The macaroon file content (`admin.macaroon`).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lowercase hex, the form clients send in metadata.
    pub(crate) fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// LND's rule: exactly one `macaroon` value, hex, that verifies.
    pub(crate) fn check(&self, metadata: &MetadataMap) -> Result<(), LndStatus> {
        let values: Vec<_> = metadata.get_all(MACAROON_METADATA_KEY).iter().collect();
        if values.len() != 1 {
            return Err(LndStatus::MacaroonCount(values.len()));
        }
        let text = values[0].to_str().unwrap_or("\u{fffd}");
        let presented = decode_hex_like_go(text)?;
        if presented != self.bytes {
            return Err(LndStatus::MacaroonMismatch);
        }
        Ok(())
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// libmacaroons v2 field: type byte, uvarint length, payload.
fn push_field(out: &mut Vec<u8>, field: u8, payload: &[u8]) {
    out.push(field);
    let mut len = payload.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(payload);
}

/// Hex decoding with the error texts of Go's `encoding/hex`, which is what a
/// client sees from LND for a malformed macaroon value.
fn decode_hex_like_go(text: &str) -> Result<Vec<u8>, LndStatus> {
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(LndStatus::MacaroonNotHex(format!(
            "encoding/hex: invalid byte: U+{:04X} {bad:?}",
            u32::from(bad)
        )));
    }
    if text.len() % 2 == 1 {
        return Err(LndStatus::MacaroonNotHex(
            "encoding/hex: odd length hex string".into(),
        ));
    }
    hex::decode(text).map_err(|e| LndStatus::MacaroonNotHex(format!("encoding/hex: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn with(values: &[&str]) -> MetadataMap {
        let mut md = MetadataMap::new();
        for v in values {
            md.append(
                MACAROON_METADATA_KEY,
                MetadataValue::try_from(*v).expect("ascii"),
            );
        }
        md
    }

    #[test]
    fn binary_layout_is_libmacaroons_v2() {
        let mac = AdminMacaroon::mint();
        let b = mac.bytes();
        assert_eq!(&b[..6], &[FORMAT_V2, FIELD_LOCATION, 3, b'l', b'n', b'd']);
        assert_eq!(b[6], FIELD_IDENTIFIER);
        // Ends with: signature field, length 32, 32 bytes.
        assert_eq!(b[b.len() - 34], FIELD_SIGNATURE);
        assert_eq!(b[b.len() - 33], 32);
    }

    #[test]
    fn check_follows_lnd_rules() {
        let mac = AdminMacaroon::mint();
        let other = AdminMacaroon::mint();
        assert_eq!(mac.check(&with(&[&mac.hex()])), Ok(()));
        assert_eq!(mac.check(&with(&[])), Err(LndStatus::MacaroonCount(0)));
        assert_eq!(
            mac.check(&with(&[&mac.hex(), &mac.hex()])),
            Err(LndStatus::MacaroonCount(2))
        );
        assert_eq!(
            mac.check(&with(&[&other.hex()])),
            Err(LndStatus::MacaroonMismatch)
        );
        assert_eq!(
            mac.check(&with(&["zz"])).map_err(|e| e.to_string()),
            Err("encoding/hex: invalid byte: U+007A 'z'".to_string())
        );
        assert_eq!(
            mac.check(&with(&["abc"])).map_err(|e| e.to_string()),
            Err("encoding/hex: odd length hex string".to_string())
        );
    }
}
