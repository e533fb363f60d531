//! One node's books: its local balance, the invoices it issued and the
//! payments it sent. Pure state transitions, no I/O and no locking: the node
//! wraps a `Ledger` in a mutex, and a payment between two nodes touches each
//! ledger in turn (never both at once), so there is no lock ordering to get
//! wrong.

use std::collections::{BTreeMap, HashMap};

use crate::lnd_status::LndStatus;
use crate::proto::lnrpc::PaymentFailureReason;
use crate::records::{HeldHtlc, InvoiceRecord, InvoiceState, PaymentRecord, PaymentStatus};

/// What an incoming HTLC did to an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HtlcOutcome {
    /// Normal invoice: settled at once; the payer learns the preimage.
    Settled([u8; 32]),
    /// Hold invoice: accepted; the payer waits for settle or cancel.
    Accepted,
    /// Unknown hash, wrong amount or secret, expired, already paid or
    /// canceled: the payee fails the HTLC with
    /// `incorrect_or_unknown_payment_details`, as LND does.
    Rejected,
}

/// An HTLC arriving at the payee.
#[derive(Debug, Clone)]
pub(crate) struct IncomingHtlc {
    pub hash: [u8; 32],
    pub payment_addr: Option<[u8; 32]>,
    pub amount_msat: u64,
    pub payer_pubkey: String,
}

/// A hold invoice's state change by SettleInvoice or CancelInvoice.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub invoice: InvoiceRecord,
    /// The HTLC that was held, whose payer must now be told.
    pub held: Option<HeldHtlc>,
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    balance_msat: u64,
    invoices: BTreeMap<u64, InvoiceRecord>,
    add_index_by_hash: HashMap<[u8; 32], u64>,
    next_settle_index: u64,
    payments: HashMap<[u8; 32], PaymentRecord>,
    next_payment_index: u64,
}

impl Ledger {
    pub(crate) fn new(balance_msat: u64) -> Self {
        Ledger {
            balance_msat,
            ..Ledger::default()
        }
    }

    pub(crate) fn balance_msat(&self) -> u64 {
        self.balance_msat
    }

    /// Sum of outgoing payments still in flight, fees included (LND's
    /// unsettled local balance).
    pub(crate) fn in_flight_msat(&self) -> u64 {
        self.payments
            .values()
            .filter(|p| p.status == PaymentStatus::InFlight)
            .map(PaymentRecord::locked_msat)
            .sum()
    }

    /// Stores a new invoice, assigning its add index.
    pub(crate) fn add_invoice(
        &mut self,
        mut invoice: InvoiceRecord,
    ) -> Result<InvoiceRecord, LndStatus> {
        if self.add_index_by_hash.contains_key(&invoice.hash) {
            return Err(LndStatus::DuplicateInvoice);
        }
        let add_index = self.invoices.len() as u64 + 1;
        invoice.add_index = add_index;
        self.add_index_by_hash.insert(invoice.hash, add_index);
        self.invoices.insert(add_index, invoice.clone());
        Ok(invoice)
    }

    pub(crate) fn invoice(&self, hash: &[u8; 32]) -> Result<&InvoiceRecord, LndStatus> {
        if self.invoices.is_empty() {
            return Err(LndStatus::NoInvoicesCreated);
        }
        self.add_index_by_hash
            .get(hash)
            .and_then(|index| self.invoices.get(index))
            .ok_or(LndStatus::InvoiceNotFound)
    }

    fn invoice_mut(&mut self, hash: &[u8; 32]) -> Result<&mut InvoiceRecord, LndStatus> {
        if self.invoices.is_empty() {
            return Err(LndStatus::NoInvoicesCreated);
        }
        let index = self
            .add_index_by_hash
            .get(hash)
            .ok_or(LndStatus::InvoiceNotFound)?;
        self.invoices
            .get_mut(index)
            .ok_or(LndStatus::InvoiceNotFound)
    }

    pub(crate) fn invoice_by_addr(&self, addr: &[u8; 32]) -> Result<&InvoiceRecord, LndStatus> {
        self.invoices
            .values()
            .find(|inv| &inv.payment_addr == addr)
            .ok_or(LndStatus::InvoiceNotFound)
    }

    /// Invoices in add-index order.
    pub(crate) fn invoices(&self) -> impl DoubleEndedIterator<Item = &InvoiceRecord> {
        self.invoices.values()
    }

    /// Cancels OPEN invoices whose expiry has passed (LND's expiry watcher)
    /// and returns them so subscribers can be told.
    pub(crate) fn expire_due(&mut self, now: u64) -> Vec<InvoiceRecord> {
        let mut expired = Vec::new();
        for invoice in self.invoices.values_mut() {
            let deadline = invoice.creation_date.saturating_add(invoice.expiry);
            if invoice.state == InvoiceState::Open && now > deadline {
                invoice.state = InvoiceState::Canceled;
                expired.push(invoice.clone());
            }
        }
        expired
    }

    /// The payee side of a payment. Returns the outcome and, unless rejected,
    /// the updated invoice.
    pub(crate) fn receive_htlc(
        &mut self,
        htlc: &IncomingHtlc,
        now: u64,
    ) -> (HtlcOutcome, Option<InvoiceRecord>) {
        let next_settle_index = self.next_settle_index + 1;
        let Ok(invoice) = self.invoice_mut(&htlc.hash) else {
            return (HtlcOutcome::Rejected, None);
        };
        let deadline = invoice.creation_date.saturating_add(invoice.expiry);
        let acceptable = invoice.state == InvoiceState::Open
            && now <= deadline
            && htlc.amount_msat >= invoice.value_msat
            && htlc
                .payment_addr
                .is_none_or(|addr| addr == invoice.payment_addr);
        if !acceptable {
            return (HtlcOutcome::Rejected, None);
        }
        invoice.amt_paid_msat = htlc.amount_msat;
        if invoice.hold {
            invoice.state = InvoiceState::Accepted;
            invoice.held_htlc = Some(HeldHtlc {
                payer_pubkey: htlc.payer_pubkey.clone(),
                amount_msat: htlc.amount_msat,
            });
            return (HtlcOutcome::Accepted, Some(invoice.clone()));
        }
        let Some(preimage) = invoice.preimage else {
            // Only hold invoices lack a preimage; treat as unknown details.
            return (HtlcOutcome::Rejected, None);
        };
        invoice.state = InvoiceState::Settled;
        invoice.settle_date = now;
        invoice.settle_index = next_settle_index;
        let settled = invoice.clone();
        self.next_settle_index = next_settle_index;
        self.balance_msat = self.balance_msat.saturating_add(htlc.amount_msat);
        (HtlcOutcome::Settled(preimage), Some(settled))
    }

    /// SettleInvoice: releases an ACCEPTED hold invoice with its preimage.
    /// Settling twice is a no-op (`Ok(None)`), as in LND.
    pub(crate) fn settle_hold(
        &mut self,
        preimage: [u8; 32],
        hash: [u8; 32],
        now: u64,
    ) -> Result<Option<Resolution>, LndStatus> {
        let next_settle_index = self.next_settle_index + 1;
        let invoice = self.invoice_mut(&hash)?;
        match invoice.state {
            InvoiceState::Settled => return Ok(None),
            InvoiceState::Canceled => return Err(LndStatus::InvoiceAlreadyCanceled),
            InvoiceState::Open => return Err(LndStatus::InvoiceStillOpen),
            InvoiceState::Accepted => {}
        }
        invoice.state = InvoiceState::Settled;
        invoice.preimage = Some(preimage);
        invoice.settle_date = now;
        invoice.settle_index = next_settle_index;
        let held = invoice.held_htlc.take();
        let settled = invoice.clone();
        self.next_settle_index = next_settle_index;
        if let Some(htlc) = &held {
            self.balance_msat = self.balance_msat.saturating_add(htlc.amount_msat);
        }
        Ok(Some(Resolution {
            invoice: settled,
            held,
        }))
    }

    /// CancelInvoice: cancels an OPEN or ACCEPTED invoice; canceling twice
    /// is a no-op (`Ok(None)`), as in LND.
    pub(crate) fn cancel(&mut self, hash: &[u8; 32]) -> Result<Option<Resolution>, LndStatus> {
        let invoice = self.invoice_mut(hash)?;
        match invoice.state {
            InvoiceState::Settled => return Err(LndStatus::InvoiceAlreadySettled),
            InvoiceState::Canceled => return Ok(None),
            InvoiceState::Open | InvoiceState::Accepted => {}
        }
        invoice.state = InvoiceState::Canceled;
        invoice.amt_paid_msat = 0;
        let held = invoice.held_htlc.take();
        Ok(Some(Resolution {
            invoice: invoice.clone(),
            held,
        }))
    }

    pub(crate) fn payment(&self, hash: &[u8; 32]) -> Option<&PaymentRecord> {
        self.payments.get(hash)
    }

    /// The payer side: registers a payment and locks its amount plus its
    /// route fee (`payment.fee_msat`). A payment that cannot start is
    /// recorded as FAILED, as LND records it, and returned rather than
    /// raised; the reasons follow LND's path finding:
    ///
    /// - an injected failure, as configured;
    /// - balance below the amount: INSUFFICIENT_BALANCE (`findPath` compares
    ///   the total outgoing balance with the amount alone);
    /// - fee above `fee_limit_msat`, or balance below amount + fee: NO_ROUTE
    ///   (no route fits the fee limit, or the first hop's bandwidth does not
    ///   cover what must be sent into it).
    pub(crate) fn start_payment(
        &mut self,
        mut payment: PaymentRecord,
        fee_limit_msat: u64,
        injected_failure: Option<PaymentFailureReason>,
    ) -> Result<PaymentRecord, LndStatus> {
        match self.payments.get(&payment.hash).map(|p| p.status) {
            Some(PaymentStatus::InFlight) => return Err(LndStatus::PaymentInFlight),
            Some(PaymentStatus::Succeeded) => return Err(LndStatus::AlreadyPaid),
            Some(PaymentStatus::Failed(_)) | None => {}
        }
        self.next_payment_index += 1;
        payment.payment_index = self.next_payment_index;
        let locked = payment.locked_msat();
        payment.status = if let Some(reason) = injected_failure {
            PaymentStatus::Failed(reason)
        } else if payment.value_msat > self.balance_msat {
            PaymentStatus::Failed(PaymentFailureReason::FailureReasonInsufficientBalance)
        } else if payment.fee_msat > fee_limit_msat || locked > self.balance_msat {
            PaymentStatus::Failed(PaymentFailureReason::FailureReasonNoRoute)
        } else {
            self.balance_msat -= locked;
            PaymentStatus::InFlight
        };
        self.payments.insert(payment.hash, payment.clone());
        Ok(payment)
    }

    /// Resolves an in-flight payment: success keeps the locked amount and
    /// fee spent, failure gives both back. Returns None if it was not in
    /// flight.
    pub(crate) fn finish_payment(
        &mut self,
        hash: &[u8; 32],
        outcome: Result<[u8; 32], PaymentFailureReason>,
    ) -> Option<PaymentRecord> {
        let payment = self.payments.get_mut(hash)?;
        if payment.status != PaymentStatus::InFlight {
            return None;
        }
        match outcome {
            Ok(preimage) => {
                payment.status = PaymentStatus::Succeeded;
                payment.preimage = Some(preimage);
            }
            Err(reason) => {
                payment.status = PaymentStatus::Failed(reason);
                self.balance_msat = self.balance_msat.saturating_add(payment.locked_msat());
            }
        }
        Some(payment.clone())
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
