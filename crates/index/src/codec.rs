//! The redb value encoding of each record: a format version byte, then the
//! fields in declaration order. Integers are big-endian; strings and byte
//! strings are a u32 length then the bytes; `Option` is a 0/1 byte then the
//! value; enums are one tag byte. Decoding never panics: unknown versions,
//! unknown tags, truncation, bad UTF-8 and trailing bytes are `Corrupt`.
//!
//! A new layout gets a new version byte and a decoder branch; old records
//! stay readable.

use std::collections::BTreeMap;

use shardgate_core::{ContentId, KeyMode};

use crate::error::IndexError;
use crate::records::{
    BlobRecord, ChunkRecord, Price, ProviderRecord, ProviderState, ShardLocation, TenantId,
    TenantRecord, Visibility,
};

mod payments;
mod shares;

pub(crate) use payments::{
    account_kind_from_tag, account_kind_tag, decode_credit, decode_invoice, decode_ledger_entry,
    decode_payout, decode_payout_address, encode_credit, encode_invoice, encode_ledger_entry,
    encode_payout, encode_payout_address, entry_kind_from_tag, entry_kind_tag,
};
pub(crate) use shares::{decode_share, encode_share};

/// The layout of every record but the two newer ones below.
pub(crate) const RECORD_VERSION_1: u8 = 1;
/// Ledger entries with a kind and an optional blob (payouts, credit;
/// version 1 entries read as `EntryKind::Download` with their blob), and
/// chunk records with a `shards_version` (version 1 reads as 0).
pub(crate) const RECORD_VERSION_2: u8 = 2;

struct Writer(Vec<u8>);

impl Writer {
    fn new() -> Self {
        Writer(vec![RECORD_VERSION_1])
    }
    fn with_version(version: u8) -> Self {
        Writer(vec![version])
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn id(&mut self, id: &ContentId) {
        self.0.extend_from_slice(id.as_bytes());
    }
    /// Lengths are bounded by the record validation (and by redb's 3 GiB
    /// value limit), far below u32::MAX; saturate rather than wrap anyway.
    fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
        }
    }
    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Checks the version byte.
    fn new(bytes: &'a [u8], what: &'static str) -> Result<Self, IndexError> {
        match Self::versioned(bytes, what, RECORD_VERSION_1)? {
            (reader, RECORD_VERSION_1) => Ok(reader),
            _ => unreachable!("versioned returns only versions up to the newest given"),
        }
    }
    /// Reads the version byte, accepting 1..=`newest`.
    fn versioned(
        bytes: &'a [u8],
        what: &'static str,
        newest: u8,
    ) -> Result<(Self, u8), IndexError> {
        match bytes.split_first() {
            Some((&v, rest)) if (RECORD_VERSION_1..=newest).contains(&v) => {
                Ok((Reader { rest, what }, v))
            }
            Some((v, _)) => Err(IndexError::corrupt(format!(
                "{what} record has unknown format version {v}"
            ))),
            None => Err(IndexError::corrupt(format!("{what} record is empty"))),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        if self.rest.len() < n {
            return Err(IndexError::corrupt(format!(
                "{} record truncated",
                self.what
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn id(&mut self) -> Result<ContentId, IndexError> {
        Ok(ContentId::from_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, IndexError> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
    fn string(&mut self) -> Result<String, IndexError> {
        String::from_utf8(self.bytes()?)
            .map_err(|_| IndexError::corrupt(format!("{} record has invalid UTF-8", self.what)))
    }
    /// An `Option` written by `Writer::opt_u64`; `field` names it in errors.
    fn opt_u64(&mut self, field: &str) -> Result<Option<u64>, IndexError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            t => Err(self.bad_tag(field, t)),
        }
    }
    /// An `Option` written by `Writer::opt_bytes`; `field` names it in errors.
    fn opt_bytes(&mut self, field: &str) -> Result<Option<Vec<u8>>, IndexError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            t => Err(self.bad_tag(field, t)),
        }
    }
    fn bad_tag(&self, field: &str, tag: u8) -> IndexError {
        IndexError::corrupt(format!("{} record: unknown {field} tag {tag}", self.what))
    }
    fn finish(self) -> Result<(), IndexError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(IndexError::corrupt(format!(
                "{} record has {} trailing bytes",
                self.what,
                self.rest.len()
            )))
        }
    }
}

fn tenant_id(r: &mut Reader<'_>) -> Result<TenantId, IndexError> {
    let raw = r.string()?;
    TenantId::new(raw).map_err(|e| IndexError::corrupt(format!("{} record: {e}", r.what)))
}

pub(crate) fn encode_tenant(t: &TenantRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(t.id.as_str());
    w.str(&t.name);
    w.0.extend_from_slice(&t.api_key_hash);
    w.u64(t.quota_bytes);
    w.u64(t.used_bytes);
    w.u64(t.created_at_unix_ms);
    w.0
}

pub(crate) fn decode_tenant(bytes: &[u8]) -> Result<TenantRecord, IndexError> {
    let mut r = Reader::new(bytes, "tenant")?;
    let t = TenantRecord {
        id: tenant_id(&mut r)?,
        name: r.string()?,
        api_key_hash: r.array()?,
        quota_bytes: r.u64()?,
        used_bytes: r.u64()?,
        created_at_unix_ms: r.u64()?,
    };
    r.finish()?;
    Ok(t)
}

pub(crate) fn encode_blob(b: &BlobRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.id(&b.blob_id);
    w.str(b.owner.as_str());
    w.str(&b.name);
    w.str(&b.content_type);
    w.u64(b.size);
    w.id(&b.content_hash);
    w.u8(match b.key_mode {
        KeyMode::Managed => 0,
        KeyMode::EndToEnd => 1,
    });
    w.u8(match b.visibility {
        Visibility::Private => 0,
        Visibility::Public => 1,
    });
    w.u64(b.price.flat_msat);
    w.u64(b.price.per_mib_msat);
    w.u32(u32::try_from(b.metadata.len()).unwrap_or(u32::MAX));
    for (k, v) in &b.metadata {
        w.str(k);
        w.str(v);
    }
    w.bytes(&b.manifest);
    w.u64(b.created_at_unix_ms);
    w.0
}

pub(crate) fn decode_blob(bytes: &[u8]) -> Result<BlobRecord, IndexError> {
    let mut r = Reader::new(bytes, "blob")?;
    let blob_id = r.id()?;
    let owner = tenant_id(&mut r)?;
    let name = r.string()?;
    let content_type = r.string()?;
    let size = r.u64()?;
    let content_hash = r.id()?;
    let key_mode = match r.u8()? {
        0 => KeyMode::Managed,
        1 => KeyMode::EndToEnd,
        t => return Err(r.bad_tag("key mode", t)),
    };
    let visibility = match r.u8()? {
        0 => Visibility::Private,
        1 => Visibility::Public,
        t => return Err(r.bad_tag("visibility", t)),
    };
    let price = Price {
        flat_msat: r.u64()?,
        per_mib_msat: r.u64()?,
    };
    let entries = r.u32()?;
    let mut metadata = BTreeMap::new();
    // No pre-allocation from the stored count: a corrupt count must not
    // allocate; each entry is read (and bounds-checked) one at a time.
    for _ in 0..entries {
        let k = r.string()?;
        let v = r.string()?;
        metadata.insert(k, v);
    }
    let manifest = r.bytes()?;
    let created_at_unix_ms = r.u64()?;
    r.finish()?;
    Ok(BlobRecord {
        blob_id,
        owner,
        name,
        content_type,
        size,
        content_hash,
        key_mode,
        visibility,
        price,
        metadata,
        manifest,
        created_at_unix_ms,
    })
}

/// A chunk record never repaired is written as version 1, byte-identical to
/// what earlier brokers wrote; a repaired one as version 2, the same layout
/// followed by its `shards_version`.
pub(crate) fn encode_chunk(c: &ChunkRecord) -> Vec<u8> {
    let mut w = if c.shards_version == 0 {
        Writer::new()
    } else {
        Writer::with_version(RECORD_VERSION_2)
    };
    w.id(&c.chunk_id);
    w.u8(c.k);
    w.u8(c.m);
    w.u32(c.sealed_len);
    w.u32(u32::try_from(c.shards.len()).unwrap_or(u32::MAX));
    for s in &c.shards {
        w.u8(s.index);
        w.str(&s.provider);
    }
    w.opt_bytes(c.wrapped_key.as_deref());
    w.u64(c.refcount);
    if c.shards_version != 0 {
        w.u64(c.shards_version);
    }
    w.0
}

pub(crate) fn decode_chunk(bytes: &[u8]) -> Result<ChunkRecord, IndexError> {
    let (mut r, version) = Reader::versioned(bytes, "chunk", RECORD_VERSION_2)?;
    let chunk_id = r.id()?;
    let k = r.u8()?;
    let m = r.u8()?;
    let sealed_len = r.u32()?;
    let count = r.u32()?;
    let mut shards = Vec::new();
    for _ in 0..count {
        let index = r.u8()?;
        let provider = r.string()?;
        shards.push(ShardLocation { index, provider });
    }
    let wrapped_key = r.opt_bytes("wrapped key option")?;
    let refcount = r.u64()?;
    let shards_version = if version == RECORD_VERSION_2 {
        r.u64()?
    } else {
        0
    };
    r.finish()?;
    Ok(ChunkRecord {
        chunk_id,
        k,
        m,
        sealed_len,
        shards,
        wrapped_key,
        refcount,
        shards_version,
    })
}

pub(crate) fn encode_provider(p: &ProviderRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(&p.name);
    w.bytes(&p.config_sealed);
    w.u64(p.weight.to_bits());
    w.u8(match p.state {
        ProviderState::Active => 0,
        ProviderState::Draining => 1,
    });
    w.0
}

pub(crate) fn decode_provider(bytes: &[u8]) -> Result<ProviderRecord, IndexError> {
    let mut r = Reader::new(bytes, "provider")?;
    let name = r.string()?;
    let config_sealed = r.bytes()?;
    let weight = f64::from_bits(r.u64()?);
    let state = match r.u8()? {
        0 => ProviderState::Active,
        1 => ProviderState::Draining,
        t => return Err(r.bad_tag("provider state", t)),
    };
    r.finish()?;
    Ok(ProviderRecord {
        name,
        config_sealed,
        weight,
        state,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
