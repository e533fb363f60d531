//! The `shardgate.v1.Payments` service: invoices, payment state, earnings
//! and the ledger. Without `[payments]` every RPC answers
//! FAILED_PRECONDITION.

use std::sync::Arc;

use shardgate_core::StreamLayout;
use shardgate_index::{
    AccountBalance, EntryKind, InvoiceRecord, LedgerAccount, LedgerAccountKind, LedgerEntry,
    LedgerFilter, PostingSide, TenantRecord,
};
use shardgate_payments::{InvoiceState, PaymentError, PaymentHash};
use shardgate_proto::auth_metadata::ADMIN_KEY;
use shardgate_proto::v1 as pb;
use shardgate_proto::v1::payments_server::Payments;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::clock::now_unix_ms;
use crate::convert::{manifest_of, timestamp};
use crate::error::BrokerError;
use crate::get::range::served_range;
use crate::limits::Payer;
use crate::lookup::find_blob;
use crate::payment::{Cashier, IssuedInvoice};
use crate::service::listing::{decode_token, encode_token, page_error, page_size};
use crate::service::reply;
use crate::state::Broker;
use crate::validate::parse_id;

/// Payments service handlers.
#[derive(Clone)]
pub(crate) struct PaymentsService {
    pub(super) broker: Arc<Broker>,
}

/// Who asks for earnings or ledger entries.
pub(super) enum Viewer {
    Admin,
    Tenant(TenantRecord),
}

impl PaymentsService {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    pub(super) fn cashier(&self) -> Result<&Arc<Cashier>, BrokerError> {
        self.broker.cashier.as_ref().ok_or_else(|| {
            BrokerError::FailedPrecondition(
                "payments are not enabled on this broker (no [payments] section in its configuration)"
                    .to_owned(),
            )
        })
    }

    /// `x-admin-key` if sent (and right), else the tenant of `x-api-key`.
    pub(super) async fn viewer(&self, metadata: &MetadataMap) -> Result<Viewer, BrokerError> {
        if metadata.get(ADMIN_KEY).is_some() {
            self.broker.auth.admin(metadata).await?;
            return Ok(Viewer::Admin);
        }
        Ok(Viewer::Tenant(self.broker.auth.tenant(metadata).await?))
    }

    async fn create_invoice(
        &self,
        metadata: &MetadataMap,
        peer: Option<std::net::IpAddr>,
        req: &pb::CreateInvoiceRequest,
    ) -> Result<pb::Invoice, BrokerError> {
        let cashier = self.cashier()?;
        let caller = self.broker.auth.optional_tenant(metadata).await?;
        let id = parse_id(&req.blob_id, "blob_id")?;
        cashier.resolve_uses(req.uses, req.hold)?;
        let blob = find_blob(&self.broker, caller.as_ref(), &id).await?;
        let manifest = manifest_of(&blob)?;
        let range = served_range(StreamLayout::blob_len(&manifest), req.range.as_ref())?;
        let issued = cashier
            .issue(
                &blob,
                range,
                req.hold,
                req.uses,
                None,
                &Payer::grpc(peer, caller.as_ref()),
            )
            .await?;
        Ok(invoice_message(&issued))
    }

    async fn payment_status(
        &self,
        req: &pb::GetPaymentStatusRequest,
    ) -> Result<pb::PaymentStatus, BrokerError> {
        let cashier = self.cashier()?;
        let hash = PaymentHash::from_hex(&req.payment_hash).map_err(|_| {
            BrokerError::invalid("payment_hash", "must be 64 lowercase hex characters")
        })?;
        let missing = || {
            BrokerError::NotFound(format!(
                "this broker never issued an invoice with payment hash {hash}"
            ))
        };
        let mut invoice = cashier.index.invoice(&hash.0).await?.ok_or_else(missing)?;
        let status = match cashier.lnd.node()?.lookup_invoice(&hash).await {
            Ok(status) => status,
            Err(PaymentError::InvoiceNotFound { .. }) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let now = now_unix_ms();
        let state = match status.state {
            InvoiceState::Open => pb::InvoiceState::Open,
            InvoiceState::Accepted => pb::InvoiceState::Accepted,
            InvoiceState::Settled => pb::InvoiceState::Settled,
            InvoiceState::Canceled if status.is_expired(now / 1000) => pb::InvoiceState::Expired,
            InvoiceState::Canceled => pb::InvoiceState::Canceled,
        };
        let mut hold_time_left = None;
        if invoice.hold && status.state == InvoiceState::Accepted {
            // The clock starts when the broker first sees the payment.
            if invoice.hold_accepted_at_unix_ms.is_none() {
                invoice = cashier.index.mark_hold_accepted(&hash.0, now).await?;
            }
            let accepted_at = invoice.hold_accepted_at_unix_ms.unwrap_or(now);
            let deadline =
                accepted_at.saturating_add(cashier.config.hold_accept_timeout_secs * 1000);
            let left_ms = deadline.saturating_sub(now);
            hold_time_left = Some(prost_types::Duration {
                seconds: (left_ms / 1000) as i64,
                nanos: ((left_ms % 1000) * 1_000_000) as i32,
            });
        }
        Ok(pb::PaymentStatus {
            payment_hash: hash.to_hex(),
            state: state as i32,
            amount_msat: invoice.amount_msat,
            amount_paid_msat: status.amt_paid_msat,
            hold: invoice.hold,
            created_at: Some(timestamp(invoice.created_at_unix_ms)),
            expires_at: Some(timestamp(invoice.expires_at_unix_ms)),
            settled_at: status
                .settle_unix
                .filter(|_| status.state == InvoiceState::Settled)
                .map(|s| timestamp(s.saturating_mul(1000))),
            uses: invoice.uses,
            uses_remaining: invoice.uses.saturating_sub(invoice.used),
            hold_time_left,
        })
    }

    async fn earnings(
        &self,
        metadata: &MetadataMap,
        req: &pb::GetEarningsRequest,
    ) -> Result<pb::GetEarningsResponse, BrokerError> {
        let cashier = self.cashier()?;
        let kind = account_kind(req.kind, "kind")?;
        let balances = match self.viewer(metadata).await? {
            Viewer::Tenant(tenant) => {
                if kind.is_some_and(|k| k != LedgerAccountKind::Owner) {
                    return Err(BrokerError::PermissionDenied(
                        "a tenant key can only read its own OWNER account; other kinds need x-admin-key"
                            .to_owned(),
                    ));
                }
                vec![
                    cashier
                        .index
                        .ledger_balance(&owner_account(&tenant))
                        .await?,
                ]
            }
            Viewer::Admin => cashier
                .index
                .ledger_balances()
                .await?
                .into_iter()
                .filter(|b| kind.is_none_or(|k| b.account.kind == k))
                .collect(),
        };
        Ok(pb::GetEarningsResponse {
            balances: balances.iter().map(balance_message).collect(),
            as_of: Some(timestamp(now_unix_ms())),
        })
    }

    async fn ledger_entries(
        &self,
        metadata: &MetadataMap,
        req: &pb::ListLedgerEntriesRequest,
    ) -> Result<pb::ListLedgerEntriesResponse, BrokerError> {
        let cashier = self.cashier()?;
        let mut filter = LedgerFilter {
            account: req.account.as_ref().map(account_of).transpose()?.flatten(),
            since_unix_ms: req
                .since
                .as_ref()
                .map(|t| unix_ms(t, "since"))
                .transpose()?,
            until_unix_ms: req
                .until
                .as_ref()
                .map(|t| unix_ms(t, "until"))
                .transpose()?,
        };
        if let (Some(since), Some(until)) = (filter.since_unix_ms, filter.until_unix_ms)
            && since > until
        {
            return Err(BrokerError::invalid("since", "is after until"));
        }
        if let Viewer::Tenant(tenant) = self.viewer(metadata).await? {
            let own = owner_account(&tenant);
            if filter.account.as_ref().is_some_and(|a| *a != own) {
                return Err(BrokerError::PermissionDenied(
                    "a tenant key can only list entries of its own OWNER account; other accounts need x-admin-key"
                        .to_owned(),
                ));
            }
            filter.account = Some(own);
        }
        let tag = format!("{filter:?}");
        let token = decode_token(&req.page_token, &tag).map_err(|_| {
            BrokerError::invalid(
                "page_token",
                "not a token this listing returned for these filters; restart the listing",
            )
        })?;
        let (entries, next) = cashier
            .index
            .list_ledger(&filter, token.as_deref(), page_size(req.page_size))
            .await
            .map_err(page_error)?;
        Ok(pb::ListLedgerEntriesResponse {
            entries: entries.iter().map(entry_message).collect(),
            next_page_token: next.map(|t| encode_token(&t, &tag)).unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl Payments for PaymentsService {
    async fn create_invoice(
        &self,
        request: Request<pb::CreateInvoiceRequest>,
    ) -> Result<Response<pb::Invoice>, Status> {
        reply(
            self.create_invoice(
                request.metadata(),
                crate::service::peer_of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn get_payment_status(
        &self,
        request: Request<pb::GetPaymentStatusRequest>,
    ) -> Result<Response<pb::PaymentStatus>, Status> {
        reply(self.payment_status(request.get_ref()).await)
    }

    async fn get_earnings(
        &self,
        request: Request<pb::GetEarningsRequest>,
    ) -> Result<Response<pb::GetEarningsResponse>, Status> {
        reply(self.earnings(request.metadata(), request.get_ref()).await)
    }

    async fn list_ledger_entries(
        &self,
        request: Request<pb::ListLedgerEntriesRequest>,
    ) -> Result<Response<pb::ListLedgerEntriesResponse>, Status> {
        reply(
            self.ledger_entries(request.metadata(), request.get_ref())
                .await,
        )
    }

    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::Payout>, Status> {
        reply(self.withdraw(request.metadata(), request.get_ref()).await)
    }

    async fn get_payout(
        &self,
        request: Request<pb::GetPayoutRequest>,
    ) -> Result<Response<pb::Payout>, Status> {
        reply(self.get_payout(request.metadata(), request.get_ref()).await)
    }

    async fn buy_credit(
        &self,
        request: Request<pb::BuyCreditRequest>,
    ) -> Result<Response<pb::CreditInvoice>, Status> {
        reply(
            self.buy_credit(
                request.metadata(),
                crate::service::peer_of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn set_payout_address(
        &self,
        request: Request<pb::SetPayoutAddressRequest>,
    ) -> Result<Response<pb::PayoutAddress>, Status> {
        reply(
            self.set_payout_address(request.metadata(), request.get_ref())
                .await,
        )
    }

    async fn get_payout_address(
        &self,
        request: Request<pb::GetPayoutAddressRequest>,
    ) -> Result<Response<pb::PayoutAddress>, Status> {
        reply(
            self.get_payout_address(request.metadata(), request.get_ref())
                .await,
        )
    }

    async fn get_credit_balance(
        &self,
        request: Request<pb::GetCreditBalanceRequest>,
    ) -> Result<Response<pb::CreditBalance>, Status> {
        reply(self.credit_balance(request.metadata()).await)
    }
}

fn invoice_message(issued: &IssuedInvoice) -> pb::Invoice {
    let r: &InvoiceRecord = &issued.record;
    pb::Invoice {
        payment_request: r.payment_request.clone(),
        payment_hash: hex::encode(r.payment_hash),
        amount_msat: r.amount_msat,
        expires_at: Some(timestamp(r.expires_at_unix_ms)),
        l402_token: issued.token.clone(),
        hold: r.hold,
        uses: r.uses,
        blob_id: r.blob_id.to_hex(),
        range: Some(pb::ServedRange {
            offset: r.range_offset,
            length: r.range_length,
        }),
        credential_expires_at: Some(timestamp(r.credential_expires_at_unix_ms)),
    }
}

fn owner_account(tenant: &TenantRecord) -> LedgerAccount {
    LedgerAccount {
        kind: LedgerAccountKind::Owner,
        id: tenant.id.as_str().to_owned(),
    }
}

/// `None` for ACCOUNT_KIND_UNSPECIFIED.
fn account_kind(raw: i32, field: &'static str) -> Result<Option<LedgerAccountKind>, BrokerError> {
    match pb::AccountKind::try_from(raw) {
        Ok(pb::AccountKind::Unspecified) => Ok(None),
        Ok(pb::AccountKind::Owner) => Ok(Some(LedgerAccountKind::Owner)),
        Ok(pb::AccountKind::Provider) => Ok(Some(LedgerAccountKind::Provider)),
        Ok(pb::AccountKind::Broker) => Ok(Some(LedgerAccountKind::Broker)),
        Ok(pb::AccountKind::Lightning) => Ok(Some(LedgerAccountKind::Lightning)),
        Ok(pb::AccountKind::Payouts) => Ok(Some(LedgerAccountKind::Payouts)),
        Ok(pb::AccountKind::Credit) => Ok(Some(LedgerAccountKind::Credit)),
        Ok(pb::AccountKind::CreditHeld) => Ok(Some(LedgerAccountKind::CreditHeld)),
        Err(_) => Err(BrokerError::invalid(
            field,
            format!("unknown account kind {raw}"),
        )),
    }
}

/// A filter account; an unset kind with an empty id means "any account".
pub(super) fn account_of(a: &pb::Account) -> Result<Option<LedgerAccount>, BrokerError> {
    match account_kind(a.kind, "account.kind")? {
        Some(kind) => Ok(Some(LedgerAccount {
            kind,
            id: a.id.clone(),
        })),
        None if a.id.is_empty() => Ok(None),
        None => Err(BrokerError::invalid(
            "account.kind",
            "must be set when account.id is",
        )),
    }
}

fn kind_message(kind: LedgerAccountKind) -> pb::AccountKind {
    match kind {
        LedgerAccountKind::Owner => pb::AccountKind::Owner,
        LedgerAccountKind::Provider => pb::AccountKind::Provider,
        LedgerAccountKind::Broker => pb::AccountKind::Broker,
        LedgerAccountKind::Lightning => pb::AccountKind::Lightning,
        LedgerAccountKind::Payouts => pb::AccountKind::Payouts,
        LedgerAccountKind::Credit => pb::AccountKind::Credit,
        LedgerAccountKind::CreditHeld => pb::AccountKind::CreditHeld,
    }
}

pub(super) fn account_message(a: &LedgerAccount) -> pb::Account {
    pb::Account {
        kind: kind_message(a.kind) as i32,
        id: a.id.clone(),
    }
}

fn balance_message(b: &AccountBalance) -> pb::AccountBalance {
    let balance_msat = b.balance_msat();
    pb::AccountBalance {
        account: Some(account_message(&b.account)),
        credited_msat: b.credited_msat,
        debited_msat: b.debited_msat,
        balance_msat,
    }
}

fn entry_message(e: &LedgerEntry) -> pb::LedgerEntry {
    pb::LedgerEntry {
        entry_id: hex::encode(e.entry_id),
        blob_id: e.blob_id.map(|b| b.to_hex()).unwrap_or_default(),
        kind: entry_kind_message(e.kind) as i32,
        settled_at: Some(timestamp(e.settled_at_unix_ms)),
        postings: e
            .postings
            .iter()
            .map(|p| pb::Posting {
                account: Some(account_message(&p.account)),
                direction: match p.side {
                    PostingSide::Debit => pb::PostingDirection::Debit,
                    PostingSide::Credit => pb::PostingDirection::Credit,
                } as i32,
                amount_msat: p.amount_msat,
            })
            .collect(),
    }
}

fn entry_kind_message(kind: EntryKind) -> pb::LedgerEntryKind {
    match kind {
        EntryKind::Download => pb::LedgerEntryKind::Download,
        EntryKind::CreditPurchase => pb::LedgerEntryKind::CreditPurchase,
        EntryKind::CreditReserved => pb::LedgerEntryKind::CreditReserved,
        EntryKind::CreditDownload => pb::LedgerEntryKind::CreditDownload,
        EntryKind::CreditReleased => pb::LedgerEntryKind::CreditReleased,
        EntryKind::PayoutStarted => pb::LedgerEntryKind::PayoutStarted,
        EntryKind::PayoutSucceeded => pb::LedgerEntryKind::PayoutSucceeded,
        EntryKind::PayoutFailed => pb::LedgerEntryKind::PayoutFailed,
    }
}

/// A timestamp as unix ms; before 1970 is refused.
fn unix_ms(t: &prost_types::Timestamp, field: &'static str) -> Result<u64, BrokerError> {
    let secs = u64::try_from(t.seconds)
        .map_err(|_| BrokerError::invalid(field, "must not be before 1970"))?;
    let nanos = u64::try_from(t.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| BrokerError::invalid(field, "nanos must be 0..1e9"))?;
    secs.checked_mul(1000)
        .and_then(|ms| ms.checked_add(nanos / 1_000_000))
        .ok_or_else(|| BrokerError::invalid(field, "is too far in the future"))
}
