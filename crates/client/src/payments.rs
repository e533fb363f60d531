//! The Payments service: invoices bought ahead of a download, payment
//! status, earnings and the ledger.

use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// Creates the invoice for a download ahead of time (the unary
    /// alternative to the Get challenge). Public blobs need no key.
    pub async fn create_invoice(&self, request: pb::CreateInvoiceRequest) -> Result<pb::Invoice> {
        Ok(self
            .payments_stub()
            .create_invoice(self.request(request))
            .await?
            .into_inner())
    }

    /// The state of the invoice with `payment_hash` (64 hex characters).
    pub async fn payment_status(&self, payment_hash: &str) -> Result<pb::PaymentStatus> {
        Ok(self
            .payments_stub()
            .get_payment_status(self.request(pb::GetPaymentStatusRequest {
                payment_hash: payment_hash.to_owned(),
            }))
            .await?
            .into_inner())
    }

    /// Balances of the accounts the key may see (the admin key: every
    /// account of `kind`; an API key: the tenant's own).
    pub async fn earnings(&self, kind: pb::AccountKind) -> Result<pb::GetEarningsResponse> {
        Ok(self
            .payments_stub()
            .get_earnings(self.account_request(pb::GetEarningsRequest { kind: kind as i32 })?)
            .await?
            .into_inner())
    }

    /// One page of ledger entries.
    pub async fn ledger(
        &self,
        request: pb::ListLedgerEntriesRequest,
    ) -> Result<pb::ListLedgerEntriesResponse> {
        Ok(self
            .payments_stub()
            .list_ledger_entries(self.account_request(request)?)
            .await?
            .into_inner())
    }
}
