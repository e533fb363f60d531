//! `invoicesrpc.Invoices`: hold invoices and single-invoice subscriptions.

use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::issuer::{self, NewInvoice};
use crate::lnd_status::LndStatus;
use crate::node_state::NodeState;
use crate::proto::invoicesrpc::{self, invoices_server::Invoices, lookup_invoice_msg::InvoiceRef};
use crate::proto::lnrpc;
use crate::server::follow::{self, Follow, RpcStream};
use crate::switch;

pub(super) struct InvoicesService {
    pub node: Arc<NodeState>,
    pub stop: watch::Receiver<bool>,
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32], LndStatus> {
    <[u8; 32]>::try_from(bytes).map_err(|_| LndStatus::HashLength(bytes.len()))
}

#[tonic::async_trait]
impl Invoices for InvoicesService {
    type SubscribeSingleInvoiceStream = RpcStream<lnrpc::Invoice>;

    async fn subscribe_single_invoice(
        &self,
        request: Request<invoicesrpc::SubscribeSingleInvoiceRequest>,
    ) -> Result<Response<Self::SubscribeSingleInvoiceStream>, Status> {
        self.node.gate().await;
        let hash = hash32(&request.into_inner().r_hash)?;
        self.node.sweep_expired();
        // Subscribe first, then read: a change in between is seen twice
        // (and deduplicated) rather than missed.
        let feed = self.node.invoice_feed();
        // LND lets a client subscribe to an invoice that does not exist yet
        // and delivers it once added; so does this.
        let initial = self.node.ledger().invoice(&hash).ok().cloned();
        let node = Arc::clone(&self.node);
        Ok(Response::new(follow::stream(Follow {
            hash,
            feed,
            initial,
            reread: Box::new(move || node.ledger().invoice(&hash).ok().cloned()),
            final_only: false,
            stop: self.stop.clone(),
        })))
    }

    async fn cancel_invoice(
        &self,
        request: Request<invoicesrpc::CancelInvoiceMsg>,
    ) -> Result<Response<invoicesrpc::CancelInvoiceResp>, Status> {
        self.node.gate().await;
        switch::cancel_invoice(&self.node, &request.into_inner().payment_hash)?;
        Ok(Response::new(invoicesrpc::CancelInvoiceResp {}))
    }

    async fn add_hold_invoice(
        &self,
        request: Request<invoicesrpc::AddHoldInvoiceRequest>,
    ) -> Result<Response<invoicesrpc::AddHoldInvoiceResp>, Status> {
        self.node.gate().await;
        let req = request.into_inner();
        let hash = hash32(&req.hash)?;
        let mut new = NewInvoice::validate(
            req.memo,
            req.value,
            req.value_msat,
            req.description_hash,
            req.expiry,
            req.cltv_expiry,
            req.private,
        )?;
        new.hold_hash = Some(hash);
        let invoice = issuer::issue(&self.node, new)?;
        Ok(Response::new(invoicesrpc::AddHoldInvoiceResp {
            payment_request: invoice.payment_request,
            add_index: invoice.add_index,
            payment_addr: invoice.payment_addr.to_vec(),
        }))
    }

    async fn settle_invoice(
        &self,
        request: Request<invoicesrpc::SettleInvoiceMsg>,
    ) -> Result<Response<invoicesrpc::SettleInvoiceResp>, Status> {
        self.node.gate().await;
        switch::settle_hold_invoice(&self.node, &request.into_inner().preimage)?;
        Ok(Response::new(invoicesrpc::SettleInvoiceResp {}))
    }

    async fn lookup_invoice_v2(
        &self,
        request: Request<invoicesrpc::LookupInvoiceMsg>,
    ) -> Result<Response<lnrpc::Invoice>, Status> {
        self.node.gate().await;
        self.node.sweep_expired();
        let ledger = self.node.ledger();
        let invoice = match request.into_inner().invoice_ref {
            Some(InvoiceRef::PaymentHash(hash)) => ledger.invoice(&hash32(&hash)?)?,
            Some(InvoiceRef::PaymentAddr(addr)) => ledger.invoice_by_addr(&hash32(&addr)?)?,
            Some(InvoiceRef::SetId(_)) | None => return Err(LndStatus::UnsupportedLookup.into()),
        };
        Ok(Response::new(invoice.to_proto()))
    }
}
