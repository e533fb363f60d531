//! Creating invoices: regular ones (the node picks the preimage) and hold
//! invoices (the broker supplies the hash and settles later).

use std::time::Duration;

use lnd_grpc_rust::{invoicesrpc, lnrpc};

use super::{LightningNode, NewInvoice};
use crate::error::PaymentError;
use crate::l402::PaymentHash;

/// Longest memo we put on an invoice (LND's limit is 1024 bytes; the memo
/// ends up in the BOLT 11 string, so keep it small).
pub const MAX_MEMO_BYTES: usize = 639;

impl LightningNode {
    /// Creates a regular invoice; the node picks the preimage.
    pub async fn add_invoice(
        &self,
        amount_msat: u64,
        memo: &str,
        expiry: Duration,
    ) -> Result<NewInvoice, PaymentError> {
        let (value_msat, expiry) = invoice_args(amount_msat, memo, expiry)?;
        let mut client = self.client.clone();
        let resp = self
            .call(
                "AddInvoice",
                client.lightning().add_invoice(lnrpc::Invoice {
                    memo: memo.to_string(),
                    value_msat,
                    expiry,
                    ..Default::default()
                }),
            )
            .await?;
        let payment_hash =
            PaymentHash::from_slice(&resp.r_hash).ok_or_else(|| PaymentError::LndProtocol {
                op: "AddInvoice",
                detail: format!("r_hash is {} bytes", resp.r_hash.len()),
            })?;
        Ok(NewInvoice {
            payment_hash,
            payment_request: resp.payment_request,
            add_index: resp.add_index,
        })
    }

    /// Creates a hold invoice for `payment_hash`: once paid it is ACCEPTED
    /// and stays so until [`Self::settle_invoice`] or [`Self::cancel_invoice`].
    pub async fn add_hold_invoice(
        &self,
        payment_hash: &PaymentHash,
        amount_msat: u64,
        memo: &str,
        expiry: Duration,
    ) -> Result<NewInvoice, PaymentError> {
        let (value_msat, expiry) = invoice_args(amount_msat, memo, expiry)?;
        let mut client = self.client.clone();
        let resp = self
            .call(
                "AddHoldInvoice",
                client
                    .invoices()
                    .add_hold_invoice(invoicesrpc::AddHoldInvoiceRequest {
                        memo: memo.to_string(),
                        hash: payment_hash.0.to_vec(),
                        value_msat,
                        expiry,
                        ..Default::default()
                    }),
            )
            .await?;
        Ok(NewInvoice {
            payment_hash: *payment_hash,
            payment_request: resp.payment_request,
            add_index: resp.add_index,
        })
    }
}

/// Checks and converts the common invoice arguments.
fn invoice_args(
    amount_msat: u64,
    memo: &str,
    expiry: Duration,
) -> Result<(i64, i64), PaymentError> {
    if amount_msat == 0 {
        return Err(PaymentError::invalid(
            "invoice amount must be at least 1 msat",
        ));
    }
    let value = i64::try_from(amount_msat)
        .map_err(|_| PaymentError::invalid("invoice amount exceeds LND's int64 msat"))?;
    if memo.len() > MAX_MEMO_BYTES {
        return Err(PaymentError::invalid(format!(
            "invoice memo is {} bytes, at most {MAX_MEMO_BYTES}",
            memo.len()
        )));
    }
    let secs = expiry.as_secs();
    if secs == 0 || secs > i64::MAX as u64 {
        return Err(PaymentError::invalid(
            "invoice expiry must be at least 1 second",
        ));
    }
    Ok((value, secs as i64))
}
