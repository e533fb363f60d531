//! `shardgate earnings` and `shardgate ledger`: where the money went
//! (Payments.GetEarnings, Payments.ListLedgerEntries).

use shardgate_client::pb;

use crate::args::{EarningsArgs, LedgerArgs};
use crate::clients;
use crate::human;

/// Largest page the API honours.
const MAX_PAGE: u64 = 1000;

/// `shardgate earnings`.
pub(crate) async fn earnings(args: EarningsArgs) -> anyhow::Result<()> {
    let kind = args
        .kind
        .and_then(|k| pb::AccountKind::try_from(k).ok())
        .unwrap_or(pb::AccountKind::Unspecified);
    let r = clients::accountant(&args.conn)
        .await?
        .earnings(kind)
        .await?;
    print_balances(&r.balances, "", Ids::Full);
    println!("as of {}", human::timestamp(r.as_of.as_ref()));
    Ok(())
}

/// One row per account, each line starting with `indent`: account,
/// balance, credited and debited msat.
pub(crate) fn print_balances(balances: &[pb::AccountBalance], indent: &str, ids: Ids) {
    if balances.is_empty() {
        println!("{indent}no ledger postings yet");
        return;
    }
    let column = AccountColumn::fit(balances.iter().map(|b| b.account.as_ref()), ids);
    println!(
        "{indent}  {:<width$} {:>26}  {:>14} {:>14}",
        "account",
        "balance",
        "credited msat",
        "debited msat",
        width = column.width
    );
    for b in balances {
        println!(
            "{indent}  {} {:>26}  {:>14} {:>14}",
            column.label(b.account.as_ref()),
            human::msat(b.balance_msat),
            b.credited_msat,
            b.debited_msat
        );
    }
}

/// `shardgate ledger`: every page, or until `--limit` entries.
pub(crate) async fn ledger(args: LedgerArgs) -> anyhow::Result<()> {
    let acc = clients::accountant(&args.conn).await?;
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut page_token = String::new();
    while printed < limit {
        let page = acc
            .ledger(pb::ListLedgerEntriesRequest {
                page_size: (limit - printed).min(MAX_PAGE) as u32,
                page_token: page_token.clone(),
                account: args.account.clone(),
                since: args.since,
                until: args.until,
            })
            .await?;
        for entry in page.entries.iter().take((limit - printed) as usize) {
            print_entry(entry);
            printed += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if printed == 0 {
        eprintln!("no ledger entries");
    }
    Ok(())
}

/// An entry: its id, time, kind and blob, then one line per posting.
pub(crate) fn print_entry(entry: &pb::LedgerEntry) {
    let kind = match entry.kind() {
        pb::LedgerEntryKind::Download | pb::LedgerEntryKind::Unspecified => "download",
        pb::LedgerEntryKind::CreditPurchase => "credit purchase",
        pb::LedgerEntryKind::CreditReserved => "credit reserved",
        pb::LedgerEntryKind::CreditDownload => "credit download",
        pb::LedgerEntryKind::CreditReleased => "credit released",
        pb::LedgerEntryKind::PayoutStarted => "payout started",
        pb::LedgerEntryKind::PayoutSucceeded => "payout succeeded",
        pb::LedgerEntryKind::PayoutFailed => "payout failed",
    };
    let blob = if entry.blob_id.is_empty() {
        String::new()
    } else {
        format!("  blob {}", entry.blob_id)
    };
    println!(
        "{}  {}  {kind}{blob}",
        entry.entry_id,
        human::timestamp(entry.settled_at.as_ref())
    );
    let column = AccountColumn::fit(entry.postings.iter().map(|p| p.account.as_ref()), Ids::Full);
    for p in &entry.postings {
        println!("  {}", posting_line(p, &column));
    }
}

/// How account ids are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ids {
    /// Whole, so they can be pasted into `--account` (the commands).
    Full,
    /// First 12 and last 4 characters (dev mode's narrative).
    #[cfg_attr(
        not(feature = "dev"),
        expect(dead_code, reason = "only dev mode shortens ids")
    )]
    Short,
}

/// The account column of a table: wide enough for every row.
pub(crate) struct AccountColumn {
    pub width: usize,
    ids: Ids,
}

/// Narrowest account column: `provider cloud-a` and the header fit.
const MIN_ACCOUNT_WIDTH: usize = 20;

impl AccountColumn {
    pub(crate) fn fit<'a>(
        accounts: impl Iterator<Item = Option<&'a pb::Account>>,
        ids: Ids,
    ) -> Self {
        let width = accounts
            .map(|a| account_name(a, ids).chars().count())
            .max()
            .unwrap_or(0)
            .max(MIN_ACCOUNT_WIDTH);
        AccountColumn { width, ids }
    }

    /// The account's name padded to the column.
    pub(crate) fn label(&self, account: Option<&pb::Account>) -> String {
        format!(
            "{:<width$}",
            account_name(account, self.ids),
            width = self.width
        )
    }
}

/// `credit  owner <tenant id>   17,500 msat (17.5 sat)`.
pub(crate) fn posting_line(p: &pb::Posting, column: &AccountColumn) -> String {
    let side = match pb::PostingDirection::try_from(p.direction) {
        Ok(pb::PostingDirection::Debit) => "debit ",
        Ok(pb::PostingDirection::Credit) => "credit",
        _ => "?     ",
    };
    format!(
        "{side}  {} {:>26}",
        column.label(p.account.as_ref()),
        human::msat(p.amount_msat)
    )
}

/// `owner <tenant id>`, `provider cloud-a`, `broker`, `lightning`.
pub(crate) fn account_name(account: Option<&pb::Account>, ids: Ids) -> String {
    let Some(a) = account else {
        return "-".to_owned();
    };
    let kind = match pb::AccountKind::try_from(a.kind) {
        Ok(pb::AccountKind::Owner) => "owner",
        Ok(pb::AccountKind::Provider) => "provider",
        Ok(pb::AccountKind::Broker) => "broker",
        Ok(pb::AccountKind::Lightning) => "lightning",
        Ok(pb::AccountKind::Payouts) => "payouts",
        Ok(pb::AccountKind::Credit) => "credit",
        Ok(pb::AccountKind::CreditHeld) => "credit-held",
        _ => "unknown",
    };
    match (a.id.is_empty(), ids) {
        (true, _) => kind.to_owned(),
        (false, Ids::Full) => format!("{kind} {}", a.id),
        (false, Ids::Short) => format!("{kind} {}", human::shorten(&a.id, 12)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_read_as_lines() {
        let p = pb::Posting {
            account: Some(pb::Account {
                kind: pb::AccountKind::Provider as i32,
                id: "cloud-a".into(),
            }),
            direction: pb::PostingDirection::Credit as i32,
            amount_msat: 2_500,
        };
        let column = AccountColumn::fit(std::iter::once(p.account.as_ref()), Ids::Full);
        let line = posting_line(&p, &column);
        assert!(line.starts_with("credit  provider cloud-a"), "{line}");
        assert!(line.ends_with("2,500 msat (2.5 sat)"), "{line}");
    }
}
