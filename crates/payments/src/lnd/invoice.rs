//! Invoice states as the broker needs them, converted from LND's messages
//! with every field checked (a negative amount or a hash of the wrong
//! length is an unusable answer, never "paid").

use lnd_grpc_rust::lnrpc;

use crate::error::PaymentError;
use crate::l402::{PaymentHash, Preimage};

/// Lifecycle of an invoice on the node (LND's `Invoice.InvoiceState`).
/// LND reports an expired unpaid invoice as `Canceled`; see
/// [`InvoiceStatus::is_expired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceState {
    /// Not paid yet.
    Open,
    /// Hold invoice only: paid and locked until settled or canceled.
    Accepted,
    /// Paid and final.
    Settled,
    /// Canceled (by us, or by LND because it expired unpaid).
    Canceled,
}

/// A created invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvoice {
    /// The hash the invoice is locked to (ours for hold invoices, the
    /// node's otherwise).
    pub payment_hash: PaymentHash,
    /// BOLT 11 string for the payer's wallet.
    pub payment_request: String,
    /// LND's sequence number of the invoice.
    pub add_index: u64,
}

/// What the node says about one invoice now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceStatus {
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// Its state on the node (OPEN, ACCEPTED, SETTLED, CANCELED).
    pub state: InvoiceState,
    /// Amount asked.
    pub value_msat: u64,
    /// Amount received (set on ACCEPTED and SETTLED; may exceed the value).
    pub amt_paid_msat: u64,
    /// Known once settled (and always for non-hold invoices we created).
    pub preimage: Option<Preimage>,
    /// BOLT 11 string the payer's wallet pays.
    pub payment_request: String,
    /// The description given at creation.
    pub memo: String,
    /// Creation time, unix seconds.
    pub creation_unix: u64,
    /// Seconds after creation until an unpaid invoice is canceled.
    pub expiry_secs: u64,
    /// Set when settled.
    pub settle_unix: Option<u64>,
    /// LND's sequence number of the invoice's creation.
    pub add_index: u64,
    /// LND's sequence number of its settlement; 0 until settled.
    pub settle_index: u64,
}

impl InvoiceStatus {
    /// Unix second after which the invoice can no longer be paid.
    pub fn expires_at_unix(&self) -> u64 {
        self.creation_unix.saturating_add(self.expiry_secs)
    }

    /// True when the invoice is CANCELED, unpaid, and its expiry has passed:
    /// the API's EXPIRED. LND does not record who canceled, so an invoice
    /// the broker canceled and whose expiry later passed also reads as
    /// expired; the broker's own invoice record tells the two apart.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        self.state == InvoiceState::Canceled
            && self.amt_paid_msat == 0
            && now_unix >= self.expires_at_unix()
    }

    /// True when the invoice is SETTLED for at least `price_msat`.
    pub fn is_settled_for(&self, price_msat: u64) -> bool {
        self.state == InvoiceState::Settled && self.amt_paid_msat >= price_msat
    }

    /// True when a hold invoice is ACCEPTED for at least `price_msat`.
    pub fn is_accepted_for(&self, price_msat: u64) -> bool {
        self.state == InvoiceState::Accepted && self.amt_paid_msat >= price_msat
    }
}

fn unusable(op: &'static str, detail: impl Into<String>) -> PaymentError {
    PaymentError::LndProtocol {
        op,
        detail: detail.into(),
    }
}

fn non_negative(op: &'static str, field: &str, value: i64) -> Result<u64, PaymentError> {
    u64::try_from(value).map_err(|_| unusable(op, format!("{field} is negative ({value})")))
}

pub(crate) fn status_from(
    op: &'static str,
    inv: lnrpc::Invoice,
) -> Result<InvoiceStatus, PaymentError> {
    use lnrpc::invoice::InvoiceState as Lnd;
    let state = match Lnd::try_from(inv.state) {
        Ok(Lnd::Open) => InvoiceState::Open,
        Ok(Lnd::Accepted) => InvoiceState::Accepted,
        Ok(Lnd::Settled) => InvoiceState::Settled,
        Ok(Lnd::Canceled) => InvoiceState::Canceled,
        Err(_) => return Err(unusable(op, format!("unknown invoice state {}", inv.state))),
    };
    let payment_hash = PaymentHash::from_slice(&inv.r_hash)
        .ok_or_else(|| unusable(op, format!("r_hash is {} bytes", inv.r_hash.len())))?;
    let preimage = match inv.r_preimage.len() {
        0 => None,
        _ => {
            let p = Preimage::from_slice(&inv.r_preimage)
                .ok_or_else(|| unusable(op, "r_preimage is not 32 bytes"))?;
            // A preimage that does not hash to the invoice would make every
            // later check meaningless: refuse the whole answer.
            if p.payment_hash() != payment_hash {
                return Err(unusable(op, "r_preimage does not match r_hash"));
            }
            Some(p)
        }
    };
    let settle_unix = match (state, inv.settle_date) {
        (InvoiceState::Settled, d) if d > 0 => Some(non_negative(op, "settle_date", d)?),
        _ => None,
    };
    Ok(InvoiceStatus {
        payment_hash,
        state,
        value_msat: non_negative(op, "value_msat", inv.value_msat)?,
        amt_paid_msat: non_negative(op, "amt_paid_msat", inv.amt_paid_msat)?,
        preimage,
        payment_request: inv.payment_request,
        memo: inv.memo,
        creation_unix: non_negative(op, "creation_date", inv.creation_date)?,
        expiry_secs: non_negative(op, "expiry", inv.expiry)?,
        settle_unix,
        add_index: inv.add_index,
        settle_index: inv.settle_index,
    })
}
