//! Payment records for the cases: invoices and ledger entries derived from
//! short seeds, so a case reads as "invoice a, 3 uses".

use shardgate_core::ContentId;

use crate::conformance::fixtures::tid;
use crate::{
    InvoiceProgress, InvoiceRecord, LedgerAccount, LedgerEntry, LedgerPosting, PaymentHash,
    PostingSide,
};

/// The payment hash of a seed.
pub fn hash(seed: &str) -> PaymentHash {
    *ContentId::of(format!("payment:{seed}").as_bytes()).as_bytes()
}

/// A fresh (insertable) invoice of tenant "owner" for 1000 msat.
pub fn invoice(seed: &str, uses: u32, hold: bool) -> InvoiceRecord {
    InvoiceRecord {
        payment_hash: hash(seed),
        blob_id: ContentId::of(format!("blob:{seed}").as_bytes()),
        owner: tid("owner"),
        range_offset: 0,
        range_length: 4096,
        amount_msat: 1000,
        uses,
        used: 0,
        hold,
        token_id: *ContentId::of(format!("token:{seed}").as_bytes()).as_bytes(),
        payment_request: format!("lnbcrt10n1{seed}"),
        created_at_unix_ms: 1_700_000_000_000,
        expires_at_unix_ms: 1_700_000_003_600,
        credential_expires_at_unix_ms: 1_700_000_086_400,
        hold_accepted_at_unix_ms: None,
        progress: InvoiceProgress::Issued,
    }
}

/// A ledger posting (a shorthand for the struct literal).
pub fn posting(account: LedgerAccount, side: PostingSide, amount_msat: u64) -> LedgerPosting {
    LedgerPosting {
        account,
        side,
        amount_msat,
    }
}

/// The broker's usual split of `amount` msat paid for a blob of tenant
/// `owner` with shards on `provider`: Lightning debited the whole amount;
/// owner 70 %, provider 20 %, broker the rest credited.
pub fn payment(
    seed: &str,
    at_unix_ms: u64,
    owner: &str,
    provider: &str,
    amount: u64,
) -> LedgerEntry {
    let owner_part = amount * 7 / 10;
    let provider_part = amount * 2 / 10;
    let broker_part = amount - owner_part - provider_part;
    let mut postings = vec![posting(
        LedgerAccount::lightning(),
        PostingSide::Debit,
        amount,
    )];
    for (account, part) in [
        (LedgerAccount::owner(&tid(owner)), owner_part),
        (LedgerAccount::provider(provider), provider_part),
        (LedgerAccount::broker(), broker_part),
    ] {
        if part > 0 {
            postings.push(posting(account, PostingSide::Credit, part));
        }
    }
    LedgerEntry {
        entry_id: hash(seed),
        kind: crate::EntryKind::Download,
        blob_id: Some(ContentId::of(format!("blob:{seed}").as_bytes())),
        settled_at_unix_ms: at_unix_ms,
        postings,
    }
}

/// An entry of `kind` moving `amount` msat from `from` (debit) to `to`
/// (credit).
pub fn transfer(
    seed: &str,
    kind: crate::EntryKind,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: u64,
) -> LedgerEntry {
    LedgerEntry {
        entry_id: hash(seed),
        kind,
        blob_id: None,
        settled_at_unix_ms: 1_700_000_000_000,
        postings: vec![
            posting(from, PostingSide::Debit, amount),
            posting(to, PostingSide::Credit, amount),
        ],
    }
}

/// A first payout attempt of `amount` + `reserve` msat out of `account`.
pub fn payout(
    seed: &str,
    account: LedgerAccount,
    amount: u64,
    reserve: u64,
) -> crate::PayoutRecord {
    crate::PayoutRecord {
        payment_hash: hash(seed),
        account,
        amount_msat: amount,
        fee_reserve_msat: reserve,
        payment_request: format!("lnbcrt1payout{seed}"),
        attempt: 1,
        origin: crate::PayoutOrigin::Withdrawal,
        started_at_unix_ms: 1_700_000_000_000,
        finished_at_unix_ms: None,
        state: crate::PayoutState::InFlight,
    }
}

/// A fresh credit of `amount` msat.
pub fn credit(seed: &str, amount: u64) -> crate::CreditRecord {
    crate::CreditRecord {
        payment_hash: hash(seed),
        token_id: *ContentId::of(format!("credit-token:{seed}").as_bytes()).as_bytes(),
        amount_msat: amount,
        payment_request: format!("lnbcrt1credit{seed}"),
        created_at_unix_ms: 1_700_000_000_000,
        expires_at_unix_ms: 1_700_000_003_600,
        credential_expires_at_unix_ms: 1_700_000_086_400,
        funded_at_unix_ms: None,
    }
}
