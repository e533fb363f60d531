//! The last step before serving: does the node's view of the invoice pay
//! for this credential? (storage.proto, "Paying for a download").
//!
//! | proof \ state | OPEN | ACCEPTED ≥ price | SETTLED ≥ price | CANCELED |
//! |---|---|---|---|---|
//! | preimage | not paid yet | serve (hold) | serve | refused |
//! | empty (hold) | not paid yet | serve (hold) | refused: needs preimage | refused |
//!
//! "Not paid yet" is FAILED_PRECONDITION (the caller waits and retries);
//! everything refused is UNAUTHENTICATED with a fresh challenge. An amount
//! paid below the price is refused, never served partially.

use crate::error::PaymentError;
use crate::l402::PaymentProof;
use crate::lnd::{InvoiceState, InvoiceStatus};

/// Permission to serve, and how to finish the payment afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentGrant {
    /// The invoice is a hold invoice in ACCEPTED: settle it after complete
    /// delivery, cancel it if the broker fails to deliver.
    pub settle_on_delivery: bool,
}

/// Decides from the verified proof and the node's current invoice status.
/// `now_unix` tells an expired invoice from one the broker canceled (for
/// the message only: both are refused).
pub fn check_payment(
    proof: PaymentProof,
    status: &InvoiceStatus,
    price_msat: u64,
    now_unix: u64,
) -> Result<PaymentGrant, PaymentError> {
    let paid = |min: u64| {
        if status.amt_paid_msat >= min {
            Ok(())
        } else {
            Err(PaymentError::Underpaid {
                paid_msat: status.amt_paid_msat,
                price_msat: min,
            })
        }
    };
    match (status.state, proof) {
        (InvoiceState::Open, _) => Err(PaymentError::InvoiceNotPaid {
            payment_hash: status.payment_hash.to_hex(),
        }),
        (InvoiceState::Accepted, _) => {
            paid(price_msat)?;
            Ok(PaymentGrant {
                settle_on_delivery: true,
            })
        }
        (InvoiceState::Settled, PaymentProof::Preimage) => {
            paid(price_msat)?;
            Ok(PaymentGrant {
                settle_on_delivery: false,
            })
        }
        (InvoiceState::Settled, PaymentProof::AwaitingHoldSettlement) => {
            Err(PaymentError::PreimageRequired)
        }
        (InvoiceState::Canceled, _) => Err(PaymentError::InvoiceCanceled {
            expired: status.is_expired(now_unix),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PaymentErrorKind;
    use crate::l402::PaymentHash;

    fn status(state: InvoiceState, paid: u64) -> InvoiceStatus {
        InvoiceStatus {
            payment_hash: PaymentHash([3; 32]),
            state,
            value_msat: 1_000,
            amt_paid_msat: paid,
            preimage: None,
            payment_request: String::new(),
            memo: String::new(),
            creation_unix: 100,
            expiry_secs: 60,
            settle_unix: None,
            add_index: 1,
            settle_index: 0,
        }
    }

    #[test]
    fn the_table_holds() {
        use InvoiceState::{Accepted, Canceled, Open, Settled};
        use PaymentProof::{AwaitingHoldSettlement as Hold, Preimage as Pre};
        let kind = |proof, st, paid| {
            check_payment(proof, &status(st, paid), 1_000, 120).map_err(|e| e.kind())
        };
        let serve = |settle| {
            Ok(PaymentGrant {
                settle_on_delivery: settle,
            })
        };
        assert_eq!(kind(Pre, Settled, 1_000), serve(false));
        assert_eq!(kind(Pre, Settled, 1_500), serve(false), "overpaid is fine");
        assert_eq!(kind(Pre, Accepted, 1_000), serve(true));
        assert_eq!(kind(Hold, Accepted, 1_000), serve(true));
        for proof in [Pre, Hold] {
            assert_eq!(
                kind(proof, Open, 0),
                Err(PaymentErrorKind::FailedPrecondition)
            );
            assert_eq!(
                kind(proof, Canceled, 0),
                Err(PaymentErrorKind::Unauthenticated)
            );
        }
        assert_eq!(
            kind(Hold, Settled, 1_000),
            Err(PaymentErrorKind::Unauthenticated)
        );
        assert_eq!(
            kind(Pre, Settled, 999),
            Err(PaymentErrorKind::Unauthenticated)
        );
        assert_eq!(
            kind(Hold, Accepted, 999),
            Err(PaymentErrorKind::Unauthenticated)
        );
    }

    #[test]
    fn expiry_is_named_in_the_refusal() {
        let canceled = status(InvoiceState::Canceled, 0);
        let early = check_payment(PaymentProof::Preimage, &canceled, 1, 120);
        assert!(matches!(
            early,
            Err(PaymentError::InvoiceCanceled { expired: false })
        ));
        let late = check_payment(PaymentProof::Preimage, &canceled, 1, 160);
        assert!(matches!(
            late,
            Err(PaymentError::InvoiceCanceled { expired: true })
        ));
    }
}
