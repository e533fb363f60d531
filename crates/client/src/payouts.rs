//! Money out: withdrawing a balance to a BOLT 11 invoice and following the
//! payout.

use std::time::Duration;

use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::{ClientError, ErrorKind, Result};

impl Client {
    /// Pays `payment_request` (an invoice with an amount) out of a balance:
    /// with an API key the tenant's own OWNER account (`account` = None);
    /// with the admin key the OWNER, PROVIDER or BROKER account named.
    /// Safe to call again with the same invoice: it is never paid twice.
    pub async fn withdraw(
        &self,
        payment_request: &str,
        account: Option<pb::Account>,
    ) -> Result<pb::Payout> {
        Ok(self
            .payments_stub()
            .withdraw(self.account_request(pb::WithdrawRequest {
                payment_request: payment_request.trim().to_owned(),
                account,
            })?)
            .await?
            .into_inner())
    }

    /// The payout of the invoice with `payment_hash`.
    pub async fn payout(&self, payment_hash: &str) -> Result<pb::Payout> {
        Ok(self
            .payments_stub()
            .get_payout(self.account_request(pb::GetPayoutRequest {
                payment_hash: payment_hash.to_owned(),
            })?)
            .await?
            .into_inner())
    }

    /// Polls the payout until it is SUCCEEDED or FAILED, at most `timeout`.
    pub async fn wait_payout(&self, payment_hash: &str, timeout: Duration) -> Result<pb::Payout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let payout = self.payout(payment_hash).await?;
            if payout.state() != pb::PayoutState::InFlight {
                return Ok(payout);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::new(
                    ErrorKind::Unavailable,
                    format!("payout {payment_hash} still in flight after {timeout:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sets the Lightning Address an account's balance is paid to once it
    /// reaches `threshold_msat` (an empty address removes the order). API
    /// key: the tenant's own account (`account` = None); admin key: the
    /// account named.
    pub async fn set_payout_address(
        &self,
        lightning_address: &str,
        threshold_msat: u64,
        account: Option<pb::Account>,
    ) -> Result<pb::PayoutAddress> {
        Ok(self
            .payments_stub()
            .set_payout_address(self.account_request(pb::SetPayoutAddressRequest {
                account,
                lightning_address: lightning_address.trim().to_owned(),
                threshold_msat,
            })?)
            .await?
            .into_inner())
    }

    /// The standing payout order of an account, with its schedule state.
    pub async fn payout_address(&self, account: Option<pb::Account>) -> Result<pb::PayoutAddress> {
        Ok(self
            .payments_stub()
            .get_payout_address(self.account_request(pb::GetPayoutAddressRequest { account })?)
            .await?
            .into_inner())
    }
}
