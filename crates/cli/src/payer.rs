//! The downloader's own LND node: pays the broker's invoices through LND's
//! gRPC (`LightningNode::pay_invoice`, i.e. SendPaymentV2 over TLS with a
//! macaroon), after checking the amount against the caller's cap.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{LightningNode, Preimage};

use crate::args::PayerArgs;
use crate::bolt11::Bolt11;
use crate::human;

/// How long one payment may stay in flight. A hold invoice stays in flight
/// until the broker settles it after the download, so this bounds the
/// whole paid download of a hold invoice.
const PAY_TIMEOUT: Duration = Duration::from_secs(600);

/// A connected payer node with its limits. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Payer {
    node: LightningNode,
    max_price_msat: u64,
    max_fee_msat: u64,
}

/// A completed payment.
#[derive(Clone, Debug)]
pub(crate) struct Paid {
    pub preimage: Preimage,
    /// Routing fee, from the wallet balance before and after; `None` when
    /// the balance moved by something else meanwhile.
    pub fee_msat: Option<u64>,
    pub elapsed: Duration,
}

impl Payer {
    /// The payer of the `--lnd-*` flags; `None` when none is given, an
    /// error when only some are.
    pub(crate) async fn from_args(args: &PayerArgs) -> anyhow::Result<Option<Payer>> {
        let (endpoint, cert, macaroon) = match (
            &args.lnd_endpoint,
            &args.lnd_tls_cert,
            &args.lnd_macaroon,
        ) {
            (None, None, None) => return Ok(None),
            (Some(e), Some(c), Some(m)) => (e, c, m),
            _ => bail!(
                "paying needs all three of --lnd-endpoint, --lnd-tls-cert and --lnd-macaroon (or SHARDGATE_PAYER_LND_ENDPOINT, _TLS_CERT, _MACAROON)"
            ),
        };
        let config = LndConfig::new(
            endpoint.clone(),
            TlsCertSource::File(cert.clone()),
            MacaroonSource::File(macaroon.clone()),
        );
        let node = LightningNode::connect(&config)
            .await
            .with_context(|| format!("your LND node at {endpoint}"))?;
        Ok(Some(Payer::over(
            node,
            args.max_price_msat,
            args.max_fee_msat,
        )))
    }

    /// A payer on an already connected node (dev mode's wallet).
    pub(crate) fn over(node: LightningNode, max_price_msat: u64, max_fee_msat: u64) -> Payer {
        Payer {
            node,
            max_price_msat,
            max_fee_msat,
        }
    }

    /// Refuses an invoice above the cap, or one that has expired.
    pub(crate) fn check(&self, invoice: &Bolt11) -> anyhow::Result<()> {
        if invoice.amount_msat > self.max_price_msat {
            bail!(
                "the invoice asks {}, more than --max-price-msat {}; raise it with --max-price-msat {} (or SHARDGATE_MAX_PRICE_MSAT) to pay",
                human::msat(invoice.amount_msat),
                human::msat(self.max_price_msat),
                invoice.amount_msat
            );
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if invoice.expires_at_unix <= now {
            bail!("the invoice expired; ask for a new one");
        }
        Ok(())
    }

    /// Checks, then pays `invoice` and waits until the payment is final.
    pub(crate) async fn pay(&self, invoice: &Bolt11) -> anyhow::Result<Paid> {
        self.check(invoice)?;
        let before = self.node.channel_balance().await.ok();
        let started = Instant::now();
        let preimage = self
            .node
            .pay_invoice(&invoice.text, self.max_fee_msat, PAY_TIMEOUT)
            .await
            .context("paying from your LND node failed")?;
        let elapsed = started.elapsed();
        if preimage.payment_hash() != invoice.payment_hash {
            bail!("your LND node returned a preimage that does not match the invoice");
        }
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
    }

    /// The wallet's spendable balance, msat.
    #[cfg_attr(
        not(feature = "dev"),
        expect(dead_code, reason = "only dev mode shows the wallet balance")
    )]
    pub(crate) async fn balance_msat(&self) -> anyhow::Result<u64> {
        Ok(self
            .node
            .channel_balance()
            .await
            .context("reading your LND node's balance")?
            .local_msat)
    }
}

/// `fee 0 msat (0 sat)` or `fee unknown`.
pub(crate) fn fee_text(fee: Option<u64>) -> String {
    fee.map_or_else(
        || "fee unknown (the balance moved meanwhile)".to_owned(),
        |f| format!("fee {}", human::msat(f)),
    )
}
