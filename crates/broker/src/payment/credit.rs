//! Prepaid credit: one invoice buys a balance bound to an L402 credential;
//! downloads presented with it are paid from the balance without a
//! Lightning round trip.
//!
//! ```text
//! BuyCredit(amount) → invoice on the node, credit record, credit token
//! first use / GetCreditBalance → LND lookup once → fund_credit
//!                                (Lightning → credit, once per hash)
//! each download  → index: credit → held (price), refused below zero
//!                  → stream → Settlement: held → split, or held → credit
//! ```
//!
//! The balance is the ledger account `credit:<hash>`; the index refuses
//! any entry that would take it below zero, in the transaction that
//! authorizes the download, so concurrent downloads never overspend it.

use shardgate_core::{ContentId, StreamRange};
use shardgate_index::{BlobRecord, CreditRecord, IndexError, LedgerAccount};
use shardgate_payments::{
    InvoiceState, L402Credential, PaymentError, PaymentHash, TokenId, VerifiedCredit,
};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::limits::Payer;
use crate::payment::cashier::Cashier;
use crate::payment::ledger::{CreditSpend, credit_purchase, credit_reserved};

/// Invoice budgets are counted per payer; this is the "blob" they are
/// booked against for credit (only the gateway's per-link budget reads
/// it, and credit is sold over gRPC).
fn credit_budget_key() -> ContentId {
    ContentId::of(b"shardgate prepaid credit")
}

/// A credit invoice as sold.
#[derive(Debug, Clone)]
pub(crate) struct SoldCredit {
    pub record: CreditRecord,
    /// Base64 macaroon of the credit credential.
    pub token: String,
}

/// Creates the invoice, records the credit and mints its token.
pub(crate) async fn buy_credit(
    cashier: &Cashier,
    amount_msat: u64,
    payer: &Payer,
) -> Result<SoldCredit, BrokerError> {
    let config = &cashier.config;
    if !(config.min_credit_msat..=config.max_credit_msat).contains(&amount_msat) {
        return Err(BrokerError::invalid(
            "amount_msat",
            format!(
                "credit is sold from {} to {} msat",
                config.min_credit_msat, config.max_credit_msat
            ),
        ));
    }
    let node = cashier.lnd.node()?;
    cashier
        .limits
        .admit(&*cashier.index, payer, credit_budget_key(), None)
        .await?;
    let created = node
        .add_invoice(
            amount_msat,
            &format!("shardgate prepaid credit {amount_msat} msat"),
            config.invoice_expiry(),
        )
        .await?;
    let now = now_unix_ms();
    let credential_expires_at_unix_ms = now.saturating_add(config.credential_ttl_secs * 1000);
    let (token, token_id) = cashier
        .keys
        .mint_credit(created.payment_hash, credential_expires_at_unix_ms / 1000);
    let record = CreditRecord {
        payment_hash: created.payment_hash.0,
        token_id: token_id.0,
        amount_msat,
        payment_request: created.payment_request,
        created_at_unix_ms: now,
        expires_at_unix_ms: now.saturating_add(config.invoice_expiry_secs * 1000),
        credential_expires_at_unix_ms,
        funded_at_unix_ms: None,
    };
    cashier.index.insert_credit(record.clone()).await?;
    tracing::info!(payment_hash = %created.payment_hash, amount_msat, "prepaid credit sold");
    Ok(SoldCredit { record, token })
}

/// Why a credit credential cannot pay.
pub(crate) enum CreditRefusal {
    /// Answer the download with a challenge, for this reason.
    Challenge(String),
    /// Answer with this error.
    Error(BrokerError),
}

impl From<BrokerError> for CreditRefusal {
    fn from(e: BrokerError) -> Self {
        CreditRefusal::Error(e)
    }
}

impl From<IndexError> for CreditRefusal {
    fn from(e: IndexError) -> Self {
        CreditRefusal::Error(e.into())
    }
}

/// Verifies a credit credential and returns its funded record.
pub(crate) async fn funded_credit(
    cashier: &Cashier,
    credential: &L402Credential,
) -> Result<(VerifiedCredit, CreditRecord), CreditRefusal> {
    let verified = cashier
        .keys
        .verify_credit(credential, now_unix_ms() / 1000)
        .map_err(|e| CreditRefusal::Challenge(format!("prepaid credit refused: {e}")))?;
    let hash = verified.payment_hash;
    let Some(record) = cashier.index.credit(&hash.0).await? else {
        return Err(CreditRefusal::Challenge(
            "credit credential was not issued by this broker".to_owned(),
        ));
    };
    if TokenId(record.token_id) != verified.token_id {
        return Err(CreditRefusal::Challenge(
            "credit credential does not match its invoice".to_owned(),
        ));
    }
    if record.funded_at_unix_ms.is_some() {
        return Ok((verified, record));
    }
    // The one LND call of a credit's life: is its invoice paid?
    let node = cashier.lnd.node()?;
    let status = match node.lookup_invoice(&hash).await {
        Ok(status) => status,
        Err(PaymentError::InvoiceNotFound { .. }) => {
            return Err(CreditRefusal::Challenge(
                "the Lightning node does not know this credit's invoice; buy new credit".to_owned(),
            ));
        }
        Err(e) => return Err(CreditRefusal::Error(e.into())),
    };
    match status.state {
        InvoiceState::Settled if status.amt_paid_msat >= record.amount_msat => {}
        InvoiceState::Settled => {
            return Err(CreditRefusal::Challenge(format!(
                "the credit invoice was paid {} msat of {} msat",
                status.amt_paid_msat, record.amount_msat
            )));
        }
        InvoiceState::Open | InvoiceState::Accepted => {
            return Err(CreditRefusal::Error(BrokerError::FailedPrecondition(
                format!("the credit invoice {hash} is not paid yet; pay it, then retry"),
            )));
        }
        InvoiceState::Canceled => {
            return Err(CreditRefusal::Challenge(
                "the credit invoice expired unpaid; buy new credit".to_owned(),
            ));
        }
    }
    let at = status
        .settle_unix
        .map_or_else(now_unix_ms, |s| s.saturating_mul(1000));
    let funded = cashier
        .index
        .fund_credit(&hash.0, at, credit_purchase(&record, at))
        .await?;
    tracing::info!(payment_hash = %hash, amount_msat = funded.amount_msat, "prepaid credit funded");
    Ok((verified, funded))
}

/// What the credit of `hash` holds now, msat.
pub(crate) async fn balance_msat(
    cashier: &Cashier,
    hash: &PaymentHash,
) -> Result<u64, BrokerError> {
    Ok(cashier
        .index
        .ledger_balance(&LedgerAccount::credit(&hash.0))
        .await?
        .balance_msat())
}

/// Takes the price of `range` of `blob` from the credit (one index
/// transaction; below zero is refused with a challenge naming the balance).
pub(crate) async fn reserve_download(
    cashier: &Cashier,
    credit: &CreditRecord,
    blob: &BlobRecord,
    range: StreamRange,
) -> Result<CreditSpend, CreditRefusal> {
    let price_msat = cashier
        .price_of(blob)?
        .invoice_amount_msat(range.length, 1, &cashier.pricing)
        .map_err(BrokerError::from)?;
    let spend = CreditSpend {
        spend_id: rand::random(),
        credit: credit.payment_hash,
        price_msat,
        blob_id: blob.blob_id,
        owner: blob.owner.clone(),
    };
    match cashier
        .index
        .record_payment(credit_reserved(&spend, now_unix_ms()))
        .await
    {
        Ok(_) => Ok(spend),
        Err(IndexError::InsufficientBalance { balance_msat, .. }) => {
            Err(CreditRefusal::Challenge(format!(
                "prepaid credit {} holds {balance_msat} msat; this download costs {price_msat} msat: pay this invoice or buy more credit",
                hex::encode(credit.payment_hash)
            )))
        }
        Err(e) => Err(e.into()),
    }
}
