//! Encoding of the payment records, same conventions as the parent module:
//! version byte, fields in declaration order, big-endian integers,
//! u32-length-prefixed strings, one tag byte per enum, 0/1 for `Option`
//! and `bool`. Account kinds are tagged in their sort order, so a redb key
//! `(kind tag, id)` sorts like `LedgerAccount`.

use super::{Reader, Writer, tenant_id};
use crate::error::IndexError;
use crate::payments::LedgerAccount;
use crate::payments::{
    InvoiceProgress, InvoiceRecord, LedgerAccountKind, LedgerEntry, LedgerPosting, PostingSide,
};

pub(crate) fn encode_invoice(inv: &InvoiceRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(&inv.payment_hash);
    w.id(&inv.blob_id);
    w.str(inv.owner.as_str());
    w.u64(inv.range_offset);
    w.u64(inv.range_length);
    w.u64(inv.amount_msat);
    w.u32(inv.uses);
    w.u32(inv.used);
    w.u8(u8::from(inv.hold));
    w.0.extend_from_slice(&inv.token_id);
    w.str(&inv.payment_request);
    w.u64(inv.created_at_unix_ms);
    w.u64(inv.expires_at_unix_ms);
    w.u64(inv.credential_expires_at_unix_ms);
    w.opt_u64(inv.hold_accepted_at_unix_ms);
    w.u8(match inv.progress {
        InvoiceProgress::Issued => 0,
        InvoiceProgress::Settled => 1,
        InvoiceProgress::Canceled => 2,
    });
    w.0
}

pub(crate) fn decode_invoice(bytes: &[u8]) -> Result<InvoiceRecord, IndexError> {
    let mut r = Reader::new(bytes, "invoice")?;
    let payment_hash = r.array()?;
    let blob_id = r.id()?;
    let owner = tenant_id(&mut r)?;
    let range_offset = r.u64()?;
    let range_length = r.u64()?;
    let amount_msat = r.u64()?;
    let uses = r.u32()?;
    let used = r.u32()?;
    let hold = match r.u8()? {
        0 => false,
        1 => true,
        t => return Err(r.bad_tag("hold flag", t)),
    };
    let token_id = r.array()?;
    let payment_request = r.string()?;
    let created_at_unix_ms = r.u64()?;
    let expires_at_unix_ms = r.u64()?;
    let credential_expires_at_unix_ms = r.u64()?;
    let hold_accepted_at_unix_ms = r.opt_u64("hold accepted option")?;
    let progress = match r.u8()? {
        0 => InvoiceProgress::Issued,
        1 => InvoiceProgress::Settled,
        2 => InvoiceProgress::Canceled,
        t => return Err(r.bad_tag("invoice progress", t)),
    };
    r.finish()?;
    Ok(InvoiceRecord {
        payment_hash,
        blob_id,
        owner,
        range_offset,
        range_length,
        amount_msat,
        uses,
        used,
        hold,
        token_id,
        payment_request,
        created_at_unix_ms,
        expires_at_unix_ms,
        credential_expires_at_unix_ms,
        hold_accepted_at_unix_ms,
        progress,
    })
}

/// The tag of an account kind; its order is the kind's sort order.
pub(crate) fn account_kind_tag(kind: LedgerAccountKind) -> u8 {
    match kind {
        LedgerAccountKind::Owner => 0,
        LedgerAccountKind::Provider => 1,
        LedgerAccountKind::Broker => 2,
        LedgerAccountKind::Lightning => 3,
    }
}

/// Inverse of [`account_kind_tag`]; `Corrupt` for an unknown tag.
pub(crate) fn account_kind_from_tag(tag: u8, what: &str) -> Result<LedgerAccountKind, IndexError> {
    match tag {
        0 => Ok(LedgerAccountKind::Owner),
        1 => Ok(LedgerAccountKind::Provider),
        2 => Ok(LedgerAccountKind::Broker),
        3 => Ok(LedgerAccountKind::Lightning),
        t => Err(IndexError::corrupt(format!(
            "{what}: unknown account kind tag {t}"
        ))),
    }
}

pub(crate) fn encode_ledger_entry(e: &LedgerEntry) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(&e.entry_id);
    w.id(&e.blob_id);
    w.u64(e.settled_at_unix_ms);
    w.u32(u32::try_from(e.postings.len()).unwrap_or(u32::MAX));
    for p in &e.postings {
        w.u8(account_kind_tag(p.account.kind));
        w.str(&p.account.id);
        w.u8(match p.side {
            PostingSide::Debit => 0,
            PostingSide::Credit => 1,
        });
        w.u64(p.amount_msat);
    }
    w.0
}

pub(crate) fn decode_ledger_entry(bytes: &[u8]) -> Result<LedgerEntry, IndexError> {
    let mut r = Reader::new(bytes, "ledger entry")?;
    let entry_id = r.array()?;
    let blob_id = r.id()?;
    let settled_at_unix_ms = r.u64()?;
    let count = r.u32()?;
    // No pre-allocation from the stored count (see decode_blob).
    let mut postings = Vec::new();
    for _ in 0..count {
        let kind = account_kind_from_tag(r.u8()?, "ledger entry record")?;
        let id = r.string()?;
        let side = match r.u8()? {
            0 => PostingSide::Debit,
            1 => PostingSide::Credit,
            t => return Err(r.bad_tag("posting side", t)),
        };
        let amount_msat = r.u64()?;
        postings.push(LedgerPosting {
            account: LedgerAccount { kind, id },
            side,
            amount_msat,
        });
    }
    r.finish()?;
    Ok(LedgerEntry {
        entry_id,
        blob_id,
        settled_at_unix_ms,
        postings,
    })
}

#[cfg(test)]
#[path = "payments_tests.rs"]
mod tests;
