//! What a node remembers about an invoice it issued and a payment it sent,
//! and how each looks on the wire.

use std::collections::HashMap;

use crate::proto::lnrpc;

/// LND's invoice lifecycle. Normal invoices go OPEN → SETTLED; hold invoices
/// go OPEN → ACCEPTED → SETTLED or CANCELED; an OPEN invoice past its expiry
/// becomes CANCELED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvoiceState {
    Open,
    Accepted,
    Settled,
    Canceled,
}

impl InvoiceState {
    /// SETTLED and CANCELED never change again.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, InvoiceState::Settled | InvoiceState::Canceled)
    }

    fn to_proto(self) -> lnrpc::invoice::InvoiceState {
        match self {
            InvoiceState::Open => lnrpc::invoice::InvoiceState::Open,
            InvoiceState::Accepted => lnrpc::invoice::InvoiceState::Accepted,
            InvoiceState::Settled => lnrpc::invoice::InvoiceState::Settled,
            InvoiceState::Canceled => lnrpc::invoice::InvoiceState::Canceled,
        }
    }
}

/// An HTLC held against a hold invoice: who pays, and how much is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldHtlc {
    pub payer_pubkey: String,
    pub amount_msat: u64,
}

/// An invoice issued by this node.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceRecord {
    pub hash: [u8; 32],
    /// Unknown for a hold invoice until it is settled.
    pub preimage: Option<[u8; 32]>,
    pub memo: String,
    pub description_hash: Vec<u8>,
    pub value_msat: u64,
    pub creation_date: u64,
    pub settle_date: u64,
    pub expiry: u64,
    pub cltv_expiry: u64,
    pub payment_request: String,
    pub payment_addr: [u8; 32],
    pub private: bool,
    pub add_index: u64,
    pub settle_index: u64,
    pub amt_paid_msat: u64,
    pub state: InvoiceState,
    pub hold: bool,
    pub held_htlc: Option<HeldHtlc>,
}

impl InvoiceRecord {
    /// The `lnrpc.Invoice` LND would return for this invoice.
    pub(crate) fn to_proto(&self) -> lnrpc::Invoice {
        #[allow(deprecated)]
        lnrpc::Invoice {
            memo: self.memo.clone(),
            r_preimage: self.preimage.map(|p| p.to_vec()).unwrap_or_default(),
            r_hash: self.hash.to_vec(),
            value: msat_to_sat(self.value_msat),
            value_msat: to_i64(self.value_msat),
            settled: self.state == InvoiceState::Settled,
            creation_date: to_i64(self.creation_date),
            settle_date: to_i64(self.settle_date),
            payment_request: self.payment_request.clone(),
            description_hash: self.description_hash.clone(),
            expiry: to_i64(self.expiry),
            fallback_addr: String::new(),
            cltv_expiry: self.cltv_expiry,
            private: self.private,
            add_index: self.add_index,
            settle_index: self.settle_index,
            // LND fills the deprecated field with millisatoshis.
            amt_paid: to_i64(self.amt_paid_msat),
            amt_paid_sat: msat_to_sat(self.amt_paid_msat),
            amt_paid_msat: to_i64(self.amt_paid_msat),
            state: self.state.to_proto() as i32,
            features: invoice_features(),
            is_keysend: false,
            payment_addr: self.payment_addr.to_vec(),
            is_amp: false,
        }
    }
}

/// The feature map LND attaches to invoices (bits as in `bolt11`).
pub(crate) fn invoice_features() -> HashMap<u32, lnrpc::Feature> {
    let named = [
        (8, "tlv-onion"),
        (14, "payment-addr"),
        (17, "multi-path-payments"),
    ];
    named
        .into_iter()
        .map(|(bit, name)| {
            let feature = lnrpc::Feature {
                name: name.to_string(),
                is_required: bit % 2 == 0,
                is_known: true,
            };
            (bit, feature)
        })
        .collect()
}

/// Outcome of an outgoing payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaymentStatus {
    InFlight,
    Succeeded,
    Failed(lnrpc::PaymentFailureReason),
}

/// A payment this node sent (or tried to).
#[derive(Debug, Clone)]
pub(crate) struct PaymentRecord {
    pub hash: [u8; 32],
    pub preimage: Option<[u8; 32]>,
    /// The amount the payee receives.
    pub value_msat: u64,
    /// The route's fee on top of `value_msat`: locked with it while in
    /// flight, spent on success, refunded on failure.
    pub fee_msat: u64,
    pub payment_request: String,
    pub creation_time_ns: u64,
    pub payment_index: u64,
    pub status: PaymentStatus,
}

impl PaymentRecord {
    /// What the payment takes from the payer's balance: amount plus fee.
    pub(crate) fn locked_msat(&self) -> u64 {
        self.value_msat.saturating_add(self.fee_msat)
    }

    pub(crate) fn is_final(&self) -> bool {
        self.status != PaymentStatus::InFlight
    }

    /// The `lnrpc.Payment` update LND streams for this payment.
    pub(crate) fn to_proto(&self) -> lnrpc::Payment {
        let (status, reason) = match self.status {
            PaymentStatus::InFlight => (
                lnrpc::payment::PaymentStatus::InFlight,
                lnrpc::PaymentFailureReason::FailureReasonNone,
            ),
            PaymentStatus::Succeeded => (
                lnrpc::payment::PaymentStatus::Succeeded,
                lnrpc::PaymentFailureReason::FailureReasonNone,
            ),
            PaymentStatus::Failed(reason) => (lnrpc::payment::PaymentStatus::Failed, reason),
        };
        // LND's MarshallPayment sums the route fees of *settled* HTLCs only:
        // an in-flight or failed payment reports fee 0.
        let fee_msat = if self.status == PaymentStatus::Succeeded {
            self.fee_msat
        } else {
            0
        };
        #[allow(deprecated)]
        lnrpc::Payment {
            payment_hash: hex::encode(self.hash),
            value: msat_to_sat(self.value_msat),
            creation_date: to_i64(self.creation_time_ns / 1_000_000_000),
            fee: msat_to_sat(fee_msat),
            // LND prints the zero preimage until the payment succeeds.
            payment_preimage: hex::encode(self.preimage.unwrap_or([0; 32])),
            value_sat: msat_to_sat(self.value_msat),
            value_msat: to_i64(self.value_msat),
            payment_request: self.payment_request.clone(),
            status: status as i32,
            fee_sat: msat_to_sat(fee_msat),
            fee_msat: to_i64(fee_msat),
            creation_time_ns: to_i64(self.creation_time_ns),
            payment_index: self.payment_index,
            failure_reason: reason as i32,
        }
    }
}

/// Millisatoshis to whole satoshis, rounding down as LND does.
pub(crate) fn msat_to_sat(msat: u64) -> i64 {
    to_i64(msat / 1000)
}

/// Amounts are bounded by `MAX_AMOUNT_MSAT` on input, so this never clamps
/// in practice; clamping beats a panic if it ever did.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
