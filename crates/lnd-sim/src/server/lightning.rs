//! `lnrpc.Lightning`: node info, balance, and invoices.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::bolt11::PaymentRequest;
use crate::issuer::{self, NewInvoice};
use crate::lnd_status::LndStatus;
use crate::node_state::NodeState;
use crate::proto::lnrpc::{self, lightning_server::Lightning};
use crate::records::{InvoiceState, invoice_features, msat_to_sat, to_i64};

/// What GetInfo reports as the LND version this node behaves like.
pub const LND_VERSION: &str = "0.20.0-beta commit=v0.20.0-beta";
/// LND returns at most this many invoices when the request sets no limit.
const DEFAULT_MAX_INVOICES: usize = 100;

pub(super) struct LightningService {
    pub node: Arc<NodeState>,
}

#[tonic::async_trait]
impl Lightning for LightningService {
    async fn channel_balance(
        &self,
        _request: Request<lnrpc::ChannelBalanceRequest>,
    ) -> Result<Response<lnrpc::ChannelBalanceResponse>, Status> {
        self.node.gate().await;
        let (balance, in_flight) = {
            let ledger = self.node.ledger();
            (ledger.balance_msat(), ledger.in_flight_msat())
        };
        let amount = |msat: u64| {
            Some(lnrpc::Amount {
                sat: msat / 1000,
                msat,
            })
        };
        #[allow(deprecated)]
        Ok(Response::new(lnrpc::ChannelBalanceResponse {
            balance: msat_to_sat(balance),
            pending_open_balance: 0,
            local_balance: amount(balance),
            remote_balance: amount(0),
            unsettled_local_balance: amount(in_flight),
            unsettled_remote_balance: amount(0),
            pending_open_local_balance: amount(0),
            pending_open_remote_balance: amount(0),
        }))
    }

    async fn get_info(
        &self,
        _request: Request<lnrpc::GetInfoRequest>,
    ) -> Result<Response<lnrpc::GetInfoResponse>, Status> {
        self.node.gate().await;
        let network = &self.node.network;
        let height = network.block_height();
        let peers = network.node_pubkeys().len().saturating_sub(1);
        let peers = u32::try_from(peers).unwrap_or(u32::MAX);
        let block_hash = hex::encode(Sha256::digest(height.to_be_bytes()));
        let commit_hash = hex::encode(&Sha256::digest(LND_VERSION.as_bytes())[..20]);
        #[allow(deprecated)]
        Ok(Response::new(lnrpc::GetInfoResponse {
            version: LND_VERSION.to_string(),
            commit_hash,
            identity_pubkey: self.node.pubkey_hex.clone(),
            alias: self.node.alias.clone(),
            color: "#3399ff".to_string(),
            num_pending_channels: 0,
            num_active_channels: peers,
            num_inactive_channels: 0,
            num_peers: peers,
            block_height: height,
            block_hash,
            best_header_timestamp: to_i64(network.now_unix()),
            synced_to_chain: true,
            synced_to_graph: true,
            testnet: false,
            chains: vec![lnrpc::Chain {
                chain: "bitcoin".to_string(),
                network: "regtest".to_string(),
            }],
            uris: Vec::new(),
            features: invoice_features(),
            require_htlc_interceptor: false,
            store_final_htlc_resolutions: false,
            wallet_synced: true,
        }))
    }

    async fn add_invoice(
        &self,
        request: Request<lnrpc::Invoice>,
    ) -> Result<Response<lnrpc::AddInvoiceResponse>, Status> {
        self.node.gate().await;
        let req = request.into_inner();
        let mut new = NewInvoice::validate(
            req.memo,
            req.value,
            req.value_msat,
            req.description_hash,
            req.expiry,
            req.cltv_expiry,
            req.private,
        )?;
        if !req.r_preimage.is_empty() {
            let preimage = <[u8; 32]>::try_from(req.r_preimage.as_slice())
                .map_err(|_| LndStatus::PreimageLength(req.r_preimage.len()))?;
            new.preimage = Some(preimage);
        }
        let invoice = issuer::issue(&self.node, new)?;
        Ok(Response::new(lnrpc::AddInvoiceResponse {
            r_hash: invoice.hash.to_vec(),
            payment_request: invoice.payment_request,
            add_index: invoice.add_index,
            payment_addr: invoice.payment_addr.to_vec(),
        }))
    }

    async fn list_invoices(
        &self,
        request: Request<lnrpc::ListInvoiceRequest>,
    ) -> Result<Response<lnrpc::ListInvoiceResponse>, Status> {
        self.node.gate().await;
        self.node.sweep_expired();
        let req = request.into_inner();
        let max = match usize::try_from(req.num_max_invoices) {
            Ok(0) => DEFAULT_MAX_INVOICES,
            Ok(n) => n,
            Err(_) => usize::MAX,
        };
        let ledger = self.node.ledger();
        let matches = |inv: &&crate::records::InvoiceRecord| {
            (!req.pending_only || matches!(inv.state, InvoiceState::Open | InvoiceState::Accepted))
                && (req.creation_date_start == 0 || inv.creation_date >= req.creation_date_start)
                && (req.creation_date_end == 0 || inv.creation_date <= req.creation_date_end)
        };
        // Offsets are exclusive, as in LND: forward lists start after the
        // offset, reversed lists end before it (0 = from the newest).
        let page: Vec<lnrpc::Invoice> = if req.reversed {
            let mut newest_first: Vec<_> = ledger
                .invoices()
                .rev()
                .filter(|inv| req.index_offset == 0 || inv.add_index < req.index_offset)
                .filter(matches)
                .take(max)
                .map(|inv| inv.to_proto())
                .collect();
            newest_first.reverse();
            newest_first
        } else {
            ledger
                .invoices()
                .filter(|inv| inv.add_index > req.index_offset)
                .filter(matches)
                .take(max)
                .map(|inv| inv.to_proto())
                .collect()
        };
        let first = page.first().map_or(0, |inv| inv.add_index);
        let last = page.last().map_or(0, |inv| inv.add_index);
        Ok(Response::new(lnrpc::ListInvoiceResponse {
            invoices: page,
            last_index_offset: last,
            first_index_offset: first,
        }))
    }

    async fn lookup_invoice(
        &self,
        request: Request<lnrpc::PaymentHash>,
    ) -> Result<Response<lnrpc::Invoice>, Status> {
        self.node.gate().await;
        self.node.sweep_expired();
        let req = request.into_inner();
        #[allow(deprecated)]
        let hash_bytes = if !req.r_hash.is_empty() {
            req.r_hash
        } else {
            hex::decode(&req.r_hash_str).map_err(|_| LndStatus::HashLength(0))?
        };
        let hash = <[u8; 32]>::try_from(hash_bytes.as_slice())
            .map_err(|_| LndStatus::HashLength(hash_bytes.len()))?;
        let invoice = self.node.ledger().invoice(&hash)?.to_proto();
        Ok(Response::new(invoice))
    }

    async fn decode_pay_req(
        &self,
        request: Request<lnrpc::PayReqString>,
    ) -> Result<Response<lnrpc::PayReq>, Status> {
        self.node.gate().await;
        let req = PaymentRequest::decode(&request.into_inner().pay_req)
            .map_err(|e| LndStatus::BadPaymentRequest(e.to_string()))?;
        let amount_msat = req.amount_msat.unwrap_or(0);
        let features = invoice_features()
            .into_iter()
            .filter(|(bit, _)| req.feature_bits.contains(bit))
            .collect();
        Ok(Response::new(lnrpc::PayReq {
            destination: hex::encode(req.payee),
            payment_hash: hex::encode(req.payment_hash),
            num_satoshis: msat_to_sat(amount_msat),
            timestamp: to_i64(req.timestamp),
            expiry: to_i64(req.expiry_secs),
            description: req.description,
            description_hash: req.description_hash.map(hex::encode).unwrap_or_default(),
            fallback_addr: String::new(),
            cltv_expiry: to_i64(req.min_final_cltv_expiry),
            payment_addr: req.payment_secret.map(|s| s.to_vec()).unwrap_or_default(),
            num_msat: to_i64(amount_msat),
            features,
        }))
    }
}
