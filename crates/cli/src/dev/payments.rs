//! The payment step of dev mode: what the broker does with a priced blob.
//!
//! Paid downloads need the broker's Lightning payment gate (L402 over
//! `shardgate-payments`). When it is wired, dev mode will start two
//! `shardgate_lnd_sim` nodes here — one for the broker, one funded payer —
//! pay the challenge invoice and download with the credential. Until then
//! this step only observes the broker's answer and reports it as it is: a
//! priced blob is refused, never served free, and no payment is faked.

use std::path::Path;

use anyhow::bail;
use shardgate_proto::v1 as pb;
use tonic::Code;

use super::round_trip::header;
use crate::connect::Tenant;
use crate::failure;
use crate::upload::upload;

/// Flat price of the probe blob, msat (1 sat).
const PROBE_PRICE_MSAT: u64 = 1_000;
/// Size of the probe blob.
const PROBE_BYTES: usize = 64 * 1024;

/// What the broker answered to an unpaid download of a priced blob.
pub enum PaymentState {
    /// No payment gate: priced blobs are refused (FreeOnly).
    NotWired { message: String },
    /// The broker issued an L402 challenge; dev mode has no payer yet.
    Challenge { message: String },
}

/// Uploads a small priced blob, asks for it without paying, deletes it.
pub async fn probe(tenant: &mut Tenant, work: &Path) -> anyhow::Result<PaymentState> {
    let path = work.join("priced-probe.bin");
    let data: Vec<u8> = (0..PROBE_BYTES).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data)?;
    let mut head = header("priced-probe.bin");
    head.price = Some(pb::Price {
        flat_msat: PROBE_PRICE_MSAT,
        per_mib_msat: 0,
    });
    let blob_id = upload(tenant, head, &path).await?.response.blob_id;
    let request = tenant.request(pb::GetRequest {
        blob_id: blob_id.clone(),
        ..Default::default()
    });
    // The refusal may come as the call's status or as the first stream item.
    let refusal = match tenant.storage.get(request).await {
        Ok(mut stream) => stream.get_mut().message().await.err(),
        Err(status) => Some(status),
    };
    let request = tenant.keyed(pb::DeleteBlobRequest {
        blob_id: blob_id.clone(),
    })?;
    tenant
        .storage
        .delete(request)
        .await
        .map_err(failure::status)?;
    let Some(status) = refusal else {
        bail!("the broker served a priced blob without payment");
    };
    let message = format!(
        "{} ({})",
        status.message(),
        failure::code_name(status.code())
    );
    match status.code() {
        Code::FailedPrecondition => Ok(PaymentState::NotWired { message }),
        Code::Unauthenticated if status.metadata().get("www-authenticate").is_some() => {
            Ok(PaymentState::Challenge { message })
        }
        _ => Err(failure::status(status)),
    }
}

/// Prints the payment state for people.
pub fn print(state: &PaymentState) {
    match state {
        PaymentState::NotWired { message } => {
            println!("  a blob priced at {PROBE_PRICE_MSAT} msat was refused without payment:");
            println!("    {message}");
            println!("  downloads in dev mode are free-tier (price 0): the broker's Lightning");
            println!("  payment gate is not wired yet, so paid downloads (L402 invoice paid by a");
            println!("  simulated LND payer) are pending. No payment was made or faked.");
        }
        PaymentState::Challenge { message } => {
            println!("  a blob priced at {PROBE_PRICE_MSAT} msat answered with an L402 challenge:");
            println!("    {message}");
            println!("  dev mode does not run a paying Lightning node yet: the paid round trip");
            println!("  is pending. Downloads above were free-tier (price 0); nothing was paid.");
        }
    }
}
