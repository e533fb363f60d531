//! Prepaid credit: buy a balance once, then pay downloads from it with no
//! Lightning payment per download.
//!
//! ```no_run
//! # async fn demo(client: shardgate_client::Client, payer: &dyn shardgate_client::Payer) -> shardgate_client::Result<()> {
//! let credit = client.buy_credit_paid(50_000, payer).await?;
//! let options = shardgate_client::GetOptions {
//!     payment: shardgate_client::PaymentPolicy::none().credential(&credit.credential),
//!     ..Default::default()
//! };
//! let bytes = client.get_bytes("…blob id…", &options).await?;
//! let left = client.credit_balance(&credit.credential).await?.balance_msat;
//! # Ok(()) }
//! ```

use shardgate_proto::auth_metadata::AUTHORIZATION;
use shardgate_proto::v1 as pb;

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::invoice::Invoice;
use crate::payer::Payer;

/// A paid credit: its invoice and the credential to present.
#[derive(Clone, Debug)]
pub struct PaidCredit {
    /// What the broker sold.
    pub invoice: pb::CreditInvoice,
    /// `<macaroon>:<hex preimage>`, the value for
    /// `PaymentPolicy::credential` (a bearer secret).
    pub credential: String,
}

impl Client {
    /// Buys `amount_msat` of prepaid credit: the invoice to pay and the
    /// token it funds. No key needed.
    pub async fn buy_credit(&self, amount_msat: u64) -> Result<pb::CreditInvoice> {
        Ok(self
            .payments_stub()
            .buy_credit(self.request(pb::BuyCreditRequest { amount_msat }))
            .await?
            .into_inner())
    }

    /// Buys credit and pays its invoice with `payer`; the invoice is
    /// checked first (it must ask exactly `amount_msat` and name the hash
    /// the broker said).
    pub async fn buy_credit_paid(&self, amount_msat: u64, payer: &dyn Payer) -> Result<PaidCredit> {
        let sold = self.buy_credit(amount_msat).await?;
        let invoice = Invoice::decode(&sold.payment_request)?;
        if invoice.amount_msat != amount_msat || invoice.payment_hash.to_hex() != sold.payment_hash
        {
            return Err(ClientError::payment(format!(
                "the broker's credit invoice asks {} msat for hash {}, not {amount_msat} msat for {}",
                invoice.amount_msat,
                invoice.payment_hash.to_hex(),
                sold.payment_hash
            )));
        }
        let paid = payer.pay(&invoice).await?;
        let credential = format!("{}:{}", sold.l402_token, paid.preimage.to_hex());
        Ok(PaidCredit {
            invoice: sold,
            credential,
        })
    }

    /// The balance left on a credit (`<macaroon>:<hex preimage>`).
    pub async fn credit_balance(&self, credential: &str) -> Result<pb::CreditBalance> {
        let mut request = self.request(pb::GetCreditBalanceRequest {});
        let value = format!("L402 {}", credential.trim())
            .parse()
            .map_err(|_| ClientError::invalid("the credential is not ASCII"))?;
        request.metadata_mut().insert(AUTHORIZATION, value);
        Ok(self
            .payments_stub()
            .get_credit_balance(request)
            .await?
            .into_inner())
    }
}
