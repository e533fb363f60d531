//! Encoding of the share record, same conventions as the parent module:
//! version byte, fields in declaration order, big-endian integers,
//! u32-length-prefixed byte strings, 0/1 then the value for `Option`.

use super::{Reader, Writer, tenant_id};
use crate::error::IndexError;
use crate::shares::{ShareId, ShareRecord};

pub(crate) fn encode_share(s: &ShareRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(s.share_id.as_bytes());
    w.id(&s.blob_id);
    w.str(s.owner.as_str());
    w.0.extend_from_slice(&s.token_hash);
    w.opt_bytes(s.wrapped_key.as_deref());
    w.opt_bytes(s.sealed_name.as_deref());
    w.opt_u64(s.price_msat);
    w.opt_u64(s.expires_at_unix_ms);
    w.u32(s.max_downloads);
    w.u32(s.downloads);
    w.opt_u64(s.revoked_at_unix_ms);
    w.u64(s.created_at_unix_ms);
    w.0
}

pub(crate) fn decode_share(bytes: &[u8]) -> Result<ShareRecord, IndexError> {
    let mut r = Reader::new(bytes, "share")?;
    let share = ShareRecord {
        share_id: ShareId(r.array()?),
        blob_id: r.id()?,
        owner: tenant_id(&mut r)?,
        token_hash: r.array()?,
        wrapped_key: r.opt_bytes("wrapped key option")?,
        sealed_name: r.opt_bytes("sealed name option")?,
        price_msat: r.opt_u64("price option")?,
        expires_at_unix_ms: r.opt_u64("expiry option")?,
        max_downloads: r.u32()?,
        downloads: r.u32()?,
        revoked_at_unix_ms: r.opt_u64("revoked option")?,
        created_at_unix_ms: r.u64()?,
    };
    r.finish()?;
    Ok(share)
}

#[cfg(test)]
#[path = "shares_tests.rs"]
mod tests;
