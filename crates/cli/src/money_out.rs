//! `shardgate withdraw` and `shardgate credit`: money leaving a balance
//! for a Lightning invoice, and prepaid credit bought once for many
//! downloads (Payments.Withdraw/GetPayout, BuyCredit/GetCreditBalance).

use std::time::Duration;

use anyhow::{Context, bail};
use shardgate_client::{Invoice, Payer, pb};

use crate::args::{
    CreditBalanceArgs, CreditBuyArgs, CreditCommand, PayoutAddressArgs, WithdrawArgs,
};
use crate::{clients, human, ledger, paying};

/// How long `withdraw` follows a payout the broker answered IN_FLIGHT.
const FOLLOW: Duration = Duration::from_secs(120);

/// `shardgate withdraw`.
pub(crate) async fn withdraw(args: WithdrawArgs) -> anyhow::Result<()> {
    let client = clients::accountant(&args.conn).await?;
    let invoice = match (&args.invoice, args.amount_msat) {
        (Some(invoice), _) => invoice.clone(),
        (None, Some(amount)) => {
            let Some(node) = paying::payer(&args.payer).await? else {
                bail!(
                    "--amount-msat needs your node: --lnd-endpoint, --lnd-tls-cert, --lnd-macaroon"
                );
            };
            node.receive_invoice(amount, "shardgate withdrawal")
                .await
                .context("creating the invoice to be paid on your node")?
        }
        (None, None) => {
            bail!("give --invoice BOLT11, or --amount-msat with your node's --lnd-* flags")
        }
    };
    let mut payout = client.withdraw(&invoice, args.account.clone()).await?;
    if payout.state() == pb::PayoutState::InFlight {
        eprintln!("payout {} in flight; following it", payout.payment_hash);
        payout = client.wait_payout(&payout.payment_hash, FOLLOW).await?;
    }
    print_payout(&payout);
    match payout.state() {
        pb::PayoutState::Succeeded => Ok(()),
        pb::PayoutState::Failed => bail!(
            "payout failed ({}); the amount is back in the account: run withdraw again with the same invoice, or a new one",
            payout.failure_reason
        ),
        _ => bail!(
            "payout {} still in flight; check it later with the same command",
            payout.payment_hash
        ),
    }
}

fn print_payout(p: &pb::Payout) {
    let state = match p.state() {
        pb::PayoutState::InFlight => "in flight",
        pb::PayoutState::Succeeded => "succeeded",
        pb::PayoutState::Failed => "failed",
        pb::PayoutState::Unspecified => "?",
    };
    println!("payout           {}", p.payment_hash);
    println!(
        "from             {}",
        ledger::account_name(p.account.as_ref(), ledger::Ids::Full)
    );
    println!("amount           {}", human::msat(p.amount_msat));
    println!("fee reserve      {}", human::msat(p.fee_reserve_msat));
    println!("state            {state} (attempt {})", p.attempt);
    if p.state() == pb::PayoutState::Succeeded {
        println!("routing fee      {}", human::msat(p.fee_msat));
        println!("preimage         {}", p.preimage);
    }
    if !p.failure_reason.is_empty() {
        println!("failure          {}", p.failure_reason);
    }
}

/// `shardgate credit …`.
pub(crate) async fn credit(command: CreditCommand) -> anyhow::Result<()> {
    match command {
        CreditCommand::Buy(args) => buy(args).await,
        CreditCommand::Balance(args) => balance(args).await,
    }
}

async fn buy(args: CreditBuyArgs) -> anyhow::Result<()> {
    let client = clients::anonymous(&args.broker).await?;
    let sold = client.buy_credit(args.amount_msat).await?;
    println!("payment_request  {}", sold.payment_request);
    println!("payment_hash     {}", sold.payment_hash);
    println!("amount           {}", human::msat(sold.amount_msat));
    let Some(node) = paying::payer(&args.payer).await? else {
        println!("l402_token       {}", sold.l402_token);
        eprintln!(
            "pay the invoice, then use `--credit {}:<preimage>` with get",
            human::shorten(&sold.l402_token, 16)
        );
        return Ok(());
    };
    let invoice = Invoice::decode(&sold.payment_request)?;
    if invoice.amount_msat != args.amount_msat || invoice.payment_hash.to_hex() != sold.payment_hash
    {
        bail!("the broker's invoice does not ask what was bought; not paying it");
    }
    if invoice.amount_msat > args.payer.max_price_msat {
        bail!(
            "the credit costs {}, above --max-price-msat {}",
            human::msat(invoice.amount_msat),
            human::msat(args.payer.max_price_msat)
        );
    }
    let paid = node.pay(&invoice).await?;
    println!(
        "credential       {}:{}",
        sold.l402_token,
        paid.preimage.to_hex()
    );
    eprintln!("paid; download with `shardgate get BLOB --credit <credential>` (keep it secret)");
    Ok(())
}

async fn balance(args: CreditBalanceArgs) -> anyhow::Result<()> {
    let client = clients::anonymous(&args.broker).await?;
    let b = client.credit_balance(&args.credit).await?;
    println!("credit           {}", b.payment_hash);
    println!("purchased        {}", human::msat(b.purchased_msat));
    println!("balance          {}", human::msat(b.balance_msat));
    println!(
        "valid until      {}",
        human::timestamp(b.credential_expires_at.as_ref())
    );
    Ok(())
}

/// `shardgate payout-address`.
pub(crate) async fn payout_address(args: PayoutAddressArgs) -> anyhow::Result<()> {
    let client = clients::accountant(&args.conn).await?;
    let order = match (&args.set, args.remove) {
        (Some(address), _) => {
            let threshold = args.threshold_msat.unwrap_or_default();
            client
                .set_payout_address(address, threshold, args.account.clone())
                .await?
        }
        (None, true) => {
            client
                .set_payout_address("", 0, args.account.clone())
                .await?;
            println!("payout address removed");
            return Ok(());
        }
        (None, false) => client.payout_address(args.account.clone()).await?,
    };
    println!(
        "account          {}",
        ledger::account_name(order.account.as_ref(), ledger::Ids::Full)
    );
    println!("address          {}", order.lightning_address);
    println!("threshold        {}", human::msat(order.threshold_msat));
    if order.failures > 0 {
        println!(
            "failures         {} (next try {})",
            order.failures,
            human::timestamp(order.next_attempt_at.as_ref())
        );
        println!("last error       {}", order.last_error);
    }
    Ok(())
}
