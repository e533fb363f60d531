//! The Payments RPCs that move money out of or into a balance other than
//! per-download invoices: Withdraw and GetPayout (payouts),
//! Set/GetPayoutAddress (standing orders to a Lightning Address), BuyCredit
//! and GetCreditBalance (prepaid credit). The work is in
//! `payment::payouts`, `payment::auto_payout` and `payment::credit`; here:
//! who may ask, and the messages.

use shardgate_index::{
    LedgerAccount, LedgerAccountKind, PayoutAddressRecord, PayoutOrigin, PayoutRecord, PayoutState,
};
use shardgate_payments::{PaymentHash, parse_authorization};
use shardgate_proto::v1 as pb;
use tonic::metadata::MetadataMap;

use crate::clock::now_unix_ms;
use crate::convert::timestamp;
use crate::error::BrokerError;
use crate::limits::Payer;
use crate::payment::credit::{self, CreditRefusal, SoldCredit};
use crate::payment::payouts;
use crate::service::payment_credential;
use crate::service::payments::{PaymentsService, Viewer, account_message, account_of};

impl PaymentsService {
    /// The account a caller may pay out of: a tenant its own OWNER account,
    /// the admin any OWNER, PROVIDER or BROKER account it names.
    async fn payout_account(
        &self,
        metadata: &MetadataMap,
        requested: Option<&pb::Account>,
    ) -> Result<(Viewer, LedgerAccount), BrokerError> {
        let requested = requested.map(account_of).transpose()?.flatten();
        match self.viewer(metadata).await? {
            Viewer::Tenant(tenant) => {
                let own = LedgerAccount::owner(&tenant.id);
                if requested.as_ref().is_some_and(|a| *a != own) {
                    return Err(BrokerError::PermissionDenied(
                        "a tenant key can only withdraw from its own OWNER account; other accounts need x-admin-key"
                            .to_owned(),
                    ));
                }
                Ok((Viewer::Tenant(tenant), own))
            }
            Viewer::Admin => {
                let account = requested.ok_or_else(|| {
                    BrokerError::invalid(
                        "account",
                        "with x-admin-key, name the OWNER, PROVIDER or BROKER account to pay out of",
                    )
                })?;
                if !matches!(
                    account.kind,
                    LedgerAccountKind::Owner
                        | LedgerAccountKind::Provider
                        | LedgerAccountKind::Broker
                ) {
                    return Err(BrokerError::invalid(
                        "account.kind",
                        "only OWNER, PROVIDER and BROKER accounts can be paid out",
                    ));
                }
                Ok((Viewer::Admin, account))
            }
        }
    }

    pub(super) async fn withdraw(
        &self,
        metadata: &MetadataMap,
        req: &pb::WithdrawRequest,
    ) -> Result<pb::Payout, BrokerError> {
        let cashier = self.cashier()?;
        let (_, account) = self.payout_account(metadata, req.account.as_ref()).await?;
        if req.payment_request.trim().is_empty() {
            return Err(BrokerError::invalid(
                "payment_request",
                "a BOLT11 invoice to pay is required",
            ));
        }
        let payout = payouts::withdraw(
            cashier,
            account,
            &req.payment_request,
            PayoutOrigin::Withdrawal,
        )
        .await?;
        Ok(payout_message(&payout))
    }

    pub(super) async fn get_payout(
        &self,
        metadata: &MetadataMap,
        req: &pb::GetPayoutRequest,
    ) -> Result<pb::Payout, BrokerError> {
        let cashier = self.cashier()?;
        let hash = PaymentHash::from_hex(&req.payment_hash).map_err(|_| {
            BrokerError::invalid("payment_hash", "must be 64 lowercase hex characters")
        })?;
        let viewer = self.viewer(metadata).await?;
        let missing = || BrokerError::NotFound(format!("no payout with payment hash {hash}"));
        let payout = payouts::current(cashier, &hash)
            .await?
            .ok_or_else(missing)?;
        if let Viewer::Tenant(tenant) = viewer
            && payout.account != LedgerAccount::owner(&tenant.id)
        {
            // Another account's payout: the same answer as none at all.
            return Err(missing());
        }
        Ok(payout_message(&payout))
    }

    pub(super) async fn set_payout_address(
        &self,
        metadata: &MetadataMap,
        req: &pb::SetPayoutAddressRequest,
    ) -> Result<pb::PayoutAddress, BrokerError> {
        let cashier = self.cashier()?;
        let (_, account) = self.payout_account(metadata, req.account.as_ref()).await?;
        let address = req.lightning_address.trim();
        if address.is_empty() {
            cashier.index.remove_payout_address(&account).await?;
            return Ok(pb::PayoutAddress {
                account: Some(account_message(&account)),
                ..Default::default()
            });
        }
        let address = shardgate_payments::lnurl::LightningAddress::parse(address)
            .map_err(|e| BrokerError::invalid("lightning_address", e.to_string()))?;
        if req.threshold_msat < cashier.config.min_withdrawal_msat {
            return Err(BrokerError::invalid(
                "threshold_msat",
                format!(
                    "must be at least the smallest withdrawal, {} msat",
                    cashier.config.min_withdrawal_msat
                ),
            ));
        }
        let record = PayoutAddressRecord {
            account,
            address: address.to_string(),
            threshold_msat: req.threshold_msat,
            failures: 0,
            next_attempt_at_unix_ms: 0,
            last_error: None,
            updated_at_unix_ms: now_unix_ms(),
        };
        cashier.index.put_payout_address(record.clone()).await?;
        Ok(payout_address_message(&record))
    }

    pub(super) async fn get_payout_address(
        &self,
        metadata: &MetadataMap,
        req: &pb::GetPayoutAddressRequest,
    ) -> Result<pb::PayoutAddress, BrokerError> {
        let cashier = self.cashier()?;
        let (_, account) = self.payout_account(metadata, req.account.as_ref()).await?;
        let record = cashier
            .index
            .payout_address(&account)
            .await?
            .ok_or_else(|| {
                BrokerError::NotFound("no Lightning Address set for this account".to_owned())
            })?;
        Ok(payout_address_message(&record))
    }

    pub(super) async fn buy_credit(
        &self,
        metadata: &MetadataMap,
        peer: Option<std::net::IpAddr>,
        req: &pb::BuyCreditRequest,
    ) -> Result<pb::CreditInvoice, BrokerError> {
        let cashier = self.cashier()?;
        let caller = self.broker.auth.optional_tenant(metadata).await?;
        let sold = credit::buy_credit(
            cashier,
            req.amount_msat,
            &Payer::grpc(peer, caller.as_ref()),
        )
        .await?;
        Ok(credit_invoice_message(&sold))
    }

    pub(super) async fn credit_balance(
        &self,
        metadata: &MetadataMap,
    ) -> Result<pb::CreditBalance, BrokerError> {
        let cashier = self.cashier()?;
        let value = payment_credential(metadata).ok_or_else(|| {
            BrokerError::Unauthenticated(
                "send the credit credential as `authorization: L402 <token>:<preimage>`".to_owned(),
            )
        })?;
        let credential = parse_authorization(&value)
            .map_err(|e| BrokerError::Unauthenticated(format!("authorization: {e}")))?;
        let (verified, record) = match credit::funded_credit(cashier, &credential).await {
            Ok(found) => found,
            Err(CreditRefusal::Challenge(reason)) => {
                return Err(BrokerError::Unauthenticated(reason));
            }
            Err(CreditRefusal::Error(e)) => return Err(e),
        };
        Ok(pb::CreditBalance {
            payment_hash: verified.payment_hash.to_hex(),
            purchased_msat: record.amount_msat,
            balance_msat: credit::balance_msat(cashier, &verified.payment_hash).await?,
            credential_expires_at: Some(timestamp(record.credential_expires_at_unix_ms)),
        })
    }
}

fn payout_message(p: &PayoutRecord) -> pb::Payout {
    let (state, fee_msat, failure_reason, preimage) = match &p.state {
        PayoutState::InFlight => (pb::PayoutState::InFlight, 0, String::new(), String::new()),
        PayoutState::Succeeded { fee_msat, preimage } => (
            pb::PayoutState::Succeeded,
            *fee_msat,
            String::new(),
            hex::encode(preimage),
        ),
        PayoutState::Failed { reason } => {
            (pb::PayoutState::Failed, 0, reason.clone(), String::new())
        }
    };
    pb::Payout {
        payment_hash: hex::encode(p.payment_hash),
        account: Some(account_message(&p.account)),
        amount_msat: p.amount_msat,
        fee_reserve_msat: p.fee_reserve_msat,
        fee_msat,
        state: state as i32,
        failure_reason,
        preimage,
        attempt: p.attempt,
        started_at: Some(timestamp(p.started_at_unix_ms)),
        finished_at: p.finished_at_unix_ms.map(timestamp),
        payment_request: p.payment_request.clone(),
    }
}

fn payout_address_message(r: &PayoutAddressRecord) -> pb::PayoutAddress {
    pb::PayoutAddress {
        account: Some(account_message(&r.account)),
        lightning_address: r.address.clone(),
        threshold_msat: r.threshold_msat,
        failures: r.failures,
        next_attempt_at: Some(timestamp(r.next_attempt_at_unix_ms)),
        last_error: r.last_error.clone().unwrap_or_default(),
    }
}

fn credit_invoice_message(sold: &SoldCredit) -> pb::CreditInvoice {
    let r = &sold.record;
    pb::CreditInvoice {
        payment_request: r.payment_request.clone(),
        payment_hash: hex::encode(r.payment_hash),
        amount_msat: r.amount_msat,
        expires_at: Some(timestamp(r.expires_at_unix_ms)),
        l402_token: sold.token.clone(),
        credential_expires_at: Some(timestamp(r.credential_expires_at_unix_ms)),
    }
}
