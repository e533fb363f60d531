//! Opening a download, paying for it when the broker asks.
//!
//! A Get (or GetShardLocations) without a credential on a priced blob fails with an L402 challenge
//! (storage.proto, "Paying for a download"). With a payer the SDK decodes
//! the challenge's invoice, checks the amount against the cap, pays it, and
//! opens the Get again with `authorization: L402 <token>:<preimage>`. A
//! hold invoice is paid in the background: the payment is only ACCEPTED
//! (locked) until the broker settles it after the last byte, so the Get is
//! opened with an empty preimage as soon as the broker sees it ACCEPTED.

use std::time::{Duration, Instant};

use shardgate_payments::{PaymentHash, Preimage};
use shardgate_proto::auth_metadata::AUTHORIZATION;
use shardgate_proto::v1 as pb;
use tokio::task::JoinHandle;
use tonic::Status;

use crate::broker_stream::{BrokerStream, GetMessage};
use crate::challenge::{Challenge, RawChallenge, authorization};
use crate::client::Client;
use crate::error::{ClientError, ErrorKind, Result};
use crate::get::e2e_opener;
use crate::payer::{Paid, PaymentEvent, PaymentPolicy};

/// Polls of GetPaymentStatus while a hold payment is on its way: at most
/// 600 × 100 ms = 60 s.
const ACCEPT_POLLS: u32 = 600;
const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long after the last byte the broker has to settle a hold invoice
/// before we stop waiting for the preimage (the data is already here).
const SETTLE_WAIT: Duration = Duration::from_secs(30);

/// What a download bought.
#[derive(Clone, Debug)]
pub struct Purchase {
    /// Amount of the invoice paid, msat.
    pub amount_msat: u64,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The L402 token; with the preimage it is the credential.
    pub token: String,
    /// Known at once for standard invoices, after settlement for hold ones.
    pub preimage: Option<Preimage>,
    /// Routing fee, when the payer knows it.
    pub fee_msat: Option<u64>,
    /// Paid with a hold invoice.
    pub hold: bool,
}

impl Purchase {
    /// `TOKEN:PREIMAGE`, to present again while uses remain
    /// ([`PaymentPolicy::credential`]), once the preimage is known.
    pub fn credential(&self) -> Option<String> {
        self.preimage
            .as_ref()
            .map(|p| format!("{}:{}", self.token, p.to_hex()))
    }
}

/// A call the broker answers only with a credential: `Storage.Get` or
/// `Storage.GetShardLocations`. Both are refused with the same L402
/// challenge and take the same `authorization` metadata, so one payment
/// loop ([`Client::open_paid`]) serves both.
pub(crate) trait PaidCall {
    /// What a call the broker accepted returns.
    type Response: Send;
    /// Whether the broker takes a hold-invoice credential for this call. It
    /// settles a hold invoice when it has handed out the last byte, which it
    /// sees for Get but not for a direct download.
    const TAKES_HOLD: bool;
    /// Sends the call with `authorization` (None: without a credential).
    fn send(
        &self,
        client: &Client,
        authorization: Option<&str>,
    ) -> impl Future<Output = std::result::Result<Self::Response, Status>> + Send;

    /// Run once the broker asked for payment, before anything is paid: a
    /// call whose answer the caller could not use is refused here, not
    /// after the invoice was paid.
    fn before_paying(&self, _client: &Client) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

/// What a paid call was paid with.
pub(crate) struct PaidFor {
    pub(crate) purchase: Option<Purchase>,
    /// A hold payment, final once the broker settles after delivery.
    settling: Option<JoinHandle<Result<Paid>>>,
}

impl PaidFor {
    fn nothing() -> PaidFor {
        PaidFor {
            purchase: None,
            settling: None,
        }
    }

    /// After the last byte: waits for a hold payment to settle and records
    /// its preimage. A no-op for other downloads.
    pub(crate) async fn finish(&mut self) -> Result<()> {
        let Some(task) = self.settling.take() else {
            return Ok(());
        };
        let paid = tokio::time::timeout(SETTLE_WAIT, task)
            .await
            .map_err(|_| {
                ClientError::payment(
                    "the broker did not settle the hold invoice within 30 s of the download",
                )
            })?
            .map_err(|e| ClientError::payment(format!("the payment task failed: {e}")))??;
        if let Some(p) = &mut self.purchase {
            p.preimage = Some(paid.preimage);
            p.fee_msat = paid.fee_msat;
        }
        Ok(())
    }
}

/// A paid call the broker accepted.
pub(crate) struct Opened<T> {
    pub(crate) response: T,
    pub(crate) paid: PaidFor,
}

/// `Storage.Get`, open once its header arrived.
pub(crate) struct GetCall {
    request: pb::GetRequest,
    /// Whether the caller holds a file key (an end-to-end download).
    with_key: bool,
}

/// A Get whose header arrived.
pub(crate) struct GetStream {
    pub(crate) stream: BrokerStream,
    pub(crate) header: pb::GetHeader,
}

impl PaidCall for GetCall {
    type Response = GetStream;
    const TAKES_HOLD: bool = true;

    /// Sends the Get and reads its header; a refusal may come as the
    /// call's status or as the stream's first item.
    async fn send(
        &self,
        client: &Client,
        authorization: Option<&str>,
    ) -> std::result::Result<GetStream, Status> {
        let call = client.authorized(self.request.clone(), authorization)?;
        let mut stream = BrokerStream::open(client.channel().clone(), call).await?;
        match stream.next().await? {
            Some(GetMessage::Header(header)) => Ok(GetStream {
                stream,
                header: *header,
            }),
            _ => Err(Status::internal(
                "the broker did not start the download with a header",
            )),
        }
    }

    /// Without a file key, an end-to-end blob could be paid for and never
    /// read: its key mode is asked first (Stat is free). A Stat that fails
    /// decides nothing; the Get itself gives the answer.
    async fn before_paying(&self, client: &Client) -> Result<()> {
        if self.with_key {
            return Ok(());
        }
        match client.stat(&self.request.blob_id).await {
            Ok(info) => {
                e2e_opener(
                    &self.request.blob_id,
                    None,
                    &pb::ServedRange::default(),
                    &info,
                )?;
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }
}

impl Client {
    /// Opens the Get `request`, paying the broker's challenge if `payment`
    /// allows; `with_key`: the caller holds the blob's file key.
    pub(crate) async fn open_get(
        &self,
        mut request: pb::GetRequest,
        payment: &PaymentPolicy,
        with_key: bool,
    ) -> Result<Opened<GetStream>> {
        request.hold_invoice = payment.hold;
        request.uses = payment.uses;
        self.open_paid(&GetCall { request, with_key }, payment)
            .await
    }

    /// Sends `call`; when the broker answers with an L402 challenge and
    /// `payment` allows, checks the invoice against the cap, pays it and
    /// sends the call again with the credential.
    pub(crate) async fn open_paid<C: PaidCall + Sync>(
        &self,
        call: &C,
        payment: &PaymentPolicy,
    ) -> Result<Opened<C::Response>> {
        if payment.hold && !C::TAKES_HOLD {
            return Err(ClientError::invalid(
                "hold invoices only pay for Storage.Get: the broker cannot see a direct download arrive, so it refuses hold credentials there",
            ));
        }
        let given = payment
            .credential
            .as_ref()
            .map(|c| format!("L402 {}", c.trim()));
        let status = match call.send(self, given.as_deref()).await {
            Ok(response) => {
                return Ok(Opened {
                    response,
                    paid: PaidFor::nothing(),
                });
            }
            Err(status) => status,
        };
        let Some(raw) = RawChallenge::of(&status) else {
            return Err(status.into());
        };
        let payer = match &payment.payer {
            Some(payer) if payment.credential.is_none() => payer,
            _ => return Err(unpaid(&status, raw, payment.credential.is_some())),
        };
        let challenge = raw.decode()?;
        payment.check(&challenge.invoice)?;
        call.before_paying(self).await?;
        payment.event(PaymentEvent::Paying {
            invoice: challenge.invoice.clone(),
        });
        if payment.hold {
            return self.open_hold(call, payment, challenge).await;
        }
        let paid = payment
            .pay_checked(payer.as_ref(), &challenge.invoice)
            .await?;
        let auth = authorization(&challenge.token, Some(&paid.preimage));
        let response = call
            .send(self, Some(&auth))
            .await
            .map_err(|s| paid_but_refused(s, &challenge, Some(&paid.preimage)))?;
        Ok(Opened {
            response,
            paid: PaidFor {
                purchase: Some(Purchase {
                    amount_msat: challenge.invoice.amount_msat,
                    payment_hash: challenge.invoice.payment_hash,
                    token: challenge.token,
                    preimage: Some(paid.preimage),
                    fee_msat: paid.fee_msat,
                    hold: false,
                }),
                settling: None,
            },
        })
    }

    /// Pays a hold invoice in the background, waits until the broker sees
    /// it ACCEPTED, then sends the call with the empty preimage.
    async fn open_hold<C: PaidCall + Sync>(
        &self,
        call: &C,
        payment: &PaymentPolicy,
        challenge: Challenge,
    ) -> Result<Opened<C::Response>> {
        let Some(payer) = payment.payer.clone() else {
            return Err(ClientError::payment("no payer for the hold invoice"));
        };
        let task = tokio::spawn({
            let invoice = challenge.invoice.clone();
            async move { payer.pay(&invoice).await }
        });
        let started = Instant::now();
        let hash = challenge.invoice.payment_hash;
        let mut polls = 0;
        loop {
            if task.is_finished() {
                // A hold payment cannot complete before delivery: it failed.
                let outcome = task
                    .await
                    .map_err(|e| ClientError::payment(format!("the payment task failed: {e}")))?;
                return match outcome {
                    Err(e) => Err(e),
                    Ok(_) => Err(ClientError::payment(
                        "the hold invoice was settled before any download",
                    )),
                };
            }
            let state = self
                .payments_stub()
                .get_payment_status(pb::GetPaymentStatusRequest {
                    payment_hash: hash.to_hex(),
                })
                .await?
                .into_inner()
                .state;
            if state == pb::InvoiceState::Accepted as i32 {
                break;
            }
            if state != pb::InvoiceState::Open as i32 {
                task.abort();
                let name = pb::InvoiceState::try_from(state).map_or("UNKNOWN", |s| s.as_str_name());
                return Err(ClientError::payment(format!(
                    "the hold invoice is {name} instead of ACCEPTED"
                )));
            }
            polls += 1;
            if polls >= ACCEPT_POLLS {
                task.abort();
                return Err(ClientError::payment(
                    "the hold payment was not ACCEPTED by the broker's node within 60 s",
                ));
            }
            tokio::time::sleep(ACCEPT_POLL_INTERVAL).await;
        }
        payment.event(PaymentEvent::HoldAccepted {
            elapsed: started.elapsed(),
        });
        let auth = authorization(&challenge.token, None);
        let response = call
            .send(self, Some(&auth))
            .await
            .map_err(|s| paid_but_refused(s, &challenge, None))?;
        Ok(Opened {
            response,
            paid: PaidFor {
                purchase: Some(Purchase {
                    amount_msat: challenge.invoice.amount_msat,
                    payment_hash: hash,
                    token: challenge.token,
                    preimage: None,
                    fee_msat: None,
                    hold: true,
                }),
                settling: Some(task),
            },
        })
    }

    /// `message` with the API key and, when given, the L402
    /// `authorization`.
    pub(crate) fn authorized<T>(
        &self,
        message: T,
        authorization: Option<&str>,
    ) -> std::result::Result<tonic::Request<T>, Status> {
        let mut call = self.request(message);
        if let Some(value) = authorization {
            let value = value.parse().map_err(|_| {
                Status::invalid_argument("the L402 credential must be printable ASCII")
            })?;
            call.metadata_mut().insert(AUTHORIZATION, value);
        }
        Ok(call)
    }
}

/// The reason a download was not paid, carrying the challenge.
fn unpaid(status: &Status, raw: RawChallenge, had_credential: bool) -> ClientError {
    // The amount is in the invoice (`ClientError::challenge`); the broker's
    // message already names the price.
    let reason = if had_credential {
        format!("the credential was refused: {}", status.message().trim())
    } else {
        format!("payment required: {}", status.message().trim())
    };
    ClientError::unpaid(status, raw, reason)
}

/// The broker refused a Get after we paid: the credential is still worth
/// keeping, so the error shows it.
fn paid_but_refused(status: Status, c: &Challenge, preimage: Option<&Preimage>) -> ClientError {
    let credential = match preimage {
        Some(p) => format!("{}:{}", c.token, p.to_hex()),
        None => format!("{}: (hold invoice, empty preimage)", c.token),
    };
    let refused = ClientError::from(status);
    let kind = match refused.kind() {
        ErrorKind::Unpaid => ErrorKind::Unauthenticated,
        kind => kind,
    };
    ClientError::new(
        kind,
        format!(
            "paid {} msat (payment hash {}) but the download was refused: {refused}; retry with the credential {credential}",
            c.invoice.amount_msat, c.invoice.payment_hash
        ),
    )
}
