//! Revenue split of a settled payment and its double-entry postings.
//!
//! A settled amount `A` is divided by the operator's shares in basis points
//! (1/10,000): the blob's owner gets `⌊A × owner_bps / 10⁴⌋`; each provider
//! gets `⌊A × providers_bps × sᵢ / (10⁴ × S)⌋` where `sᵢ` is the shards it
//! served and `S` their sum; the broker gets everything else — its own
//! share plus every rounding remainder (payments.proto: "Shares are rounded
//! down; the rounding remainder goes to the broker account"). So the parts
//! always sum to `A` exactly, and no part is negative because every
//! rounded-down share is at most its exact value. When no provider served a
//! shard (an empty range) the providers' share goes to the broker too.
//!
//! [`Split::postings`] turns the parts into the ledger entry the index
//! stores: one debit of `A` to the LIGHTNING account (the funds the node
//! received) and one credit per party with a non-zero part (postings are
//! never 0 msat).

use std::collections::BTreeMap;

use crate::error::PaymentError;

/// Basis points in a whole.
pub const BPS_WHOLE: u32 = 10_000;

/// The operator's split ratios, in basis points summing to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitConfig {
    /// The blob's owner (uploader).
    pub owner_bps: u32,
    /// All providers together, divided by shards served.
    pub providers_bps: u32,
    /// The broker's fee (it also receives rounding remainders).
    pub broker_bps: u32,
}

impl Default for SplitConfig {
    /// 70 % owner, 20 % providers, 10 % broker.
    fn default() -> Self {
        SplitConfig {
            owner_bps: 7_000,
            providers_bps: 2_000,
            broker_bps: 1_000,
        }
    }
}

impl SplitConfig {
    /// The three shares must sum to exactly 10,000 basis points.
    pub fn validate(&self) -> Result<(), PaymentError> {
        let sum =
            u64::from(self.owner_bps) + u64::from(self.providers_bps) + u64::from(self.broker_bps);
        if sum != u64::from(BPS_WHOLE) {
            return Err(PaymentError::config(format!(
                "split shares must sum to {BPS_WHOLE} basis points, got {sum} \
                 (owner {}, providers {}, broker {})",
                self.owner_bps, self.providers_bps, self.broker_bps
            )));
        }
        Ok(())
    }

    /// Splits `amount_msat` between `owner` and the providers that served
    /// shards (`(provider name, shards served)`; repeated names add up,
    /// zero counts are ignored).
    pub fn split<'a>(
        &self,
        amount_msat: u64,
        owner: &str,
        served: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Result<Split, PaymentError> {
        self.validate()?;
        if amount_msat == 0 {
            return Err(PaymentError::invalid("cannot split a payment of 0 msat"));
        }
        let mut shards: BTreeMap<String, u128> = BTreeMap::new();
        for (name, count) in served {
            if count > 0 {
                *shards.entry(name.to_string()).or_default() += u128::from(count);
            }
        }
        let total_shards: u128 = shards.values().sum();
        let amount = u128::from(amount_msat);
        let whole = u128::from(BPS_WHOLE);

        // Each part is ⌊exact⌋ with the exact value ≤ amount, so it fits u64.
        let owner_msat = narrow(amount * u128::from(self.owner_bps) / whole)?;
        let mut providers = Vec::with_capacity(shards.len());
        let mut given = u128::from(owner_msat);
        if total_shards > 0 {
            let pool_numerator = amount * u128::from(self.providers_bps);
            for (name, count) in shards {
                let part = share_of(pool_numerator, count, total_shards * whole)?;
                given += u128::from(part);
                providers.push((name, part));
            }
        }
        // given ≤ amount because every part is a rounded-down share of a
        // distinct slice of amount × (owner_bps + providers_bps) / 10⁴.
        let broker_msat = narrow(amount.checked_sub(given).ok_or_else(|| {
            PaymentError::config("split shares exceed the amount (bug in split arithmetic)")
        })?)?;
        Ok(Split {
            amount_msat,
            owner: owner.to_string(),
            owner_msat,
            providers,
            broker_msat,
        })
    }
}

/// ⌊n × c / d⌋ for a provider's share, exact and without u128 overflow.
///
/// Here n = amount × providers_bps < 2⁷⁸, d = S × 10⁴ and c ≤ S (S = total
/// shards), so n × c itself may not fit u128. With n = q·d + r (r < d):
/// ⌊n·c/d⌋ = q·c + ⌊r·c/d⌋, where q·c ≤ n·c/d ≤ amount and r·c < d·c ≤
/// 10⁴·S², which fits u128 for any S below 2⁵⁷ shards; beyond that the
/// checked multiply reports an overflow instead of wrapping.
fn share_of(n: u128, c: u128, d: u128) -> Result<u64, PaymentError> {
    let overflow = PaymentError::AmountOverflow {
        what: "provider share",
    };
    let q_c = (n / d).checked_mul(c).ok_or(PaymentError::AmountOverflow {
        what: "provider share",
    })?;
    let r_c = (n % d).checked_mul(c).ok_or(overflow)?;
    narrow(q_c + r_c / d)
}

fn narrow(value: u128) -> Result<u64, PaymentError> {
    u64::try_from(value).map_err(|_| PaymentError::AmountOverflow { what: "split part" })
}

/// The parts of one settled payment; they sum to `amount_msat` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// What the payment received, msat: the sum of every part.
    pub amount_msat: u64,
    /// Owner account id (the tenant id).
    pub owner: String,
    /// The owner's part, msat.
    pub owner_msat: u64,
    /// `(provider name, part)`, sorted by name, one per provider that
    /// served at least one shard.
    pub providers: Vec<(String, u64)>,
    /// Broker fee plus every rounding remainder.
    pub broker_msat: u64,
}

/// Kinds of ledger account (payments.proto `AccountKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// A blob owner's earnings.
    Owner,
    /// A storage provider's share for the shards it served.
    Provider,
    /// The broker's fee and rounding remainders.
    Broker,
    /// Money received over Lightning: the debit side of every payment.
    Lightning,
}

/// A ledger account: tenant id for owners, provider name for providers,
/// empty for the broker and the Lightning node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account {
    /// Whose account it is.
    pub kind: AccountKind,
    /// Tenant id, provider name, or empty (see the type's doc).
    pub id: String,
}

/// Side of a posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Money leaves the account (the Lightning account, for a payment).
    Debit,
    /// Money is added to the account (owner, providers, broker).
    Credit,
}

/// One line of a ledger entry; `amount_msat` is always > 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account the line books to.
    pub account: Account,
    /// Which column it adds to.
    pub direction: Direction,
    /// The amount, msat.
    pub amount_msat: u64,
}

impl Split {
    /// The balanced postings: debit LIGHTNING, credit each non-zero part
    /// (owner, providers by name, broker). Debits equal credits.
    pub fn postings(&self) -> Vec<Posting> {
        let mut out = Vec::with_capacity(self.providers.len() + 3);
        out.push(Posting {
            account: Account {
                kind: AccountKind::Lightning,
                id: String::new(),
            },
            direction: Direction::Debit,
            amount_msat: self.amount_msat,
        });
        let credit = |kind, id: &str, amount_msat| Posting {
            account: Account {
                kind,
                id: id.to_string(),
            },
            direction: Direction::Credit,
            amount_msat,
        };
        if self.owner_msat > 0 {
            out.push(credit(AccountKind::Owner, &self.owner, self.owner_msat));
        }
        for (name, part) in &self.providers {
            if *part > 0 {
                out.push(credit(AccountKind::Provider, name, *part));
            }
        }
        if self.broker_msat > 0 {
            out.push(credit(AccountKind::Broker, "", self.broker_msat));
        }
        out
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
