//! [`L402Gate`]: the payment gate of a broker with `[payments]` (steps 1–8
//! of "PaymentGate (design for the broker)" in the payments crate README).
//!
//! ```text
//! (every blob, also at price 0: the invoice is at least min_invoice_msat)
//! no / malformed / refused token → UNAUTHENTICATED + fresh challenge
//! index: our invoice? reserve a use (used up → challenge)
//! LND lookup_invoice             → down/slow: release, UNAVAILABLE
//! check_payment(recorded amount) → OPEN: release, FAILED_PRECONDITION
//!                                  refused: release, challenge
//!                                  ok: serve with a Settlement
//! ```

use std::sync::Arc;

use futures::future::BoxFuture;
use shardgate_core::StreamRange;
use shardgate_index::{BlobRecord, IndexError, InvoiceProgress, InvoiceRecord};
use shardgate_payments::l402::PaidRange;
use shardgate_payments::{
    AccessRequest, InvoiceState, PaymentError, PaymentErrorKind, PaymentHash, VerifiedCredential,
    check_payment, parse_authorization,
};

use crate::clock::now_unix_ms;
use crate::error::BrokerError;
use crate::payment::cashier::Cashier;
use crate::payment::credit::{self, CreditRefusal};
use crate::payment::refusal::refusal_reason;
use crate::payment::settlement::Settlement;
use crate::payment::{DownloadGrant, DownloadRequest, PaymentGate};

/// Sells downloads over Lightning (L402).
#[derive(Clone)]
pub(crate) struct L402Gate {
    cashier: Arc<Cashier>,
}

impl L402Gate {
    pub(crate) fn new(cashier: Arc<Cashier>) -> L402Gate {
        L402Gate { cashier }
    }

    async fn authorize_paid(
        &self,
        blob: &BlobRecord,
        range: StreamRange,
        request: DownloadRequest,
        credential: Option<&str>,
    ) -> Result<DownloadGrant, BrokerError> {
        // Malformed challenge parameters are the caller's to fix, whatever
        // the credential.
        self.cashier
            .resolve_uses(request.uses, request.hold_invoice)?;
        let Some(value) = credential else {
            return Err(self
                .challenge(
                    blob,
                    range,
                    request,
                    format!(
                        "blob {} has a download price: pay the invoice in www-authenticate, then retry with `authorization: L402 <macaroon>:<preimage>`",
                        blob.blob_id
                    ),
                )
                .await);
        };
        if let Some(credential) = credit_credential(value) {
            return self
                .authorize_credit(&credential, blob, range, request)
                .await;
        }
        let verified = match self.verify(value, blob, range, request.share) {
            Ok(verified) => verified,
            Err(reason) => return Err(self.challenge(blob, range, request, reason).await),
        };
        let hash = verified.payment_hash;
        let Some(invoice) = self.cashier.index.invoice(&hash.0).await? else {
            let reason = "credential was not issued by this broker (no such invoice)".to_owned();
            return Err(self.challenge(blob, range, request, reason).await);
        };
        if request.direct && invoice.hold {
            return Err(BrokerError::FailedPrecondition(
                "hold-invoice credentials only work with Storage.Get (the broker cannot observe a direct delivery)"
                    .to_owned(),
            ));
        }
        if invoice.progress == InvoiceProgress::Canceled {
            let reason = "the invoice of this credential was canceled; create a new invoice";
            return Err(self
                .challenge(blob, range, request, reason.to_owned())
                .await);
        }
        let reserved = match self.cashier.index.reserve_use(&hash.0).await {
            Ok(reserved) => reserved,
            Err(IndexError::UsesExhausted { used, uses }) => {
                let reason = format!("credential used up: {used} of {uses} uses spent");
                return Err(self.challenge(blob, range, request, reason).await);
            }
            Err(e) => return Err(e.into()),
        };
        // From here every refusal gives the use back.
        match self.check_paid(&verified, reserved).await {
            Ok(grant) => Ok(grant),
            Err(refusal) => {
                if let Err(e) = self.cashier.index.release_use(&hash.0).await {
                    tracing::error!(payment_hash = %hash, error = %e, "cannot release a credential use");
                }
                Err(match refusal {
                    Refusal::Challenge(reason) => {
                        self.challenge(blob, range, request, reason).await
                    }
                    Refusal::Error(e) => e,
                })
            }
        }
    }

    /// A download paid from prepaid credit: verify, make sure the credit is
    /// funded (one LND lookup in its life), take the price in one index
    /// transaction. Not enough credit: this download's challenge, naming
    /// the balance.
    async fn authorize_credit(
        &self,
        credential: &shardgate_payments::L402Credential,
        blob: &BlobRecord,
        range: StreamRange,
        request: DownloadRequest,
    ) -> Result<DownloadGrant, BrokerError> {
        if request.share.is_some() {
            let reason = "prepaid credit pays Storage.Get and /b/ downloads, not share links: pay this link's invoice";
            return Err(self
                .challenge(blob, range, request, reason.to_owned())
                .await);
        }
        let refused = |refusal| async move {
            match refusal {
                CreditRefusal::Challenge(reason) => {
                    self.challenge(blob, range, request, reason).await
                }
                CreditRefusal::Error(e) => e,
            }
        };
        let (_, record) = match credit::funded_credit(&self.cashier, credential).await {
            Ok(found) => found,
            Err(refusal) => return Err(refused(refusal).await),
        };
        match credit::reserve_download(&self.cashier, &record, blob, range).await {
            Ok(spend) => Ok(DownloadGrant {
                uses_remaining: 0,
                hold: false,
                settlement: Settlement::credit(self.cashier.clone(), spend),
            }),
            Err(refusal) => Err(refused(refusal).await),
        }
    }

    /// Steps 2–3: parse and verify; the reason of a refusal otherwise.
    fn verify(
        &self,
        value: &str,
        blob: &BlobRecord,
        range: StreamRange,
        share: Option<[u8; 16]>,
    ) -> Result<VerifiedCredential, String> {
        if !value.is_ascii() {
            return Err("authorization metadata is not ASCII".to_owned());
        }
        let credential = parse_authorization(value).map_err(|e| e.to_string())?;
        let access = AccessRequest {
            blob: blob.blob_id,
            range: PaidRange {
                offset: range.offset,
                length: range.length,
            },
            now_unix: now_unix_ms() / 1000,
            share,
        };
        self.cashier
            .keys
            .verify(&credential, &access)
            .map_err(|e| refusal_reason(&e, &credential, &access))
    }

    /// Steps 4b–6, a use reserved: the token's own `uses` caveat, the
    /// node's view of the invoice, the recorded amount.
    async fn check_paid(
        &self,
        verified: &VerifiedCredential,
        reserved: InvoiceRecord,
    ) -> Result<DownloadGrant, Refusal> {
        let allowed = reserved.uses.min(verified.max_uses);
        if reserved.used > allowed {
            return Err(Refusal::Challenge(format!(
                "credential used up: {} of {allowed} uses spent",
                reserved.used - 1
            )));
        }
        let hash = PaymentHash(reserved.payment_hash);
        let node = self.cashier.lnd.node().map_err(Refusal::Error)?;
        let status = match node.lookup_invoice(&hash).await {
            Ok(status) => status,
            Err(PaymentError::InvoiceNotFound { .. }) => {
                return Err(Refusal::Challenge(
                    "the Lightning node does not know this credential's invoice; create a new invoice"
                        .to_owned(),
                ));
            }
            Err(e) => return Err(Refusal::Error(e.into())),
        };
        let now_ms = now_unix_ms();
        if reserved.hold && status.state == InvoiceState::Accepted {
            let marked = self
                .cashier
                .index
                .mark_hold_accepted(&hash.0, now_ms)
                .await
                .map_err(|e| Refusal::Error(e.into()))?;
            let accepted_at = marked.hold_accepted_at_unix_ms.unwrap_or(now_ms);
            let timeout_ms = self.cashier.config.hold_accept_timeout_secs * 1000;
            if now_ms >= accepted_at.saturating_add(timeout_ms) {
                return Err(Refusal::Challenge(format!(
                    "the hold invoice was paid more than {} s ago and not used in time; it is canceled and the payer keeps the funds",
                    self.cashier.config.hold_accept_timeout_secs
                )));
            }
        }
        match check_payment(verified.proof, &status, reserved.amount_msat, now_ms / 1000) {
            Ok(grant) => {
                if grant.settle_on_delivery && !reserved.hold {
                    // Regular invoices never wait in ACCEPTED; refuse
                    // rather than serve something we could not settle.
                    return Err(Refusal::Error(BrokerError::Internal(format!(
                        "regular invoice {hash} is ACCEPTED"
                    ))));
                }
                let settled_at = status.settle_unix.map(|s| s.saturating_mul(1000));
                let uses_remaining = allowed - reserved.used;
                let hold = reserved.hold;
                Ok(DownloadGrant {
                    uses_remaining,
                    hold,
                    settlement: Settlement::paid(self.cashier.clone(), reserved, settled_at),
                })
            }
            Err(e) if e.kind() == PaymentErrorKind::Unauthenticated => {
                Err(Refusal::Challenge(e.to_string()))
            }
            Err(e) => Err(Refusal::Error(e.into())),
        }
    }

    /// UNAUTHENTICATED with a fresh invoice for the requested range; if no
    /// invoice can be made (LND down), that error instead — never a free
    /// download.
    async fn challenge(
        &self,
        blob: &BlobRecord,
        range: StreamRange,
        request: DownloadRequest,
        reason: String,
    ) -> BrokerError {
        let issued = match self
            .cashier
            .issue(
                blob,
                range,
                request.hold_invoice,
                request.uses,
                request.share,
                &request.payer,
            )
            .await
        {
            Ok(issued) => issued,
            Err(e) => return e,
        };
        match issued.challenge() {
            Ok(challenge) => BrokerError::PaymentRequired {
                reason,
                challenge,
                invoice: Box::new(issued.summary()),
            },
            Err(e) => e,
        }
    }
}

/// The credential, if it is a well-formed credit credential (its
/// signature is checked by the credit path).
fn credit_credential(value: &str) -> Option<shardgate_payments::L402Credential> {
    if !value.is_ascii() {
        return None;
    }
    parse_authorization(value)
        .ok()
        .filter(shardgate_payments::is_credit_credential)
}

/// Why a reserved use is given back.
enum Refusal {
    /// Answer with a challenge, for this reason.
    Challenge(String),
    /// Answer with this error (UNAVAILABLE, FAILED_PRECONDITION, ...).
    Error(BrokerError),
}

impl PaymentGate for L402Gate {
    fn authorize<'a>(
        &'a self,
        blob: &'a BlobRecord,
        range: StreamRange,
        request: DownloadRequest,
        credential: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DownloadGrant, BrokerError>> {
        // No shortcut for a zero price: with payments on, every download is
        // paid (storage.proto), at least `min_invoice_msat` (common.proto
        // Price), so providers are paid for every shard they serve.
        Box::pin(async move { self.authorize_paid(blob, range, request, credential).await })
    }
}
