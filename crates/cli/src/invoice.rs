//! `shardgate invoice`, `pay` and `payment-status`: buying a download in
//! separate steps (any wallet can pay in between).

use anyhow::bail;
use shardgate_client::{Invoice, Payer, PaymentPolicy, parse_payment_hash, pb};

use crate::arg_values::parse_range;
use crate::args::{InvoiceArgs, PayArgs, PaymentStatusArgs};
use crate::clients;
use crate::human;
use crate::paying::{self, fee_text};

/// `shardgate invoice`: Payments.CreateInvoice.
pub(crate) async fn create(args: InvoiceArgs) -> anyhow::Result<()> {
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let invoice = clients::tenant(&args.conn)
        .await?
        .create_invoice(pb::CreateInvoiceRequest {
            blob_id: args.blob_id,
            range,
            hold: args.hold,
            uses: args.uses.unwrap_or(0),
        })
        .await?;
    let range = invoice.range.unwrap_or_default();
    println!("payment_request  {}", invoice.payment_request);
    println!("payment_hash     {}", invoice.payment_hash);
    println!("amount           {}", human::msat(invoice.amount_msat));
    println!(
        "covers           blob {} bytes {}..{} ({}), {} download(s){}",
        invoice.blob_id,
        range.offset,
        range.offset + range.length,
        human::size(range.length),
        invoice.uses,
        if invoice.hold { ", hold invoice" } else { "" }
    );
    println!(
        "expires          {} (pay before); credential valid until {}",
        human::timestamp(invoice.expires_at.as_ref()),
        human::timestamp(invoice.credential_expires_at.as_ref())
    );
    println!("l402_token       {}", invoice.l402_token);
    let next = if invoice.hold {
        "once ACCEPTED (shardgate payment-status), download with --l402 <l402_token>: (empty preimage)"
    } else {
        "download with --l402 <l402_token>:<preimage hex>"
    };
    eprintln!("Pay the payment_request with any wallet (or `shardgate pay`), then {next}.");
    Ok(())
}

/// `shardgate pay`: pays from the caller's LND node.
pub(crate) async fn pay(args: PayArgs) -> anyhow::Result<()> {
    let invoice = Invoice::decode(&args.payment_request)?;
    let Some(payer) = paying::payer(&args.payer).await? else {
        bail!(
            "paying needs your LND node: --lnd-endpoint, --lnd-tls-cert and --lnd-macaroon (or SHARDGATE_PAYER_LND_*)"
        );
    };
    // The same cap and expiry rules as a download's payment.
    let max_price_msat = args.payer.max_price_msat;
    PaymentPolicy::pay_with(payer.clone(), max_price_msat)
        .check(&invoice)
        .map_err(|e| paying::explain(e, max_price_msat))?;
    eprintln!(
        "paying {} (payment hash {})",
        human::msat(invoice.amount_msat),
        invoice.payment_hash
    );
    let paid = payer.pay(&invoice).await?;
    if paid.preimage.payment_hash() != invoice.payment_hash {
        bail!("your LND node returned a preimage that does not match the invoice");
    }
    println!("preimage      {}", paid.preimage.to_hex());
    println!("payment_hash  {}", invoice.payment_hash);
    println!("amount        {}", human::msat(invoice.amount_msat));
    println!(
        "{}",
        fee_text(paid.fee_msat).replacen("fee ", "fee           ", 1)
    );
    println!("took          {}", human::seconds(paid.elapsed));
    Ok(())
}

/// `shardgate payment-status`: Payments.GetPaymentStatus.
pub(crate) async fn status(args: PaymentStatusArgs) -> anyhow::Result<()> {
    let hash = parse_payment_hash(&args.payment_hash)?;
    let s = clients::anonymous(&args.broker)
        .await?
        .payment_status(&hash.to_hex())
        .await?;
    println!("payment_hash  {}", s.payment_hash);
    println!(
        "state         {}{}",
        state_name(s.state),
        if s.hold { " (hold invoice)" } else { "" }
    );
    println!("amount        {}", human::msat(s.amount_msat));
    println!("paid          {}", human::msat(s.amount_paid_msat));
    println!("created       {}", human::timestamp(s.created_at.as_ref()));
    println!("expires       {}", human::timestamp(s.expires_at.as_ref()));
    if s.settled_at.is_some() {
        println!("settled       {}", human::timestamp(s.settled_at.as_ref()));
    }
    println!("uses          {} of {} left", s.uses_remaining, s.uses);
    if let Some(left) = s.hold_time_left {
        println!(
            "use within    {} s (then the hold payment is canceled)",
            left.seconds
        );
    }
    Ok(())
}

/// `OPEN`, `ACCEPTED`, … as the proto spells them.
pub(crate) fn state_name(state: i32) -> &'static str {
    match pb::InvoiceState::try_from(state) {
        Ok(pb::InvoiceState::Open) => "OPEN",
        Ok(pb::InvoiceState::Accepted) => "ACCEPTED",
        Ok(pb::InvoiceState::Settled) => "SETTLED",
        Ok(pb::InvoiceState::Canceled) => "CANCELED",
        Ok(pb::InvoiceState::Expired) => "EXPIRED",
        Ok(pb::InvoiceState::Unspecified) | Err(_) => "UNKNOWN",
    }
}
