//! Encoding of the payment records, same conventions as the parent module:
//! version byte, fields in declaration order, big-endian integers,
//! u32-length-prefixed strings, one tag byte per enum, 0/1 for `Option`
//! and `bool`. Account kinds are tagged in their sort order, so a redb key
//! `(kind tag, id)` sorts like `LedgerAccount`.

use super::{RECORD_VERSION_1, RECORD_VERSION_2, Reader, Writer, tenant_id};
use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::payments::LedgerAccount;
use crate::payments::{
    EntryKind, InvoiceProgress, InvoiceRecord, LedgerAccountKind, LedgerEntry, LedgerPosting,
    PostingSide,
};
use crate::payouts::{PayoutAddressRecord, PayoutOrigin, PayoutRecord, PayoutState};

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
        LedgerAccountKind::Payouts => 4,
        LedgerAccountKind::Credit => 5,
        LedgerAccountKind::CreditHeld => 6,
    }
}

/// Inverse of [`account_kind_tag`]; `Corrupt` for an unknown tag.
pub(crate) fn account_kind_from_tag(tag: u8, what: &str) -> Result<LedgerAccountKind, IndexError> {
    match tag {
        0 => Ok(LedgerAccountKind::Owner),
        1 => Ok(LedgerAccountKind::Provider),
        2 => Ok(LedgerAccountKind::Broker),
        3 => Ok(LedgerAccountKind::Lightning),
        4 => Ok(LedgerAccountKind::Payouts),
        5 => Ok(LedgerAccountKind::Credit),
        6 => Ok(LedgerAccountKind::CreditHeld),
        t => Err(IndexError::corrupt(format!(
            "{what}: unknown account kind tag {t}"
        ))),
    }
}

/// The tag of an entry kind (stored in redb and in PostgreSQL's `kind`).
pub(crate) fn entry_kind_tag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Download => 0,
        EntryKind::CreditPurchase => 1,
        EntryKind::CreditReserved => 2,
        EntryKind::CreditDownload => 3,
        EntryKind::CreditReleased => 4,
        EntryKind::PayoutStarted => 5,
        EntryKind::PayoutSucceeded => 6,
        EntryKind::PayoutFailed => 7,
    }
}

/// Inverse of [`entry_kind_tag`]; `Corrupt` for an unknown tag.
pub(crate) fn entry_kind_from_tag(tag: u8, what: &str) -> Result<EntryKind, IndexError> {
    Ok(match tag {
        0 => EntryKind::Download,
        1 => EntryKind::CreditPurchase,
        2 => EntryKind::CreditReserved,
        3 => EntryKind::CreditDownload,
        4 => EntryKind::CreditReleased,
        5 => EntryKind::PayoutStarted,
        6 => EntryKind::PayoutSucceeded,
        7 => EntryKind::PayoutFailed,
        t => {
            return Err(IndexError::corrupt(format!(
                "{what}: unknown entry kind tag {t}"
            )));
        }
    })
}

/// Version 1 for a download with its blob (byte-identical to what earlier
/// builds wrote), version 2 (kind, optional blob) for everything else.
pub(crate) fn encode_ledger_entry(e: &LedgerEntry) -> Vec<u8> {
    let mut w;
    match (e.kind, e.blob_id) {
        (EntryKind::Download, Some(blob)) => {
            w = Writer::new();
            w.0.extend_from_slice(&e.entry_id);
            w.id(&blob);
        }
        (kind, blob) => {
            w = Writer::with_version(RECORD_VERSION_2);
            w.0.extend_from_slice(&e.entry_id);
            w.u8(entry_kind_tag(kind));
            match blob {
                None => w.u8(0),
                Some(blob) => {
                    w.u8(1);
                    w.id(&blob);
                }
            }
        }
    }
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
    let (mut r, version) = Reader::versioned(bytes, "ledger entry", RECORD_VERSION_2)?;
    let entry_id = r.array()?;
    let (kind, blob_id) = if version == RECORD_VERSION_1 {
        (EntryKind::Download, Some(r.id()?))
    } else {
        let kind = entry_kind_from_tag(r.u8()?, "ledger entry record")?;
        let blob = match r.u8()? {
            0 => None,
            1 => Some(r.id()?),
            t => return Err(r.bad_tag("blob", t)),
        };
        (kind, blob)
    };
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
        kind,
        blob_id,
        settled_at_unix_ms,
        postings,
    })
}

pub(crate) fn encode_payout(p: &PayoutRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(&p.payment_hash);
    w.u8(account_kind_tag(p.account.kind));
    w.str(&p.account.id);
    w.u64(p.amount_msat);
    w.u64(p.fee_reserve_msat);
    w.str(&p.payment_request);
    w.u32(p.attempt);
    w.u8(match p.origin {
        PayoutOrigin::Withdrawal => 0,
        PayoutOrigin::LightningAddress => 1,
    });
    w.u64(p.started_at_unix_ms);
    w.opt_u64(p.finished_at_unix_ms);
    match &p.state {
        PayoutState::InFlight => w.u8(0),
        PayoutState::Succeeded { fee_msat, preimage } => {
            w.u8(1);
            w.u64(*fee_msat);
            w.0.extend_from_slice(preimage);
        }
        PayoutState::Failed { reason } => {
            w.u8(2);
            w.str(reason);
        }
    }
    w.0
}

pub(crate) fn decode_payout(bytes: &[u8]) -> Result<PayoutRecord, IndexError> {
    let mut r = Reader::new(bytes, "payout")?;
    let payment_hash = r.array()?;
    let kind = account_kind_from_tag(r.u8()?, "payout record")?;
    let account = LedgerAccount {
        kind,
        id: r.string()?,
    };
    let amount_msat = r.u64()?;
    let fee_reserve_msat = r.u64()?;
    let payment_request = r.string()?;
    let attempt = r.u32()?;
    let origin = match r.u8()? {
        0 => PayoutOrigin::Withdrawal,
        1 => PayoutOrigin::LightningAddress,
        t => return Err(r.bad_tag("payout origin", t)),
    };
    let started_at_unix_ms = r.u64()?;
    let finished_at_unix_ms = r.opt_u64("finished_at")?;
    let state = match r.u8()? {
        0 => PayoutState::InFlight,
        1 => PayoutState::Succeeded {
            fee_msat: r.u64()?,
            preimage: r.array()?,
        },
        2 => PayoutState::Failed {
            reason: r.string()?,
        },
        t => return Err(r.bad_tag("payout state", t)),
    };
    r.finish()?;
    Ok(PayoutRecord {
        payment_hash,
        account,
        amount_msat,
        fee_reserve_msat,
        payment_request,
        attempt,
        origin,
        started_at_unix_ms,
        finished_at_unix_ms,
        state,
    })
}

pub(crate) fn encode_credit(c: &CreditRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(&c.payment_hash);
    w.0.extend_from_slice(&c.token_id);
    w.u64(c.amount_msat);
    w.str(&c.payment_request);
    w.u64(c.created_at_unix_ms);
    w.u64(c.expires_at_unix_ms);
    w.u64(c.credential_expires_at_unix_ms);
    w.opt_u64(c.funded_at_unix_ms);
    w.0
}

pub(crate) fn decode_credit(bytes: &[u8]) -> Result<CreditRecord, IndexError> {
    let mut r = Reader::new(bytes, "credit")?;
    let record = CreditRecord {
        payment_hash: r.array()?,
        token_id: r.array()?,
        amount_msat: r.u64()?,
        payment_request: r.string()?,
        created_at_unix_ms: r.u64()?,
        expires_at_unix_ms: r.u64()?,
        credential_expires_at_unix_ms: r.u64()?,
        funded_at_unix_ms: r.opt_u64("funded_at")?,
    };
    r.finish()?;
    Ok(record)
}

pub(crate) fn encode_payout_address(a: &PayoutAddressRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(account_kind_tag(a.account.kind));
    w.str(&a.account.id);
    w.str(&a.address);
    w.u64(a.threshold_msat);
    w.u32(a.failures);
    w.u64(a.next_attempt_at_unix_ms);
    w.opt_bytes(a.last_error.as_deref().map(str::as_bytes));
    w.u64(a.updated_at_unix_ms);
    w.0
}

pub(crate) fn decode_payout_address(bytes: &[u8]) -> Result<PayoutAddressRecord, IndexError> {
    let mut r = Reader::new(bytes, "payout address")?;
    let kind = account_kind_from_tag(r.u8()?, "payout address record")?;
    let account = LedgerAccount {
        kind,
        id: r.string()?,
    };
    let address = r.string()?;
    let threshold_msat = r.u64()?;
    let failures = r.u32()?;
    let next_attempt_at_unix_ms = r.u64()?;
    let last_error = r
        .opt_bytes("last_error")?
        .map(|b| {
            String::from_utf8(b)
                .map_err(|_| IndexError::corrupt("payout address record has invalid UTF-8"))
        })
        .transpose()?;
    let updated_at_unix_ms = r.u64()?;
    r.finish()?;
    Ok(PayoutAddressRecord {
        account,
        address,
        threshold_msat,
        failures,
        next_attempt_at_unix_ms,
        last_error,
        updated_at_unix_ms,
    })
}

#[cfg(test)]
#[path = "payments_tests.rs"]
mod tests;
