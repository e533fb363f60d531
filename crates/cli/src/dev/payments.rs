//! The payment step of dev mode: a complete paid download over Lightning.
//!
//! A generated file is uploaded with a price. The unpaid Get is refused
//! with an L402 challenge; the wallet node pays the challenge's invoice
//! through LND's gRPC; the Get with `authorization: L402 <token>:<preimage>`
//! streams the bytes, which are compared with the original. Then the
//! invoice's state, the wallet's balance, the ledger entry of this payment
//! (owner / providers / broker) and every account's earnings are read back
//! from the broker, and the blob's shard placement shows which providers
//! served it. Nothing is faked: every figure is an answer of the broker or
//! of an LND node.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, bail};
use shardgate_client::{
    Challenge, Client, ClientError, Downloaded, ErrorKind, GetOptions, Invoice, Payer,
    PaymentPolicy, PutOptions, code_name, pb,
};

use super::lightning::DevLightning;
use super::round_trip::{generate, options};
use super::shards;
use crate::human;
use crate::invoice::state_name;
use crate::ledger::{AccountColumn, Ids, posting_line, print_balances};
use crate::paying::fee_text;
use crate::upload::upload;

/// The priced file: 2 MiB, so the per-MiB part of the price shows.
const PRICED_NAME: &str = "priced.bin";
const PRICED_BYTES: u64 = 2 << 20;
/// Its price: 2 sat per download plus 10 sat per MiB → 22 sat.
const FLAT_MSAT: u64 = 2_000;
const PER_MIB_MSAT: u64 = 10_000;

/// The whole step; prints as it goes.
pub(super) async fn paid_round_trip(
    tenant: &Client,
    accountant: &Client,
    lightning: &DevLightning,
    dir: &Path,
    work: &Path,
) -> anyhow::Result<(String, Vec<u8>)> {
    let path = work.join(PRICED_NAME);
    let original = generate(&path, PRICED_BYTES)?;
    let priced = PutOptions {
        price: Some(pb::Price {
            flat_msat: FLAT_MSAT,
            per_mib_msat: PER_MIB_MSAT,
        }),
        ..options(PRICED_NAME)
    };
    let blob_id = upload(tenant, priced, &path).await?.response.blob_id;
    println!(
        "  priced blob {PRICED_NAME}, {}, price {} sat per download + {} sat per MiB",
        human::size(PRICED_BYTES),
        human::sat(FLAT_MSAT),
        human::sat(PER_MIB_MSAT)
    );
    println!("              blob {blob_id}");

    let (refusal, challenge) = unpaid_get(tenant, &blob_id).await?;
    println!(
        "  unpaid get  {}: {}",
        refusal.code().map_or("-", code_name),
        refusal.message()
    );
    let hash = challenge.invoice.payment_hash.to_hex();
    println!(
        "  challenge   www-authenticate: L402 macaroon=\"{}\", invoice=\"{}\"",
        human::shorten(&challenge.token, 12),
        challenge.invoice.short()
    );
    println!(
        "              invoice for {}, payment hash {hash}",
        human::msat(challenge.invoice.amount_msat)
    );
    print_state(tenant, &hash).await?;

    let before = lightning.wallet.balance_msat().await?;
    let paid = lightning.wallet.pay(&challenge.invoice).await?;
    if paid.preimage.payment_hash() != challenge.invoice.payment_hash {
        bail!("the wallet node returned a preimage that does not match the invoice");
    }
    let after = lightning.wallet.balance_msat().await?;
    println!(
        "  pay         the wallet node paid through its LND gRPC (Router.SendPaymentV2) in {}, {}",
        human::millis(paid.elapsed),
        fee_text(paid.fee_msat)
    );
    println!("              preimage {}", paid.preimage.to_hex());
    println!(
        "              wallet balance {} sat → {} sat",
        human::sat(before),
        human::sat(after)
    );
    print_state(tenant, &hash).await?;

    let credential = format!("{}:{}", challenge.token, paid.preimage.to_hex());
    paid_get(tenant, &blob_id, &credential, &original).await?;
    reuse_refused(tenant, &blob_id, &credential).await?;

    let entry = split(accountant, &challenge).await?;
    println!("  earnings    every account (Payments.GetEarnings, admin key):");
    let earnings = accountant.earnings(pb::AccountKind::Unspecified).await?;
    print_balances(&earnings.balances, "  ", Ids::Short);

    println!("  shards      of {PRICED_NAME}, read from the provider directories:");
    let (manifest, placements) = shards::placements(tenant, dir, &blob_id).await?;
    shards::print_chunks(&manifest, &placements)?;
    served_by(&entry, &placements, manifest.params().k());
    Ok((blob_id, original))
}

/// Says whether the providers credited are those holding the data shards
/// (what a healthy download reads), from the two sources themselves.
fn served_by(entry: &pb::LedgerEntry, placements: &[shards::ChunkPlacement], k: usize) {
    let credited: BTreeSet<&str> = entry
        .postings
        .iter()
        .filter_map(|p| p.account.as_ref())
        .filter(|a| a.kind == pb::AccountKind::Provider as i32)
        .map(|a| a.id.as_str())
        .collect();
    let data_holders: BTreeSet<&str> = placements
        .iter()
        .flat_map(|c| c.shards.iter())
        .filter(|(index, _, _)| usize::from(*index) < k)
        .map(|(_, name, _)| *name)
        .collect();
    let names = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(", ");
    if credited == data_holders {
        println!(
            "              the download read the data shards, so the providers credited ({}) are the ones holding them",
            names(&credited)
        );
    } else {
        println!(
            "              providers credited: {}; holding data shards: {}",
            names(&credited),
            names(&data_holders)
        );
    }
}

/// A Get without credential: must be refused with a challenge, whose
/// invoice is decoded here (the wallet pays it below, step by step).
async fn unpaid_get(tenant: &Client, blob_id: &str) -> anyhow::Result<(ClientError, Challenge)> {
    let refusal = match tenant.get(blob_id, &GetOptions::default()).await {
        Ok(_) => bail!("the broker served a priced blob without payment"),
        Err(e) => e,
    };
    let Some((invoice, token)) = refusal.challenge() else {
        return Err(anyhow::Error::new(refusal).context("the unpaid download was not challenged"));
    };
    let challenge = Challenge {
        token: token.to_owned(),
        invoice: Invoice::decode(invoice)?,
    };
    Ok((refusal, challenge))
}

/// `invoice     OPEN, 0 msat paid` from Payments.GetPaymentStatus.
async fn print_state(tenant: &Client, hash: &str) -> anyhow::Result<()> {
    let s = tenant.payment_status(hash).await?;
    println!(
        "  invoice     {} (Payments.GetPaymentStatus): {} asked, {} paid",
        state_name(s.state),
        human::msat(s.amount_msat),
        human::msat(s.amount_paid_msat)
    );
    Ok(())
}

/// A whole download into memory with `credential`.
async fn get_with(
    tenant: &Client,
    blob_id: &str,
    credential: &str,
    into: &mut Vec<u8>,
) -> shardgate_client::Result<Downloaded> {
    let options = GetOptions {
        payment: PaymentPolicy::none().credential(credential),
        ..GetOptions::default()
    };
    tenant.get(blob_id, &options).await?.write_to(into).await
}

/// The paid Get: every byte compared with the original.
async fn paid_get(
    tenant: &Client,
    blob_id: &str,
    credential: &str,
    original: &[u8],
) -> anyhow::Result<()> {
    let mut got = Vec::with_capacity(original.len());
    let done = get_with(tenant, blob_id, credential, &mut got)
        .await
        .context("the paid download failed")?;
    if got != original || !done.hash_verified {
        bail!("the paid download differs from the uploaded file");
    }
    println!(
        "  paid get    {} in {} with authorization: L402 <token>:<preimage>",
        human::size(done.bytes),
        human::seconds(done.elapsed),
    );
    println!(
        "              bytes identical, BLAKE3 verified; {} use(s) left on the credential",
        done.uses_remaining
    );
    Ok(())
}

/// The same credential again: it bought one download, so it is refused.
async fn reuse_refused(tenant: &Client, blob_id: &str, credential: &str) -> anyhow::Result<()> {
    let mut sink = Vec::new();
    match get_with(tenant, blob_id, credential, &mut sink).await {
        Ok(_) => bail!("the broker served a second download on a single-use credential"),
        Err(e) if e.kind() == ErrorKind::Unpaid => {
            // The refusal's own reason, without the how-to-pay part.
            let reason = e.message();
            let reason = reason
                .strip_prefix("the credential was refused: ")
                .unwrap_or(reason);
            println!("  again       refused: {reason}");
        }
        Err(e) => return Err(anyhow::Error::new(e).context("the second download")),
    }
    Ok(())
}

/// This payment's ledger entry (Payments.ListLedgerEntries), printed one
/// line per posting: the split between owner, providers and broker.
async fn split(accountant: &Client, challenge: &Challenge) -> anyhow::Result<pb::LedgerEntry> {
    let hash = challenge.invoice.payment_hash.to_hex();
    let mut page_token = String::new();
    loop {
        let page = accountant
            .ledger(pb::ListLedgerEntriesRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await?;
        if let Some(entry) = page.entries.into_iter().find(|e| e.entry_id == hash) {
            println!(
                "  ledger      entry {}…, settled {}: the split of {}",
                &hash[..16],
                human::timestamp(entry.settled_at.as_ref()),
                human::msat(challenge.invoice.amount_msat)
            );
            let column = AccountColumn::fit(
                entry.postings.iter().map(|p| p.account.as_ref()),
                Ids::Short,
            );
            for posting in &entry.postings {
                println!("                {}", posting_line(posting, &column));
            }
            return Ok(entry);
        }
        if page.next_page_token.is_empty() {
            bail!("the ledger has no entry for payment {hash}");
        }
        page_token = page.next_page_token;
    }
}
