//! First-party caveats of our L402 tokens, as `key=value` ASCII strings
//! (the L402 convention):
//!
//! | caveat | value | meaning |
//! |---|---|---|
//! | `blob_id=<64 hex>` | blob id | only this blob |
//! | `range=<offset>+<length>` | decimal bytes | only requests inside this range |
//! | `expires_at=<unix seconds>` | decimal | refused at or after this time |
//! | `uses=<n>` | decimal, ≥ 1 | downloads the credential buys |
//! | `share=<32 hex>` | share id | only through this share link (optional) |
//!
//! The broker mints one of each (`share` only for a credential bought
//! through a share link: its price and download limit are the link's, so
//! the credential must not work on the blob elsewhere). A holder may append more (that is what
//! macaroons allow), but a later caveat may only *narrow* an earlier one of
//! the same key: a different blob, a range not inside the earlier one, a
//! later expiry or more uses is refused as [`PaymentError::WideningCaveat`]
//! rather than silently ignored, so an attempt to widen is visible. Unknown
//! keys are refused (we cannot check what we do not understand).

use shardgate_core::ContentId;

use crate::error::PaymentError;

/// Caveat key of the blob id (hex): `blob_id=<hex>`.
pub const KEY_BLOB: &str = "blob_id";
/// Caveat key of the paid byte range: `range=<offset>+<length>`.
pub const KEY_RANGE: &str = "range";
/// Caveat key of the expiry, unix seconds: `expires_at=<secs>`.
pub const KEY_EXPIRES: &str = "expires_at";
/// Caveat key of the number of downloads bought: `uses=<n>`.
pub const KEY_USES: &str = "uses";
/// Caveat key of the share link a credential was bought through:
/// `share=<32 hex>`.
pub const KEY_SHARE: &str = "share";

/// A byte range of a blob with both ends exact (`ServedRange` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaidRange {
    /// First byte, plaintext offset.
    pub offset: u64,
    /// Number of bytes (may be 0).
    pub length: u64,
}

impl PaidRange {
    /// One past the last byte; `None` if it does not fit in u64.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.length)
    }

    /// True when every byte of `inner` lies in `self` (an empty range at
    /// the start of an empty paid range is inside it).
    pub fn contains(&self, inner: &PaidRange) -> bool {
        match (self.end(), inner.end()) {
            (Some(end), Some(inner_end)) => inner.offset >= self.offset && inner_end <= end,
            _ => false,
        }
    }
}

/// The effective conditions after reading every caveat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditions {
    /// The only blob the token may download.
    pub blob: ContentId,
    /// The narrowest range caveat: requests must lie inside it.
    pub range: PaidRange,
    /// The earliest expiry caveat, unix seconds.
    pub expires_at_unix: u64,
    /// The smallest `uses` caveat (downloads allowed, >= 1).
    pub uses: u32,
    /// The share link it was bought through, if any: then it works only
    /// there.
    pub share: Option<[u8; 16]>,
}

/// The caveat strings the broker mints, in order.
pub fn encode(c: &Conditions) -> Vec<Vec<u8>> {
    let mut caveats = vec![
        format!("{KEY_BLOB}={}", c.blob.to_hex()).into_bytes(),
        format!("{KEY_RANGE}={}+{}", c.range.offset, c.range.length).into_bytes(),
        format!("{KEY_EXPIRES}={}", c.expires_at_unix).into_bytes(),
        format!("{KEY_USES}={}", c.uses).into_bytes(),
    ];
    if let Some(share) = c.share {
        caveats.push(format!("{KEY_SHARE}={}", hex::encode(share)).into_bytes());
    }
    caveats
}

/// Reads every caveat, refusing unknown, malformed and widening ones, and
/// returns the narrowest conditions. The first four keys must be present;
/// `share` may be.
pub fn decode(caveats: &[Vec<u8>]) -> Result<Conditions, PaymentError> {
    let (mut blob, mut range, mut expires, mut uses) = (None, None, None, None);
    let mut share: Option<[u8; 16]> = None;
    for raw in caveats {
        let text = std::str::from_utf8(raw).map_err(|_| PaymentError::MalformedCaveat {
            key: String::from("<non-UTF-8>"),
        })?;
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| PaymentError::MalformedCaveat {
                key: printable(text),
            })?;
        let bad = || PaymentError::MalformedCaveat {
            key: printable(key),
        };
        match key {
            KEY_BLOB => {
                let id: ContentId = super::strict_hex32(value)
                    .map(ContentId::from_bytes)
                    .map_err(|_| bad())?;
                narrow(&mut blob, id, KEY_BLOB, |old, new| old == new)?;
            }
            KEY_RANGE => {
                let (o, l) = value.split_once('+').ok_or_else(bad)?;
                let r = PaidRange {
                    offset: decimal(o).ok_or_else(bad)?,
                    length: decimal(l).ok_or_else(bad)?,
                };
                r.end().ok_or_else(bad)?;
                narrow(&mut range, r, KEY_RANGE, |old, new| old.contains(new))?;
            }
            KEY_EXPIRES => {
                let t = decimal(value).ok_or_else(bad)?;
                narrow(&mut expires, t, KEY_EXPIRES, |old, new| new <= old)?;
            }
            KEY_USES => {
                let n = decimal(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(bad)?;
                narrow(&mut uses, n, KEY_USES, |old, new| new <= old)?;
            }
            KEY_SHARE => {
                let mut id = [0u8; 16];
                let lower = value.len() == 32 && !value.bytes().any(|b| b.is_ascii_uppercase());
                if !lower || hex::decode_to_slice(value, &mut id).is_err() {
                    return Err(bad());
                }
                // A holder may add the caveat (narrowing to one link), never
                // change it to another.
                narrow(&mut share, id, KEY_SHARE, |old, new| old == new)?;
            }
            other => {
                return Err(PaymentError::UnknownCaveat {
                    key: printable(other),
                });
            }
        }
    }
    Ok(Conditions {
        blob: blob.ok_or(PaymentError::MissingCaveat { key: KEY_BLOB })?,
        range: range.ok_or(PaymentError::MissingCaveat { key: KEY_RANGE })?,
        expires_at_unix: expires.ok_or(PaymentError::MissingCaveat { key: KEY_EXPIRES })?,
        uses: uses.ok_or(PaymentError::MissingCaveat { key: KEY_USES })?,
        share,
    })
}

/// Keeps the first value, replaced by a later one only if `narrower(old,
/// new)` holds.
fn narrow<T: Copy>(
    slot: &mut Option<T>,
    new: T,
    key: &'static str,
    narrower: impl Fn(&T, &T) -> bool,
) -> Result<(), PaymentError> {
    match slot {
        Some(old) if !narrower(old, &new) => Err(PaymentError::WideningCaveat { key }),
        _ => {
            *slot = Some(new);
            Ok(())
        }
    }
}

/// Plain ASCII digits only (no sign, no spaces), fitting u64.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A caveat key for an error message: bounded and printable, since it came
/// from the client.
fn printable(key: &str) -> String {
    key.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
