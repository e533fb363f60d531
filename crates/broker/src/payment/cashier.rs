//! [`Cashier`]: everything the broker needs to sell downloads — settings,
//! L402 keys, the LND link and the index — and the invoice issuer used by
//! Get challenges and Payments.CreateInvoice alike.

use std::sync::Arc;

use shardgate_core::StreamRange;
use shardgate_index::{BlobRecord, Index, InvoiceProgress, InvoiceRecord};
use shardgate_payments::l402::PaidRange;
use shardgate_payments::{L402Keys, Price, PricingLimits, TokenClaims, TokenId, www_authenticate};

use crate::clock::now_unix_ms;
use crate::config::PaymentsConfig;
use crate::error::BrokerError;
use crate::limits::{InvoiceLimits, Payer};
use crate::payment::lightning::LndLink;

/// Shared by the L402 gate, the settlement tasks, the hold watcher and the
/// Payments service.
pub(crate) struct Cashier {
    pub config: PaymentsConfig,
    pub pricing: PricingLimits,
    pub keys: L402Keys,
    pub lnd: Arc<LndLink>,
    pub index: Arc<dyn Index>,
    /// Wakes the hold watcher before its next pass is due (a blob was
    /// deleted: its ACCEPTED hold invoices are canceled now, not after
    /// `hold_accept_timeout`).
    pub holds_changed: tokio::sync::Notify,
    /// Invoice budgets per payer and the node-wide cap; every invoice is
    /// made in [`Cashier::issue`], so every one passes them.
    pub limits: InvoiceLimits,
    /// Fetches invoices from Lightning Addresses for automatic payouts
    /// (`None` if the HTTP client could not be built; logged at start).
    pub lnurl: Option<shardgate_payments::lnurl::LnurlPayClient>,
}

/// An invoice as issued: its index record and the minted L402 token.
#[derive(Debug, Clone)]
pub(crate) struct IssuedInvoice {
    pub record: InvoiceRecord,
    /// Base64 macaroon of the credential.
    pub token: String,
}

impl IssuedInvoice {
    /// The `www-authenticate` value of this invoice.
    pub(crate) fn challenge(&self) -> Result<String, BrokerError> {
        Ok(www_authenticate(&self.token, &self.record.payment_request)?)
    }

    /// What a transport shows of it besides the header.
    pub(crate) fn summary(&self) -> crate::error::ChallengeInvoice {
        crate::error::ChallengeInvoice {
            payment_request: self.record.payment_request.clone(),
            macaroon: self.token.clone(),
            payment_hash: hex::encode(self.record.payment_hash),
            amount_msat: self.record.amount_msat,
            expires_at_unix_ms: self.record.expires_at_unix_ms,
        }
    }
}

impl Cashier {
    /// The price of `blob` within this broker's bounds.
    pub(crate) fn price_of(&self, blob: &BlobRecord) -> Result<Price, BrokerError> {
        Ok(Price::new(
            blob.price.flat_msat,
            blob.price.per_mib_msat,
            &self.pricing,
        )?)
    }

    /// `uses` of a request: 0 → 1, at most `max_invoice_uses`, 1 with hold.
    pub(crate) fn resolve_uses(&self, requested: u32, hold: bool) -> Result<u32, BrokerError> {
        Ok(self.pricing.resolve_uses(requested, hold)?)
    }

    /// Quotes `range` of `blob`, creates the invoice on the node (a hold
    /// invoice whose preimage is derived from the token id when `hold`),
    /// records it in the index — the amount recorded is the one charged,
    /// whatever the blob's price becomes later — and mints the token.
    /// `payer`'s invoice budgets and the node-wide cap are checked once
    /// the request is known to be valid, right before the node is asked.
    pub(crate) async fn issue(
        &self,
        blob: &BlobRecord,
        range: StreamRange,
        hold: bool,
        requested_uses: u32,
        share: Option<[u8; 16]>,
        payer: &Payer,
    ) -> Result<IssuedInvoice, BrokerError> {
        let uses = self.resolve_uses(requested_uses, hold)?;
        let amount_msat =
            self.price_of(blob)?
                .invoice_amount_msat(range.length, uses, &self.pricing)?;
        let node = self.lnd.node()?;
        self.limits
            .admit(&*self.index, payer, blob.blob_id, share)
            .await?;
        let token_id = TokenId::random();
        let memo = format!(
            "shardgate download {} bytes {}+{} x{uses}",
            blob.blob_id.short(),
            range.offset,
            range.length
        );
        let expiry = self.config.invoice_expiry();
        let created = if hold {
            let hash = self.keys.hold_preimage(&token_id).payment_hash();
            node.add_hold_invoice(&hash, amount_msat, &memo, expiry)
                .await?
        } else {
            node.add_invoice(amount_msat, &memo, expiry).await?
        };
        let now = now_unix_ms();
        let record = InvoiceRecord {
            payment_hash: created.payment_hash.0,
            blob_id: blob.blob_id,
            owner: blob.owner.clone(),
            range_offset: range.offset,
            range_length: range.length,
            amount_msat,
            uses,
            used: 0,
            hold,
            token_id: token_id.0,
            payment_request: created.payment_request,
            created_at_unix_ms: now,
            expires_at_unix_ms: now.saturating_add(self.config.invoice_expiry_secs * 1000),
            credential_expires_at_unix_ms: now
                .saturating_add(self.config.credential_ttl_secs * 1000),
            hold_accepted_at_unix_ms: None,
            progress: InvoiceProgress::Issued,
        };
        self.index.insert_invoice(record.clone()).await?;
        let token = self.keys.mint_with_id(
            &TokenClaims {
                payment_hash: created.payment_hash,
                blob: blob.blob_id,
                range: PaidRange {
                    offset: range.offset,
                    length: range.length,
                },
                expires_at_unix: record.credential_expires_at_unix_ms / 1000,
                uses,
                share,
            },
            token_id,
        )?;
        tracing::info!(
            blob = %blob.blob_id.short(),
            amount_msat,
            uses,
            hold,
            "invoice issued"
        );
        Ok(IssuedInvoice { record, token })
    }
}
