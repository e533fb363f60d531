//! Opening a download, paying for it when the broker asks.
//!
//! A Get without a credential on a priced blob fails with an L402 challenge
//! (storage.proto, "Paying for a download"). With a payer node this module
//! decodes the challenge's invoice, checks the amount against the cap, pays
//! it through LND, and opens the Get again with
//! `authorization: L402 <token>:<preimage>`. A hold invoice is paid in the
//! background: the payment is only ACCEPTED (locked) until the broker
//! settles it after the last byte, so the Get is opened with an empty
//! preimage as soon as the broker sees it ACCEPTED.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shardgate_payments::{PaymentHash, Preimage};
use shardgate_proto::auth_metadata::AUTHORIZATION;
use shardgate_proto::v1 as pb;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::Streaming;

use crate::challenge::{Challenge, RawChallenge, authorization};
use crate::connect::Tenant;
use crate::failure;
use crate::human;
use crate::payer::{Paid, Payer, fee_text};

/// Polls of GetPaymentStatus while a hold payment is on its way: at most
/// 600 × 100 ms = 60 s.
const ACCEPT_POLLS: u32 = 600;
const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long after the last byte the broker has to settle a hold invoice
/// before we stop waiting for the preimage (the data is already here).
const SETTLE_WAIT: Duration = Duration::from_secs(30);

/// How a download is paid for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Payment {
    /// An existing credential, `TOKEN:PREIMAGE` (`--l402`).
    pub credential: Option<String>,
    /// Pays challenges from this node.
    pub payer: Option<Payer>,
    /// Ask for a hold invoice.
    pub hold: bool,
    /// Downloads to buy with one invoice (0 = 1).
    pub uses: u32,
    /// Tell the user on stderr what is paid, as it happens.
    pub announce: bool,
}

/// What a download bought.
#[derive(Clone, Debug)]
pub(crate) struct Purchase {
    pub amount_msat: u64,
    pub payment_hash: PaymentHash,
    /// The L402 token; with the preimage it is the credential.
    pub token: String,
    /// Known at once for standard invoices, after settlement for hold ones.
    pub preimage: Option<Preimage>,
    pub fee_msat: Option<u64>,
    pub hold: bool,
}

impl Purchase {
    /// `TOKEN:PREIMAGE` for `--l402`, once the preimage is known.
    pub(crate) fn credential(&self) -> Option<String> {
        self.preimage
            .as_ref()
            .map(|p| format!("{}:{}", self.token, p.to_hex()))
    }
}

/// A Get whose header arrived.
pub(crate) struct Opened {
    pub stream: Streaming<pb::GetResponse>,
    pub header: pb::GetHeader,
    pub purchase: Option<Purchase>,
    /// A hold payment, final once the broker settles after delivery.
    settling: Option<JoinHandle<anyhow::Result<Paid>>>,
}

impl Opened {
    /// After the last byte: waits for a hold payment to settle and records
    /// its preimage. A no-op for other downloads.
    pub(crate) async fn finish(&mut self) -> anyhow::Result<()> {
        let Some(task) = self.settling.take() else {
            return Ok(());
        };
        let paid = tokio::time::timeout(SETTLE_WAIT, task)
            .await
            .context("the broker did not settle the hold invoice within 30 s of the download")?
            .context("the payment task failed")??;
        if let Some(p) = &mut self.purchase {
            p.preimage = Some(paid.preimage);
            p.fee_msat = paid.fee_msat;
        }
        Ok(())
    }
}

/// Opens `request`, paying the broker's challenge if `payment` allows.
pub(crate) async fn open(
    tenant: &mut Tenant,
    mut request: pb::GetRequest,
    payment: &Payment,
) -> anyhow::Result<Opened> {
    request.hold_invoice = payment.hold;
    request.uses = payment.uses;
    let given = payment
        .credential
        .as_ref()
        .map(|c| format!("L402 {}", c.trim()));
    let status = match start(tenant, &request, given.as_deref()).await {
        Ok((stream, header)) => {
            return Ok(Opened {
                stream,
                header,
                purchase: None,
                settling: None,
            });
        }
        Err(status) => status,
    };
    let Some(raw) = RawChallenge::of(&status) else {
        return Err(failure::status(status));
    };
    let payer = match &payment.payer {
        Some(payer) if payment.credential.is_none() => payer,
        _ => return Err(unpaid(&status, &raw, payment.credential.is_some())),
    };
    let challenge = raw.decode()?;
    payer.check(&challenge.invoice)?;
    if payment.announce {
        eprintln!(
            "payment required: {} (invoice {}); paying from your LND node",
            human::msat(challenge.invoice.amount_msat),
            challenge.invoice.short()
        );
    }
    if payment.hold {
        return open_hold(tenant, &request, payer, challenge, payment.announce).await;
    }
    let paid = payer.pay(&challenge.invoice).await?;
    if payment.announce {
        eprintln!(
            "paid in {}, {}, preimage {}",
            human::millis(paid.elapsed),
            fee_text(paid.fee_msat),
            paid.preimage.to_hex()
        );
    }
    let auth = authorization(&challenge.token, Some(&paid.preimage));
    let (stream, header) = start(tenant, &request, Some(&auth))
        .await
        .map_err(|s| paid_but_refused(s, &challenge, Some(&paid.preimage)))?;
    Ok(Opened {
        stream,
        header,
        purchase: Some(Purchase {
            amount_msat: challenge.invoice.amount_msat,
            payment_hash: challenge.invoice.payment_hash,
            token: challenge.token,
            preimage: Some(paid.preimage),
            fee_msat: paid.fee_msat,
            hold: false,
        }),
        settling: None,
    })
}

/// Pays a hold invoice in the background, waits until the broker sees it
/// ACCEPTED, then opens the Get with the empty preimage.
async fn open_hold(
    tenant: &mut Tenant,
    request: &pb::GetRequest,
    payer: &Payer,
    challenge: Challenge,
    announce: bool,
) -> anyhow::Result<Opened> {
    let task = tokio::spawn({
        let payer = payer.clone();
        let invoice = challenge.invoice.clone();
        async move { payer.pay(&invoice).await }
    });
    let started = Instant::now();
    let hash = challenge.invoice.payment_hash;
    let mut polls = 0;
    loop {
        if task.is_finished() {
            // A hold payment cannot complete before delivery: it failed.
            return match task.await.context("the payment task failed")? {
                Err(e) => Err(e),
                Ok(_) => bail!("the hold invoice was settled before any download"),
            };
        }
        let state = tenant
            .payments
            .get_payment_status(pb::GetPaymentStatusRequest {
                payment_hash: hash.to_hex(),
            })
            .await
            .map_err(failure::status)?
            .into_inner()
            .state;
        if state == pb::InvoiceState::Accepted as i32 {
            break;
        }
        if state != pb::InvoiceState::Open as i32 {
            bail!(
                "the hold invoice is {} instead of ACCEPTED",
                crate::invoice::state_name(state)
            );
        }
        polls += 1;
        if polls >= ACCEPT_POLLS {
            task.abort();
            bail!("the hold payment was not ACCEPTED by the broker's node within 60 s");
        }
        tokio::time::sleep(ACCEPT_POLL_INTERVAL).await;
    }
    if announce {
        eprintln!(
            "hold payment locked (ACCEPTED) in {}; it settles when the download completes",
            human::seconds(started.elapsed())
        );
    }
    let auth = authorization(&challenge.token, None);
    let (stream, header) = start(tenant, request, Some(&auth))
        .await
        .map_err(|s| paid_but_refused(s, &challenge, None))?;
    Ok(Opened {
        stream,
        header,
        purchase: Some(Purchase {
            amount_msat: challenge.invoice.amount_msat,
            payment_hash: hash,
            token: challenge.token,
            preimage: None,
            fee_msat: None,
            hold: true,
        }),
        settling: Some(task),
    })
}

/// Sends the Get and reads its header; a refusal may come as the call's
/// status or as the stream's first item.
async fn start(
    tenant: &mut Tenant,
    request: &pb::GetRequest,
    authorization: Option<&str>,
) -> Result<(Streaming<pb::GetResponse>, pb::GetHeader), Status> {
    let mut call = tenant.request(request.clone());
    if let Some(value) = authorization {
        let value = value
            .parse()
            .map_err(|_| Status::invalid_argument("the L402 credential must be printable ASCII"))?;
        call.metadata_mut().insert(AUTHORIZATION, value);
    }
    let mut stream = tenant.storage.get(call).await?.into_inner();
    match stream.message().await? {
        Some(pb::GetResponse {
            frame: Some(pb::get_response::Frame::Header(header)),
        }) => Ok((stream, header)),
        _ => Err(Status::internal(
            "the broker did not start the download with a header",
        )),
    }
}

/// The one-line reason a download was not paid, and how to pay it.
fn unpaid(status: &Status, raw: &RawChallenge, had_credential: bool) -> anyhow::Error {
    let amount = raw
        .decode()
        .map(|c| format!(" ({})", human::msat(c.invoice.amount_msat)))
        .unwrap_or_default();
    let reason = if had_credential {
        format!("the credential was refused: {}", status.message().trim())
    } else {
        format!("payment required: {}", status.message().trim())
    };
    anyhow::anyhow!(
        "{reason}; pay from your LND node with --lnd-endpoint, --lnd-tls-cert and --lnd-macaroon, or pay the invoice {}{amount} with any wallet and retry with --l402 {}:<preimage hex> ({})",
        raw.invoice,
        raw.token,
        failure::code_name(status.code())
    )
}

/// The broker refused a Get after we paid: the credential is still worth
/// keeping, so the error shows it.
fn paid_but_refused(status: Status, c: &Challenge, preimage: Option<&Preimage>) -> anyhow::Error {
    let credential = match preimage {
        Some(p) => format!("--l402 {}:{}", c.token, p.to_hex()),
        None => format!("--l402 {}: (hold invoice, empty preimage)", c.token),
    };
    anyhow::anyhow!(
        "paid {} (payment hash {}) but the download was refused: {}; retry with {credential}",
        human::msat(c.invoice.amount_msat),
        c.invoice.payment_hash,
        failure::status(status)
    )
}

#[cfg(test)]
mod tests {
    use shardgate_proto::auth_metadata::WWW_AUTHENTICATE;

    use super::*;

    #[test]
    fn an_unpaid_challenge_says_how_to_pay() {
        let mut status = Status::unauthenticated("blob costs 1 sat");
        status.metadata_mut().insert(
            WWW_AUTHENTICATE,
            "L402 macaroon=\"AgEDbG5k\", invoice=\"lnbcrt10n1xyz\""
                .parse()
                .expect("ascii"),
        );
        let raw = RawChallenge::of(&status).expect("challenge");
        let text = unpaid(&status, &raw, false).to_string();
        assert!(
            text.starts_with("payment required: blob costs 1 sat;"),
            "{text}"
        );
        assert!(text.contains("--lnd-endpoint"), "{text}");
        assert!(text.contains("lnbcrt10n1xyz"), "{text}");
        assert!(text.contains("--l402 AgEDbG5k:"), "{text}");
        assert!(text.ends_with("(UNAUTHENTICATED)"), "{text}");
        let text = unpaid(&status, &raw, true).to_string();
        assert!(
            text.starts_with("the credential was refused: blob costs"),
            "{text}"
        );
    }
}
