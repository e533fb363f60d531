//! Decisions about payment records every implementation must make
//! identically: what a new invoice or ledger entry may look like, how an
//! invoice's counters and state move, how postings add up to balances, and
//! the ledger page token. Storage code calls these inside its transaction.

use std::collections::BTreeMap;

use crate::credits::CreditRecord;
use crate::error::IndexError;
use crate::payments::{
    AccountBalance, InvoiceProgress, InvoiceRecord, LedgerAccount, LedgerAccountKind, LedgerEntry,
    PaymentHash, PostingSide,
};
use crate::payouts::{
    MAX_LIGHTNING_ADDRESS_LEN, MAX_PAYOUT_REASON_LEN, PayoutAddressRecord, PayoutRecord,
    PayoutState,
};
use crate::records::{MAX_PROVIDER_NAME_LEN, TenantId};
use crate::rules::check_provider_name;

/// Longest BOLT 11 payment request kept, in bytes. Real ones are well under
/// 2 KiB (LND refuses past ~7 KB); the bound keeps a record small.
pub const MAX_PAYMENT_REQUEST_LEN: usize = 16 * 1024;
/// Most postings in one ledger entry (lightning + owner + broker + one per
/// provider holding a shard: far fewer in practice).
pub const MAX_LEDGER_POSTINGS: usize = 1024;

/// `Invalid` unless `inv` is a fresh invoice: `uses >= 1` (exactly 1 when
/// `hold`), `used == 0`, `progress == Issued`, no accept time yet.
pub fn check_new_invoice(inv: &InvoiceRecord) -> Result<(), IndexError> {
    let hash = hex::encode(inv.payment_hash);
    let problem = if inv.uses == 0 {
        Some("uses must be at least 1".to_owned())
    } else if inv.used != 0 {
        Some(format!("used must be 0 on insert, got {}", inv.used))
    } else if inv.hold && inv.uses != 1 {
        Some(format!(
            "a hold invoice buys exactly 1 use, got {}",
            inv.uses
        ))
    } else if inv.progress != InvoiceProgress::Issued {
        Some(format!(
            "progress must be Issued on insert, got {:?}",
            inv.progress
        ))
    } else if inv.hold_accepted_at_unix_ms.is_some() {
        Some("hold_accepted_at must be unset on insert".to_owned())
    } else if inv.payment_request.len() > MAX_PAYMENT_REQUEST_LEN {
        Some(format!(
            "payment request longer than {MAX_PAYMENT_REQUEST_LEN} bytes"
        ))
    } else if inv.range_offset.checked_add(inv.range_length).is_none() {
        Some("range offset + length overflows u64".to_owned())
    } else {
        None
    };
    match problem {
        Some(what) => Err(IndexError::invalid(format!("invoice {hash}: {what}"))),
        None => Ok(()),
    }
}

/// Consumes one use; `UsesExhausted` when all are spent.
pub fn reserve_use(inv: &mut InvoiceRecord) -> Result<(), IndexError> {
    if inv.used >= inv.uses {
        return Err(IndexError::UsesExhausted {
            used: inv.used,
            uses: inv.uses,
        });
    }
    inv.used += 1;
    Ok(())
}

/// Gives one use back; at 0 nothing changes. Returns whether it changed.
pub fn release_use(inv: &mut InvoiceRecord) -> bool {
    match inv.used.checked_sub(1) {
        Some(used) => {
            inv.used = used;
            true
        }
        None => false,
    }
}

/// Records the first time a hold invoice was seen accepted; later calls
/// keep that time. Returns whether it changed.
pub fn mark_hold_accepted(inv: &mut InvoiceRecord, at_unix_ms: u64) -> bool {
    if inv.hold_accepted_at_unix_ms.is_some() {
        return false;
    }
    inv.hold_accepted_at_unix_ms = Some(at_unix_ms);
    true
}

/// `Invalid` for a target other than Settled or Canceled (checked before
/// any transaction).
pub fn check_finish_target(hash: &PaymentHash, to: InvoiceProgress) -> Result<(), IndexError> {
    if to == InvoiceProgress::Issued {
        return Err(IndexError::invalid(format!(
            "invoice {}: cannot finish to Issued",
            hex::encode(hash)
        )));
    }
    Ok(())
}

/// Issued → `to`. The same target again is a no-op (`Ok(false)`); the
/// other final state is `Conflict`. Returns whether it changed.
pub fn finish(inv: &mut InvoiceRecord, to: InvoiceProgress) -> Result<bool, IndexError> {
    check_finish_target(&inv.payment_hash, to)?;
    match inv.progress {
        InvoiceProgress::Issued => {
            inv.progress = to;
            Ok(true)
        }
        now if now == to => Ok(false),
        now => Err(IndexError::conflict(format!(
            "invoice {} is already {now:?}, cannot become {to:?}",
            hex::encode(inv.payment_hash)
        ))),
    }
}

/// `Invalid` unless the entry balances: at least one posting, every amount
/// at least 1 msat, debits == credits (summed in u128, so no amount list
/// can wrap), bounded count, and account ids that fit their kind.
pub fn check_ledger_entry(entry: &LedgerEntry) -> Result<(), IndexError> {
    let id = hex::encode(entry.entry_id);
    let bad = |what: String| Err(IndexError::invalid(format!("ledger entry {id}: {what}")));
    if entry.postings.is_empty() {
        return bad("no postings".to_owned());
    }
    if entry.postings.len() > MAX_LEDGER_POSTINGS {
        return bad(format!("more than {MAX_LEDGER_POSTINGS} postings"));
    }
    let (mut debits, mut credits) = (0u128, 0u128);
    for p in &entry.postings {
        if p.amount_msat == 0 {
            return bad(format!("zero-amount posting to {:?}", p.account));
        }
        check_account(&p.account).or_else(|e| bad(e.to_string()))?;
        match p.side {
            PostingSide::Debit => debits += u128::from(p.amount_msat),
            PostingSide::Credit => credits += u128::from(p.amount_msat),
        }
    }
    if debits != credits {
        return bad(format!(
            "unbalanced: debits {debits} msat != credits {credits} msat"
        ));
    }
    Ok(())
}

/// Owner ids are tenant ids, provider ids provider names; the broker and
/// Lightning accounts have bounded free ids (normally "").
pub fn check_account(account: &LedgerAccount) -> Result<(), IndexError> {
    match account.kind {
        LedgerAccountKind::Owner => TenantId::new(account.id.as_str()).map(|_| ()),
        LedgerAccountKind::Provider => check_provider_name(&account.id),
        LedgerAccountKind::Credit => {
            let lower_hex = account.id.len() == 64
                && account
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if lower_hex {
                Ok(())
            } else {
                Err(IndexError::invalid(
                    "a credit account id is its payment hash, 64 lowercase hex characters",
                ))
            }
        }
        LedgerAccountKind::Broker
        | LedgerAccountKind::Lightning
        | LedgerAccountKind::Payouts
        | LedgerAccountKind::CreditHeld => {
            if account.id.len() > MAX_PROVIDER_NAME_LEN {
                Err(IndexError::invalid(format!(
                    "{:?} account id longer than {MAX_PROVIDER_NAME_LEN} bytes",
                    account.kind
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// Each account's (credited, debited) change from `entry`, summed in u128
/// per account (an account may appear in several postings).
pub fn entry_totals(entry: &LedgerEntry) -> BTreeMap<LedgerAccount, (u128, u128)> {
    let mut totals: BTreeMap<LedgerAccount, (u128, u128)> = BTreeMap::new();
    for p in &entry.postings {
        let slot = totals.entry(p.account.clone()).or_default();
        match p.side {
            PostingSide::Credit => slot.0 += u128::from(p.amount_msat),
            PostingSide::Debit => slot.1 += u128::from(p.amount_msat),
        }
    }
    totals
}

/// `balance` plus one entry's `(credited, debited)` for it; `Invalid` (so
/// nothing is written) if a total would leave u64 — 18.4 million BTC in
/// msat, never reached by real payments, but never wrapped either.
pub fn add_to_balance(
    balance: &mut AccountBalance,
    (credited, debited): (u128, u128),
) -> Result<(), IndexError> {
    let add = |now: u64, more: u128| {
        u64::try_from(u128::from(now) + more).map_err(|_| {
            IndexError::invalid(format!(
                "ledger balance of {:?} would exceed u64 msat",
                balance.account
            ))
        })
    };
    let credited = add(balance.credited_msat, credited)?;
    let debited = add(balance.debited_msat, debited)?;
    balance.credited_msat = credited;
    balance.debited_msat = debited;
    Ok(())
}

/// `InsufficientBalance` if `after` (the balance with one entry's change
/// `(credited, debited)` added) is below zero: the entry must not be
/// written. Liabilities (every kind but Lightning) need credited ≥ debited,
/// the Lightning asset debited ≥ credited.
pub fn check_not_negative(
    after: &AccountBalance,
    (credited, debited): (u128, u128),
) -> Result<(), IndexError> {
    let (plus, minus, taken) = if after.account.kind.is_asset() {
        (after.debited_msat, after.credited_msat, credited)
    } else {
        (after.credited_msat, after.debited_msat, debited)
    };
    if plus >= minus {
        return Ok(());
    }
    let taken = u64::try_from(taken).unwrap_or(u64::MAX);
    // Before the entry: what it held, i.e. after + taken − given.
    let given = if after.account.kind.is_asset() {
        debited
    } else {
        credited
    };
    let before = (u128::from(plus) + u128::from(taken))
        .saturating_sub(u128::from(minus))
        .saturating_sub(given);
    Err(IndexError::InsufficientBalance {
        account: account_label(&after.account),
        balance_msat: u64::try_from(before).unwrap_or(u64::MAX),
        needed_msat: taken,
    })
}

/// `kind:id` (just `kind` for an empty id), for messages.
pub fn account_label(account: &LedgerAccount) -> String {
    let kind = match account.kind {
        LedgerAccountKind::Owner => "owner",
        LedgerAccountKind::Provider => "provider",
        LedgerAccountKind::Broker => "broker",
        LedgerAccountKind::Lightning => "lightning",
        LedgerAccountKind::Payouts => "payouts",
        LedgerAccountKind::Credit => "credit",
        LedgerAccountKind::CreditHeld => "credit-held",
    };
    if account.id.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}:{}", account.id)
    }
}

/// `Invalid` unless `p` is a fresh payout attempt: InFlight, not finished,
/// a positive amount, an account that may be paid out of (owner, provider
/// or broker) and a bounded payment request.
pub fn check_new_payout(p: &PayoutRecord) -> Result<(), IndexError> {
    let problem = if p.state != PayoutState::InFlight || p.finished_at_unix_ms.is_some() {
        Some("must start InFlight and unfinished".to_owned())
    } else if p.amount_msat == 0 {
        Some("amount must be at least 1 msat".to_owned())
    } else if p.attempt == 0 {
        Some("attempts count from 1".to_owned())
    } else if !matches!(
        p.account.kind,
        LedgerAccountKind::Owner | LedgerAccountKind::Provider | LedgerAccountKind::Broker
    ) {
        Some(format!(
            "cannot pay out of a {} account",
            account_label(&p.account)
        ))
    } else if p.payment_request.len() > MAX_PAYMENT_REQUEST_LEN {
        Some(format!(
            "payment request longer than {MAX_PAYMENT_REQUEST_LEN} bytes"
        ))
    } else if p.amount_msat.checked_add(p.fee_reserve_msat).is_none() {
        Some("amount + fee reserve overflows u64".to_owned())
    } else {
        None
    };
    check_account(&p.account)?;
    match problem {
        Some(what) => Err(IndexError::invalid(format!(
            "payout {}: {what}",
            hex::encode(p.payment_hash)
        ))),
        None => Ok(()),
    }
}

/// A new attempt for an invoice that has a payout already: `AlreadyExists`
/// if it is for another account or amount (an invoice pays one thing),
/// `Conflict` if a failed payout's next attempt is not `existing.attempt + 1`
/// (another caller retried first).
pub fn check_retry(existing: &PayoutRecord, new: &PayoutRecord) -> Result<(), IndexError> {
    let hash = hex::encode(new.payment_hash);
    if existing.account != new.account || existing.amount_msat != new.amount_msat {
        return Err(IndexError::already_exists(format!(
            "payout {hash} is from {} for {} msat",
            account_label(&existing.account),
            existing.amount_msat
        )));
    }
    if matches!(existing.state, PayoutState::Failed { .. }) && new.attempt != existing.attempt + 1 {
        return Err(IndexError::conflict(format!(
            "payout {hash}: attempt {} follows attempt {}, not {}",
            existing.attempt + 1,
            existing.attempt,
            new.attempt
        )));
    }
    Ok(())
}

/// `Some(existing)` when a payout in flight or paid stands and a new
/// attempt must not start; `None` after a failure (a retry may start).
pub fn still_standing(existing: PayoutRecord) -> Option<PayoutRecord> {
    match existing.state {
        PayoutState::Failed { .. } => None,
        PayoutState::InFlight | PayoutState::Succeeded { .. } => Some(existing),
    }
}

/// `Invalid` for a final state that cannot be: a fee above the reserve, an
/// overlong reason, or InFlight as a target.
pub fn check_payout_outcome(p: &PayoutRecord, to: &PayoutState) -> Result<(), IndexError> {
    let problem = match to {
        PayoutState::InFlight => Some("cannot finish to InFlight".to_owned()),
        PayoutState::Succeeded { fee_msat, .. } if *fee_msat > p.fee_reserve_msat => Some(format!(
            "fee {fee_msat} msat above the reserve {} msat",
            p.fee_reserve_msat
        )),
        PayoutState::Failed { reason } if reason.len() > MAX_PAYOUT_REASON_LEN => {
            Some(format!("reason longer than {MAX_PAYOUT_REASON_LEN} bytes"))
        }
        _ => None,
    };
    match problem {
        Some(what) => Err(IndexError::invalid(format!(
            "payout {}: {what}",
            hex::encode(p.payment_hash)
        ))),
        None => Ok(()),
    }
}

/// `Invalid` unless `c` is a fresh credit: a positive amount, not funded,
/// a bounded payment request.
pub fn check_new_credit(c: &CreditRecord) -> Result<(), IndexError> {
    let problem = if c.amount_msat == 0 {
        Some("amount must be at least 1 msat")
    } else if c.funded_at_unix_ms.is_some() {
        Some("must not be funded on insert")
    } else if c.payment_request.len() > MAX_PAYMENT_REQUEST_LEN {
        Some("payment request too long")
    } else {
        None
    };
    match problem {
        Some(what) => Err(IndexError::invalid(format!(
            "credit {}: {what}",
            hex::encode(c.payment_hash)
        ))),
        None => Ok(()),
    }
}

/// `Invalid` unless the standing order names a payable account, a
/// plausible address (`user@domain`, bounded) and a positive threshold.
pub fn check_payout_address(r: &PayoutAddressRecord) -> Result<(), IndexError> {
    check_account(&r.account)?;
    let problem = if !matches!(
        r.account.kind,
        LedgerAccountKind::Owner | LedgerAccountKind::Provider | LedgerAccountKind::Broker
    ) {
        Some(format!(
            "cannot pay out of a {} account",
            account_label(&r.account)
        ))
    } else if r.address.len() > MAX_LIGHTNING_ADDRESS_LEN || !r.address.contains('@') {
        Some(format!(
            "a Lightning Address is user@domain, at most {MAX_LIGHTNING_ADDRESS_LEN} bytes"
        ))
    } else if r.threshold_msat == 0 {
        Some("threshold must be at least 1 msat".to_owned())
    } else if r
        .last_error
        .as_ref()
        .is_some_and(|e| e.len() > MAX_PAYOUT_REASON_LEN)
    {
        Some(format!(
            "last error longer than {MAX_PAYOUT_REASON_LEN} bytes"
        ))
    } else {
        None
    };
    match problem {
        Some(what) => Err(IndexError::invalid(format!(
            "payout address of {}: {what}",
            account_label(&r.account)
        ))),
        None => Ok(()),
    }
}

/// Version tag of ledger page tokens.
const LEDGER_TOKEN_V1: &str = "l1";

/// An opaque token naming the last listed (settled_at, entry id): the next
/// page starts strictly after that position, so entries inserted between
/// pages neither repeat nor shift the ones after it.
pub fn encode_ledger_token(settled_at_unix_ms: u64, entry_id: &PaymentHash) -> String {
    format!(
        "{LEDGER_TOKEN_V1}.{settled_at_unix_ms:016x}.{}",
        hex::encode(entry_id)
    )
}

/// Inverse of [`encode_ledger_token`]; `Invalid` for anything else.
pub fn decode_ledger_token(token: &str) -> Result<(u64, PaymentHash), IndexError> {
    let bad = || IndexError::invalid("malformed ledger page token");
    let mut parts = token.split('.');
    let (Some(LEDGER_TOKEN_V1), Some(at_hex), Some(id_hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let hex_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_digits(at_hex, 16) || !hex_digits(id_hex, 64) {
        return Err(bad());
    }
    let at = u64::from_str_radix(at_hex, 16).map_err(|_| bad())?;
    let mut id = [0u8; 32];
    hex::decode_to_slice(id_hex, &mut id).map_err(|_| bad())?;
    Ok((at, id))
}
