//! Who pays a download's invoice: a [`Payer`] is anything that turns a
//! BOLT 11 invoice into its preimage. [`LndPayer`] is the caller's own LND
//! node (through `lnd_grpc_rust`, TLS and a macaroon); [`FnPayer`] wraps a
//! callback (a wallet SDK, a WebLN bridge, a test). [`PaymentPolicy`] says
//! whether and how much the SDK may pay on the caller's behalf.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{LightningNode, Preimage};

use crate::error::{ClientError, Result};
use crate::invoice::Invoice;

/// How long one payment may stay in flight. A hold invoice stays in flight
/// until the broker settles it after the download, so this bounds the
/// whole paid download of a hold invoice.
const PAY_TIMEOUT: Duration = Duration::from_secs(600);

/// A completed payment.
#[derive(Clone, Debug)]
pub struct Paid {
    /// Proof of payment: `sha256(preimage)` is the invoice's payment hash.
    pub preimage: Preimage,
    /// Routing fee, when the payer knows it.
    pub fee_msat: Option<u64>,
    /// How long the payment took.
    pub elapsed: Duration,
}

/// Pays BOLT 11 invoices. The SDK checks the amount against the caller's
/// cap and the preimage against the invoice before and after calling it.
pub trait Payer: Send + Sync {
    /// Pays `invoice` and returns once the payment is final (for a hold
    /// invoice: once the payee settled it).
    fn pay<'a>(&'a self, invoice: &'a Invoice) -> BoxFuture<'a, Result<Paid>>;
}

/// A payer made of a closure returning the preimage.
pub struct FnPayer<F>(pub F);

impl<F> Payer for FnPayer<F>
where
    F: Fn(Invoice) -> BoxFuture<'static, Result<Preimage>> + Send + Sync,
{
    fn pay<'a>(&'a self, invoice: &'a Invoice) -> BoxFuture<'a, Result<Paid>> {
        Box::pin(async move {
            let started = Instant::now();
            let preimage = (self.0)(invoice.clone()).await?;
            Ok(Paid {
                preimage,
                fee_msat: None,
                elapsed: started.elapsed(),
            })
        })
    }
}

/// The caller's own LND node, reached over gRPC with TLS and a macaroon.
#[derive(Clone, Debug)]
pub struct LndPayer {
    node: LightningNode,
    max_fee_msat: u64,
}

impl LndPayer {
    /// Connects to the node at `endpoint` (`host:port`) with its TLS
    /// certificate and a macaroon allowed to send payments.
    pub async fn connect(
        endpoint: &str,
        tls_cert: impl Into<std::path::PathBuf>,
        macaroon: impl Into<std::path::PathBuf>,
        max_fee_msat: u64,
    ) -> Result<LndPayer> {
        let config = LndConfig::new(
            endpoint.to_owned(),
            TlsCertSource::File(tls_cert.into()),
            MacaroonSource::File(macaroon.into()),
        );
        let node = LightningNode::connect(&config).await.map_err(|e| {
            ClientError::payment(format!("your LND node at {endpoint}: {e}")).with_source(e)
        })?;
        Ok(LndPayer::over(node, max_fee_msat))
    }

    /// A payer on an already connected node.
    pub fn over(node: LightningNode, max_fee_msat: u64) -> LndPayer {
        LndPayer { node, max_fee_msat }
    }

    /// An invoice for `amount_msat` on this node, for someone to pay it
    /// (a withdrawal from the broker lands here).
    pub async fn receive_invoice(&self, amount_msat: u64, memo: &str) -> Result<String> {
        Ok(self
            .node
            .add_invoice(amount_msat, memo, Duration::from_secs(3600))
            .await
            .map_err(|e| {
                ClientError::payment(format!("creating an invoice on your LND node: {e}"))
            })?
            .payment_request)
    }

    /// The node's spendable channel balance, msat.
    pub async fn balance_msat(&self) -> Result<u64> {
        Ok(self
            .node
            .channel_balance()
            .await
            .map_err(|e| ClientError::payment(format!("reading your LND node's balance: {e}")))?
            .local_msat)
    }
}

impl Payer for LndPayer {
    fn pay<'a>(&'a self, invoice: &'a Invoice) -> BoxFuture<'a, Result<Paid>> {
        Box::pin(async move {
            let before = self.node.channel_balance().await.ok();
            let started = Instant::now();
            let preimage = self
                .node
                .pay_invoice(&invoice.text, self.max_fee_msat, PAY_TIMEOUT)
                .await
                .map_err(|e| {
                    ClientError::payment(format!("paying from your LND node failed: {e}"))
                        .with_source(e)
                })?;
            let elapsed = started.elapsed();
            let after = self.node.channel_balance().await.ok();
            let fee_msat = match (before, after) {
                (Some(b), Some(a)) => b
                    .local_msat
                    .checked_sub(a.local_msat)
                    .and_then(|spent| spent.checked_sub(invoice.amount_msat)),
                _ => None,
            };
            Ok(Paid {
                preimage,
                fee_msat,
                elapsed,
            })
        })
    }
}

/// What a payment step looked like, for callers that show progress.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PaymentEvent {
    /// The broker asked for a payment the payer is about to make.
    Paying {
        /// The invoice being paid.
        invoice: Invoice,
    },
    /// A standard invoice was paid.
    Paid {
        /// The payment's outcome.
        paid: Paid,
    },
    /// A hold payment is locked (ACCEPTED); it settles when the download
    /// completes.
    HoldAccepted {
        /// Time from paying to ACCEPTED.
        elapsed: Duration,
    },
}

/// What [`PaymentPolicy::observe`] calls with each event.
type Observer = Arc<dyn Fn(&PaymentEvent) + Send + Sync>;

/// Whether and how the SDK pays for a download.
#[derive(Clone, Default)]
pub struct PaymentPolicy {
    pub(crate) credential: Option<String>,
    pub(crate) payer: Option<Arc<dyn Payer>>,
    pub(crate) max_price_msat: u64,
    pub(crate) hold: bool,
    pub(crate) uses: u32,
    pub(crate) observer: Option<Observer>,
}

impl std::fmt::Debug for PaymentPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentPolicy")
            .field("credential", &self.credential.as_ref().map(|_| "…"))
            .field("payer", &self.payer.is_some())
            .field("max_price_msat", &self.max_price_msat)
            .field("hold", &self.hold)
            .field("uses", &self.uses)
            .finish()
    }
}

impl PaymentPolicy {
    /// Never pay: a priced download fails with [`crate::ErrorKind::Unpaid`]
    /// carrying the challenge.
    pub fn none() -> PaymentPolicy {
        PaymentPolicy::default()
    }

    /// Pay challenges with `payer`, never more than `max_price_msat` per
    /// invoice.
    pub fn pay_with(payer: impl Payer + 'static, max_price_msat: u64) -> PaymentPolicy {
        PaymentPolicy {
            payer: Some(Arc::new(payer)),
            max_price_msat,
            ..PaymentPolicy::default()
        }
    }

    /// As [`PaymentPolicy::pay_with`] with a shared payer.
    pub fn pay_with_shared(payer: Arc<dyn Payer>, max_price_msat: u64) -> PaymentPolicy {
        PaymentPolicy {
            payer: Some(payer),
            max_price_msat,
            ..PaymentPolicy::default()
        }
    }

    /// Present an existing credential `TOKEN:PREIMAGE` (from an earlier
    /// purchase with uses left); nothing new is paid.
    pub fn credential(mut self, credential: impl Into<String>) -> PaymentPolicy {
        self.credential = Some(credential.into());
        self
    }

    /// Ask for a hold invoice: the payment is only locked until the broker
    /// has delivered every byte, and cancelled (refunded) otherwise.
    pub fn hold(mut self, hold: bool) -> PaymentPolicy {
        self.hold = hold;
        self
    }

    /// Buy `uses` downloads with one invoice (0 or 1: one).
    pub fn uses(mut self, uses: u32) -> PaymentPolicy {
        self.uses = uses;
        self
    }

    /// Calls `observer` at each payment step (for progress output).
    pub fn observe(mut self, observer: impl Fn(&PaymentEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    pub(crate) fn event(&self, event: PaymentEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// Pays `invoice` with `payer`, checks the preimage against it, and
    /// tells the observer.
    pub(crate) async fn pay_checked(&self, payer: &dyn Payer, invoice: &Invoice) -> Result<Paid> {
        let paid = payer.pay(invoice).await?;
        if paid.preimage.payment_hash() != invoice.payment_hash {
            return Err(ClientError::payment(
                "the payer returned a preimage that does not match the invoice",
            ));
        }
        self.event(PaymentEvent::Paid { paid: paid.clone() });
        Ok(paid)
    }

    /// Refuses an invoice above the cap ([`ErrorKind::PriceAboveCap`]) or
    /// one that has expired, as a download does before paying. Public so
    /// an invoice bought separately (`Payments.CreateInvoice`) can be
    /// checked by the same rules before a [`Payer`] pays it.
    ///
    /// [`ErrorKind::PriceAboveCap`]: crate::ErrorKind::PriceAboveCap
    pub fn check(&self, invoice: &Invoice) -> Result<()> {
        if invoice.amount_msat > self.max_price_msat {
            return Err(ClientError::above_cap(
                invoice.amount_msat,
                self.max_price_msat,
            ));
        }
        if invoice.is_expired() {
            return Err(ClientError::payment(
                "the invoice expired; ask for a new one",
            ));
        }
        Ok(())
    }
}
