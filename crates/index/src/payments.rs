//! Payment records: the invoices the broker issued (with their use counters
//! and hold state) and the double-entry ledger of settled payments.
//!
//! Like `records.rs`, plain data: redb encodes them with `codec.rs`,
//! PostgreSQL maps them to columns. The decisions both make identically
//! (validation, state transitions, page tokens) are in `payment_rules.rs`.

use shardgate_core::ContentId;

use crate::records::TenantId;

/// A Lightning payment hash: SHA-256 of the preimage.
pub type PaymentHash = [u8; 32];

/// One invoice the broker issued (CreateInvoice or a Get challenge).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRecord {
    /// The invoice's key: SHA-256 of its preimage.
    pub payment_hash: PaymentHash,
    /// The blob the invoice pays downloads of.
    pub blob_id: ContentId,
    /// The blob's owner when the invoice was issued: the OWNER account credited.
    pub owner: TenantId,
    /// First byte of the paid range (plaintext offset).
    pub range_offset: u64,
    /// Length of the paid range, bytes (the amount was computed on it).
    pub range_length: u64,
    /// What the invoice asks, msat (the price stands even if the blob's price changes).
    pub amount_msat: u64,
    /// Downloads bought (>= 1; exactly 1 when `hold`).
    pub uses: u32,
    /// Downloads consumed. Maintained by the index: must be 0 on insert.
    pub used: u32,
    /// A hold invoice: the broker settles it only after serving the download.
    pub hold: bool,
    /// The L402 token id (hold preimages are derived from it).
    pub token_id: [u8; 32],
    /// The BOLT 11 string given to the payer (at most
    /// `MAX_PAYMENT_REQUEST_LEN` bytes).
    pub payment_request: String,
    /// When the broker issued it, unix milliseconds.
    pub created_at_unix_ms: u64,
    /// Invoice payable until, unix milliseconds.
    pub expires_at_unix_ms: u64,
    /// Credential usable until, unix milliseconds.
    pub credential_expires_at_unix_ms: u64,
    /// Hold invoices: when the broker first saw it ACCEPTED (for
    /// hold_accept_timeout). Maintained by `mark_hold_accepted`; None on insert.
    pub hold_accepted_at_unix_ms: Option<u64>,
    /// Issued → Settled/Canceled. Maintained by `finish_invoice`; Issued on insert.
    pub progress: InvoiceProgress,
}

/// Where an invoice is in its life. Only `Issued` may change, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceProgress {
    /// Created; not yet settled or canceled on the node (may be paid).
    Issued,
    /// Paid and settled: its ledger entry is recorded.
    Settled,
    /// Canceled (by the broker, or expired unpaid); final.
    Canceled,
}

/// The kind of a ledger account; the declaration order is the sort order
/// of `ledger_balances`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccountKind {
    /// A blob owner's earnings; id = tenant id.
    Owner,
    /// A storage provider's share; id = provider name.
    Provider,
    /// The broker's cut; id = "".
    Broker,
    /// Money received over Lightning (the debit side of every payment); id = "".
    Lightning,
    /// Payouts sent and not yet final: amount + fee reserve, taken from the
    /// payee's account until LND says how the payment ended; id = "".
    Payouts,
    /// A prepaid credit balance; id = the credit invoice's payment hash (hex).
    Credit,
    /// Credit taken by downloads still running (booked to the split when
    /// the download ends, back to the credit if it fails); id = "".
    CreditHeld,
}

impl LedgerAccountKind {
    /// True for the one asset account (the node's Lightning funds), whose
    /// balance is debited − credited; every other kind is a liability whose
    /// balance is credited − debited. Neither may go below zero.
    pub fn is_asset(self) -> bool {
        self == LedgerAccountKind::Lightning
    }
}

/// One account of the ledger, ordered by (kind, id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerAccount {
    /// Whose account it is.
    pub kind: LedgerAccountKind,
    /// Tenant id / provider name / "".
    pub id: String,
}

impl LedgerAccount {
    /// The earnings account of the blob owner `tenant`.
    pub fn owner(tenant: &TenantId) -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Owner,
            id: tenant.as_str().to_owned(),
        }
    }
    /// The share account of the storage provider `name`.
    pub fn provider(name: impl Into<String>) -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Provider,
            id: name.into(),
        }
    }
    /// The broker's own account (its cut and rounding remainders).
    pub fn broker() -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Broker,
            id: String::new(),
        }
    }
    /// The account debited with every amount received over Lightning.
    pub fn lightning() -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Lightning,
            id: String::new(),
        }
    }
    /// Payouts in flight.
    pub fn payouts() -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Payouts,
            id: String::new(),
        }
    }
    /// The prepaid credit bought with the invoice `payment_hash`.
    pub fn credit(payment_hash: &PaymentHash) -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::Credit,
            id: hex::encode(payment_hash),
        }
    }
    /// Credit held by running downloads.
    pub fn credit_held() -> Self {
        LedgerAccount {
            kind: LedgerAccountKind::CreditHeld,
            id: String::new(),
        }
    }
}

/// Which column of the account a posting adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostingSide {
    /// Money leaves the account (the Lightning account, for a payment).
    Debit,
    /// Money is added to the account.
    Credit,
}

/// One line of a ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerPosting {
    /// The account the line books to.
    pub account: LedgerAccount,
    /// Which column it adds to.
    pub side: PostingSide,
    /// Amount in msat, at least 1.
    pub amount_msat: u64,
}

/// What moved money in a ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A download paid by its own invoice: Lightning → owner, providers,
    /// broker. Entry id = the invoice's payment hash.
    Download,
    /// A prepaid credit bought: Lightning → credit. Entry id = its payment hash.
    CreditPurchase,
    /// A download started on credit: credit → credit held.
    CreditReserved,
    /// A download on credit finished: credit held → owner, providers, broker.
    CreditDownload,
    /// A download on credit failed on the broker's side: held → credit.
    CreditReleased,
    /// A payout sent: account → payouts (amount + fee reserve).
    PayoutStarted,
    /// A payout succeeded: payouts → Lightning (amount + fee), the unused
    /// reserve back to the account.
    PayoutSucceeded,
    /// A payout failed: payouts → account, all of it.
    PayoutFailed,
}

/// One balanced movement of money. Entry id: the payment hash for
/// invoice-paid downloads and credit purchases; derived ids otherwise
/// (see the broker's ledger code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Unique per movement; recording an id twice writes nothing.
    pub entry_id: PaymentHash,
    /// What moved the money.
    pub kind: EntryKind,
    /// The blob whose download was paid (download kinds only).
    pub blob_id: Option<ContentId>,
    /// When the broker saw the invoice settled, unix milliseconds.
    pub settled_at_unix_ms: u64,
    /// Debits and credits sum to the same amount.
    pub postings: Vec<LedgerPosting>,
}

/// The running totals of one account over every recorded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountBalance {
    /// The account totalled.
    pub account: LedgerAccount,
    /// Sum of its credit postings, msat.
    pub credited_msat: u64,
    /// Sum of its debit postings, msat.
    pub debited_msat: u64,
}

impl AccountBalance {
    /// What the account holds: credited − debited, or debited − credited
    /// for the asset account. The index never lets it go below zero.
    pub fn balance_msat(&self) -> u64 {
        if self.account.kind.is_asset() {
            self.debited_msat.saturating_sub(self.credited_msat)
        } else {
            self.credited_msat.saturating_sub(self.debited_msat)
        }
    }
    /// An account with no postings.
    pub fn zero(account: LedgerAccount) -> Self {
        AccountBalance {
            account,
            credited_msat: 0,
            debited_msat: 0,
        }
    }
}

/// Which entries `list_ledger` returns; `Default` = all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only entries with a posting to this account.
    pub account: Option<LedgerAccount>,
    /// `settled_at_unix_ms >= since` (inclusive).
    pub since_unix_ms: Option<u64>,
    /// `settled_at_unix_ms < until` (exclusive).
    pub until_unix_ms: Option<u64>,
}
