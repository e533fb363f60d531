//! The page's live payment status: the invoice's state as the broker's
//! Lightning node sees it, and once it is settled its preimage.
//!
//! Why reveal the preimage: a person who paid from a phone wallet has the
//! preimage in that wallet, not in the page. The preimage alone buys
//! nothing — a download needs the macaroon too, which only the request that
//! made the invoice received — and it is asked for by payment hash of an
//! invoice of this very blob, behind the share's read token.

use serde_json::{Value, json};
use shardgate_index::BlobRecord;
use shardgate_payments::{InvoiceState, PaymentError, PaymentHash};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::state::Broker;

pub(super) async fn payment_status(
    broker: &Broker,
    blob: &BlobRecord,
    hash_hex: &str,
) -> Result<Value, BrokerError> {
    let missing = || {
        BrokerError::NotFound(format!(
            "no invoice {hash_hex} for blob {} was issued here",
            blob.blob_id.short()
        ))
    };
    let cashier = broker.cashier.as_ref().ok_or_else(missing)?;
    let hash = PaymentHash::from_hex(hash_hex)
        .map_err(|_| BrokerError::invalid("payment hash", "must be 64 lowercase hex characters"))?;
    let invoice = cashier
        .index
        .invoice(&hash.0)
        .await?
        .filter(|i| i.blob_id == blob.blob_id)
        .ok_or_else(missing)?;
    let status = match cashier.lnd.node()?.lookup_invoice(&hash).await {
        Ok(status) => status,
        Err(PaymentError::InvoiceNotFound { .. }) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let state = match status.state {
        InvoiceState::Open => "open",
        InvoiceState::Accepted => "accepted",
        InvoiceState::Settled => "paid",
        InvoiceState::Canceled if status.is_expired(now_unix_ms() / 1000) => "expired",
        InvoiceState::Canceled => "canceled",
    };
    let preimage = match (status.state, status.preimage) {
        (InvoiceState::Settled, Some(p)) => Value::from(hex::encode(p.0)),
        _ => Value::Null,
    };
    Ok(json!({
        "state": state,
        "amount_msat": invoice.amount_msat,
        "preimage": preimage,
    }))
}
