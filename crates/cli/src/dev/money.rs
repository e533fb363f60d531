//! The money step of dev mode, after the paid download: prepaid credit
//! (one Lightning payment, then downloads paid from the balance with no
//! payment each, until it runs out) and a withdrawal of the owner's
//! earnings to the wallet node. Every figure is an answer of the broker or
//! of an LND node.

use anyhow::{Context, bail};
use shardgate_client::{Client, ErrorKind, GetOptions, PaymentPolicy, pb};

use super::lightning::DevLightning;
use crate::human;

/// Downloads the credit is bought for.
const CREDIT_DOWNLOADS: u64 = 2;

/// The whole step; prints as it goes.
pub(super) async fn credit_and_withdrawal(
    tenant: &Client,
    lightning: &DevLightning,
    blob_id: &str,
    original: &[u8],
) -> anyhow::Result<()> {
    // The broker's price for one download of the blob, as it would invoice it.
    let price = tenant
        .create_invoice(pb::CreateInvoiceRequest {
            blob_id: blob_id.to_owned(),
            ..Default::default()
        })
        .await?
        .amount_msat;
    let credit = tenant
        .buy_credit_paid(CREDIT_DOWNLOADS * price, &lightning.wallet)
        .await
        .context("buying prepaid credit")?;
    println!(
        "  credit      bought {} for {CREDIT_DOWNLOADS} downloads (Payments.BuyCredit, one invoice paid by the wallet)",
        human::msat(credit.invoice.amount_msat)
    );
    for n in 1..=CREDIT_DOWNLOADS {
        let mut got = Vec::with_capacity(original.len());
        let options = GetOptions {
            payment: PaymentPolicy::none().credential(&credit.credential),
            ..GetOptions::default()
        };
        tenant
            .get(blob_id, &options)
            .await?
            .write_to(&mut got)
            .await
            .context("a download on credit")?;
        if got != original {
            bail!("the download on credit differs from the uploaded file");
        }
        let left = tenant
            .credit_balance(&credit.credential)
            .await?
            .balance_msat;
        println!(
            "  credit get  #{n}: bytes identical, no Lightning payment; {} left",
            human::msat(left)
        );
    }
    let options = GetOptions {
        payment: PaymentPolicy::none().credential(&credit.credential),
        ..GetOptions::default()
    };
    match tenant.get(blob_id, &options).await {
        Err(e) if e.kind() == ErrorKind::Unpaid => {
            let reason = e.message().split(": pay").next().unwrap_or(e.message());
            println!("  credit get  #{}: refused, {reason}", CREDIT_DOWNLOADS + 1);
        }
        Ok(_) => bail!("the broker served a download the credit no longer covers"),
        Err(e) => return Err(anyhow::Error::new(e).context("the download past the credit")),
    }

    // The owner's account (dev mode's client also holds the admin key, so
    // it names the account it pays out of).
    let owner = tenant
        .earnings(pb::AccountKind::Owner)
        .await?
        .balances
        .into_iter()
        .next()
        .context("the owner has no earnings to withdraw")?;
    let earned = owner.balance_msat;
    let amount = earned / 2;
    let invoice = lightning
        .wallet
        .receive_invoice(amount, "shardgate dev withdrawal")
        .await?;
    let before = lightning.wallet.balance_msat().await?;
    let payout = tenant.withdraw(&invoice, owner.account.clone()).await?;
    if payout.state() != pb::PayoutState::Succeeded {
        bail!("the withdrawal did not succeed: {payout:?}");
    }
    let after = lightning.wallet.balance_msat().await?;
    let left = tenant
        .earnings(pb::AccountKind::Owner)
        .await?
        .balances
        .first()
        .map_or(0, |b| b.balance_msat);
    println!(
        "  withdraw    owner earnings {} → paid {} to an invoice of the wallet node (Payments.Withdraw), routing fee {}",
        human::msat(earned),
        human::msat(payout.amount_msat),
        human::msat(payout.fee_msat)
    );
    println!(
        "              wallet balance {} sat → {} sat; owner balance now {}",
        human::sat(before),
        human::sat(after),
        human::msat(left)
    );
    Ok(())
}
