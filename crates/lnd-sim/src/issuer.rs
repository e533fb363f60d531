//! Issuing invoices (AddInvoice and AddHoldInvoice): validation, defaults,
//! and the BOLT 11 payment request that lets any node of the network pay it.

use sha2::{Digest, Sha256};

use crate::bolt11::{INVOICE_FEATURE_BITS, PaymentRequest, REGTEST};
use crate::lnd_status::LndStatus;
use crate::node_state::NodeState;
use crate::records::{InvoiceRecord, InvoiceState};

/// LND's default invoice expiry: one day.
pub(crate) const DEFAULT_EXPIRY_SECS: u64 = 86_400;
/// LND's default min final CLTV delta for new invoices.
pub(crate) const DEFAULT_CLTV_EXPIRY: u64 = 80;
/// LND refuses memos longer than this (they must fit in the invoice).
pub(crate) const MAX_MEMO_BYTES: usize = 1024;
/// 21 million BTC in millisatoshis: anything larger is nonsense input, and
/// keeping amounts below it keeps every conversion to `i64` exact.
pub(crate) const MAX_AMOUNT_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// A validated request for a new invoice.
#[derive(Debug, Clone)]
pub(crate) struct NewInvoice {
    pub memo: String,
    /// The preimage (normal invoice) — or None with `hold_hash` set.
    pub preimage: Option<[u8; 32]>,
    pub hold_hash: Option<[u8; 32]>,
    pub value_msat: u64,
    pub description_hash: Vec<u8>,
    pub expiry: u64,
    pub cltv_expiry: u64,
    pub private: bool,
}

impl NewInvoice {
    /// Checks the fields shared by AddInvoice and AddHoldInvoice and fills
    /// in LND's defaults (expiry 0 → one day, CLTV 0 → 80).
    pub(crate) fn validate(
        memo: String,
        value_sat: i64,
        value_msat: i64,
        description_hash: Vec<u8>,
        expiry: i64,
        cltv_expiry: u64,
        private: bool,
    ) -> Result<Self, LndStatus> {
        if value_sat != 0 && value_msat != 0 {
            return Err(LndStatus::ValueMutuallyExclusive);
        }
        let value_msat = if value_sat != 0 {
            u64::try_from(value_sat)
                .map_err(|_| LndStatus::NegativeAmount)?
                .saturating_mul(1000)
        } else {
            u64::try_from(value_msat).map_err(|_| LndStatus::NegativeAmount)?
        };
        if value_msat > MAX_AMOUNT_MSAT {
            return Err(LndStatus::AmountTooLarge(value_msat));
        }
        if memo.len() > MAX_MEMO_BYTES {
            return Err(LndStatus::MemoTooLarge(memo.len()));
        }
        if !description_hash.is_empty() && description_hash.len() != 32 {
            return Err(LndStatus::DescriptionHashLength(description_hash.len()));
        }
        let expiry = match u64::try_from(expiry).map_err(|_| LndStatus::NegativeExpiry)? {
            0 => DEFAULT_EXPIRY_SECS,
            secs => secs,
        };
        let cltv_expiry = if cltv_expiry == 0 {
            DEFAULT_CLTV_EXPIRY
        } else {
            cltv_expiry
        };
        Ok(NewInvoice {
            memo,
            preimage: None,
            hold_hash: None,
            value_msat,
            description_hash,
            expiry,
            cltv_expiry,
            private,
        })
    }
}

/// Stores the invoice on `node` and returns it with its payment request.
pub(crate) fn issue(node: &NodeState, new: NewInvoice) -> Result<InvoiceRecord, LndStatus> {
    let (preimage, hash, hold) = match (new.preimage, new.hold_hash) {
        (_, Some(hash)) => (None, hash, true),
        (Some(preimage), None) => (Some(preimage), Sha256::digest(preimage).into(), false),
        (None, None) => {
            let preimage: [u8; 32] = rand::random();
            (Some(preimage), Sha256::digest(preimage).into(), false)
        }
    };
    let payment_addr: [u8; 32] = rand::random();
    let now = node.network.now_unix();
    let request = PaymentRequest {
        network: REGTEST.to_string(),
        amount_msat: (new.value_msat != 0).then_some(new.value_msat),
        timestamp: now,
        payment_hash: hash,
        payment_secret: Some(payment_addr),
        description: new.memo.clone(),
        description_hash: <[u8; 32]>::try_from(new.description_hash.as_slice()).ok(),
        payee: node.key.pubkey(),
        expiry_secs: new.expiry,
        min_final_cltv_expiry: new.cltv_expiry,
        feature_bits: INVOICE_FEATURE_BITS.to_vec(),
    };
    let record = InvoiceRecord {
        hash,
        preimage,
        memo: new.memo,
        description_hash: new.description_hash,
        value_msat: new.value_msat,
        creation_date: now,
        settle_date: 0,
        expiry: new.expiry,
        cltv_expiry: new.cltv_expiry,
        payment_request: request.encode(&node.key),
        payment_addr,
        private: new.private,
        add_index: 0,
        settle_index: 0,
        amt_paid_msat: 0,
        state: InvoiceState::Open,
        hold,
        held_htlc: None,
    };
    let stored = node.ledger().add_invoice(record)?;
    node.publish_invoice(stored.clone());
    Ok(stored)
}
