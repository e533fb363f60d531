//! [`PaymentsConfig`]: the `[payments]` table of the broker configuration
//! (contract C2). Absent → the broker serves free blobs only.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use shardgate_backends::Secret;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{PricingLimits, SplitConfig};

use crate::config::LimitsConfig;
use crate::error::BrokerError;

/// Longest invoice expiry / credential lifetime accepted: one year.
const MAX_LIFETIME_SECS: u64 = 365 * 86_400;
/// Largest `max_invoice_uses` accepted.
const MAX_USES_BOUND: u32 = 1_000_000;

/// How the broker sells downloads. `Debug` never shows the macaroon.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// `host:port` of the broker's LND gRPC. Default `127.0.0.1:10009`.
    pub lnd_endpoint: String,
    /// LND's `tls.cert` (PEM). Required.
    pub lnd_tls_cert: Option<PathBuf>,
    /// A macaroon file (binary) allowed to create, look up, settle and
    /// cancel invoices (`invoice.macaroon` plus the invoices permissions,
    /// or `admin.macaroon`). Exactly one of this and `lnd_macaroon_hex`.
    pub lnd_macaroon: Option<PathBuf>,
    /// The macaroon as hex (a string, `{ env = "VAR" }` or `{ file = ... }`).
    pub lnd_macaroon_hex: Option<Secret>,
    /// Bound on every LND call, ms. Default 5000.
    pub lnd_call_timeout_ms: u64,
    /// How long an invoice can be paid, seconds. Default 3600.
    pub invoice_expiry_secs: u64,
    /// How long a credential works after its invoice was created, seconds
    /// (at least `invoice_expiry_secs`). Default 86400.
    pub credential_ttl_secs: u64,
    /// A paid (ACCEPTED) hold invoice not used within this many seconds is
    /// canceled. Default 600.
    pub hold_accept_timeout_secs: u64,
    /// Largest `uses` of one invoice. Default 100.
    pub max_invoice_uses: u32,
    /// Revenue split in basis points; the three sum to 10000. This one is
    /// the blob owner's (uploader's) share.
    pub owner_bps: u32,
    /// Share of all providers together, in basis points, divided among them
    /// by shards served.
    pub providers_bps: u32,
    /// The broker's own fee in basis points; it also receives rounding
    /// remainders.
    pub broker_bps: u32,
    /// Smallest withdrawal, msat. Default 1000 (1 sat).
    pub min_withdrawal_msat: u64,
    /// A payout's routing-fee limit, parts per million of its amount,
    /// taken from the account with the amount until the payment ends.
    /// Default 5000 (0.5 %).
    pub payout_fee_limit_ppm: u64,
    /// The fee limit of a payout is at least this, msat (small payouts
    /// still need a route's base fee). Default 10000 (10 sat).
    pub payout_min_fee_reserve_msat: u64,
    /// How long Withdraw waits for the payment before answering IN_FLIGHT,
    /// seconds. Default 30.
    pub payout_wait_secs: u64,
    /// How often payouts left in flight (a broken stream, a restart) are
    /// asked of the node, seconds. Default 30.
    pub payout_reconcile_secs: u64,
    /// How often balances with a Lightning Address order are checked for
    /// an automatic payout, seconds. Default 60.
    pub auto_payout_interval_secs: u64,
    /// Longest wait between retries of a failing Lightning Address,
    /// seconds (the backoff doubles up to this). Default 3600.
    pub auto_payout_max_backoff_secs: u64,
    /// Smallest prepaid credit sold, msat. Default 1000.
    pub min_credit_msat: u64,
    /// Largest prepaid credit sold, msat. Default 100_000_000 (100k sat).
    pub max_credit_msat: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        let split = SplitConfig::default();
        Self {
            lnd_endpoint: "127.0.0.1:10009".to_owned(),
            lnd_tls_cert: None,
            lnd_macaroon: None,
            lnd_macaroon_hex: None,
            lnd_call_timeout_ms: 5_000,
            invoice_expiry_secs: 3_600,
            credential_ttl_secs: 86_400,
            hold_accept_timeout_secs: 600,
            max_invoice_uses: 100,
            owner_bps: split.owner_bps,
            providers_bps: split.providers_bps,
            broker_bps: split.broker_bps,
            min_withdrawal_msat: 1_000,
            payout_fee_limit_ppm: 5_000,
            payout_min_fee_reserve_msat: 10_000,
            payout_wait_secs: 30,
            payout_reconcile_secs: 30,
            auto_payout_interval_secs: 60,
            auto_payout_max_backoff_secs: 3_600,
            min_credit_msat: 1_000,
            max_credit_msat: 100_000_000,
        }
    }
}

impl PaymentsConfig {
    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |what: String| Err(BrokerError::Config(format!("payments.{what}")));
        if self.lnd_tls_cert.is_none() {
            return bad("lnd_tls_cert is required (path of LND's tls.cert)".into());
        }
        match (&self.lnd_macaroon, &self.lnd_macaroon_hex) {
            (Some(_), None) => {}
            (None, Some(hex)) if !hex.is_empty() => {}
            _ => {
                return bad(
                    "exactly one of lnd_macaroon (file) and lnd_macaroon_hex must be set".into(),
                );
            }
        }
        // Fails at start on an endpoint the LND client would refuse later.
        let port_ok = self
            .lnd_endpoint
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return bad(format!(
                "lnd_endpoint {:?} must be host:port",
                self.lnd_endpoint
            ));
        }
        if !(1..=600_000).contains(&self.lnd_call_timeout_ms) {
            return bad("lnd_call_timeout_ms must be 1..=600000".into());
        }
        if !(1..=MAX_LIFETIME_SECS).contains(&self.invoice_expiry_secs) {
            return bad(format!(
                "invoice_expiry_secs must be 1..={MAX_LIFETIME_SECS}"
            ));
        }
        if !(self.invoice_expiry_secs..=MAX_LIFETIME_SECS).contains(&self.credential_ttl_secs) {
            return bad(format!(
                "credential_ttl_secs must be invoice_expiry_secs..={MAX_LIFETIME_SECS} (a credential must outlive its invoice)"
            ));
        }
        if !(1..=MAX_LIFETIME_SECS).contains(&self.hold_accept_timeout_secs) {
            return bad(format!(
                "hold_accept_timeout_secs must be 1..={MAX_LIFETIME_SECS}"
            ));
        }
        if !(1..=MAX_USES_BOUND).contains(&self.max_invoice_uses) {
            return bad(format!("max_invoice_uses must be 1..={MAX_USES_BOUND}"));
        }
        if self.min_withdrawal_msat == 0 {
            return bad("min_withdrawal_msat must be at least 1".into());
        }
        if self.payout_fee_limit_ppm > 1_000_000 {
            return bad("payout_fee_limit_ppm must be at most 1000000 (100 %)".into());
        }
        if !(1..=3_600).contains(&self.payout_wait_secs) {
            return bad("payout_wait_secs must be 1..=3600".into());
        }
        if !(1..=86_400).contains(&self.payout_reconcile_secs) {
            return bad("payout_reconcile_secs must be 1..=86400".into());
        }
        if !(1..=86_400).contains(&self.auto_payout_interval_secs) {
            return bad("auto_payout_interval_secs must be 1..=86400".into());
        }
        if self.auto_payout_max_backoff_secs < self.auto_payout_interval_secs {
            return bad(
                "auto_payout_max_backoff_secs must be at least auto_payout_interval_secs".into(),
            );
        }
        if self.min_credit_msat == 0 || self.min_credit_msat > self.max_credit_msat {
            return bad("min_credit_msat must be 1..=max_credit_msat".into());
        }
        if let Err(e) = self.split().validate() {
            return bad(format!("owner_bps/providers_bps/broker_bps: {e}"));
        }
        Ok(())
    }

    /// The routing-fee reserve of a payout of `amount_msat`.
    pub fn payout_fee_reserve_msat(&self, amount_msat: u64) -> u64 {
        let ppm = u128::from(amount_msat) * u128::from(self.payout_fee_limit_ppm) / 1_000_000;
        u64::try_from(ppm)
            .unwrap_or(u64::MAX)
            .max(self.payout_min_fee_reserve_msat)
    }

    /// How long Withdraw waits for a final answer.
    pub fn payout_wait(&self) -> Duration {
        Duration::from_secs(self.payout_wait_secs)
    }

    /// How the LND client connects.
    pub fn lnd(&self) -> LndConfig {
        let cert = self.lnd_tls_cert.clone().unwrap_or_default();
        let macaroon = match (&self.lnd_macaroon, &self.lnd_macaroon_hex) {
            (Some(path), _) => MacaroonSource::File(path.clone()),
            (None, Some(hex)) => MacaroonSource::Hex(hex.expose().to_owned()),
            (None, None) => MacaroonSource::Hex(String::new()),
        };
        LndConfig::new(
            self.lnd_endpoint.clone(),
            TlsCertSource::File(cert),
            macaroon,
        )
        .with_call_timeout(self.call_timeout())
    }

    /// `lnd_call_timeout_ms` as a duration: the bound on each LND call.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.lnd_call_timeout_ms)
    }

    /// `invoice_expiry_secs` as a duration: how long an issued invoice can
    /// be paid.
    pub fn invoice_expiry(&self) -> Duration {
        Duration::from_secs(self.invoice_expiry_secs)
    }

    /// `credential_ttl_secs` as a duration, counted from invoice creation.
    pub fn credential_ttl(&self) -> Duration {
        Duration::from_secs(self.credential_ttl_secs)
    }

    /// `hold_accept_timeout_secs` as a duration: after this a paid but
    /// unused hold invoice is canceled (the payer is refunded).
    pub fn hold_accept_timeout(&self) -> Duration {
        Duration::from_secs(self.hold_accept_timeout_secs)
    }

    /// The revenue split for the payments crate; call after
    /// [`Self::validate`], which checks that it sums to 10000.
    pub fn split(&self) -> SplitConfig {
        SplitConfig {
            owner_bps: self.owner_bps,
            providers_bps: self.providers_bps,
            broker_bps: self.broker_bps,
        }
    }

    /// Price bounds: the broker's `[limits]` plus `max_invoice_uses`.
    pub fn pricing(&self, limits: &LimitsConfig) -> PricingLimits {
        PricingLimits {
            min_invoice_msat: limits.min_invoice_msat,
            max_flat_msat: limits.max_flat_msat,
            max_per_mib_msat: limits.max_per_mib_msat,
            max_invoice_uses: self.max_invoice_uses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> PaymentsConfig {
        PaymentsConfig {
            lnd_tls_cert: Some("/lnd/tls.cert".into()),
            lnd_macaroon: Some("/lnd/invoice.macaroon".into()),
            ..PaymentsConfig::default()
        }
    }

    #[test]
    fn parses_the_c2_table_and_validates() {
        let text = r#"
            lnd_endpoint = "127.0.0.1:10009"
            lnd_tls_cert = "/path/tls.cert"
            lnd_macaroon = "/path/invoice.macaroon"
            lnd_call_timeout_ms = 5000
            invoice_expiry_secs = 3600
            credential_ttl_secs = 86400
            hold_accept_timeout_secs = 600
            max_invoice_uses = 100
            owner_bps = 7000
            providers_bps = 2000
            broker_bps = 1000
        "#;
        let cfg: PaymentsConfig = toml::from_str(text).expect("parse");
        cfg.validate().expect("valid");
        assert_eq!(cfg.invoice_expiry(), Duration::from_secs(3600));
    }

    #[test]
    fn refuses_bad_values_naming_the_field() {
        let cases: Vec<(PaymentsConfig, &str)> = vec![
            (
                PaymentsConfig {
                    lnd_tls_cert: None,
                    ..valid()
                },
                "lnd_tls_cert",
            ),
            (
                PaymentsConfig {
                    lnd_macaroon_hex: Some(Secret::new("0201".into())),
                    ..valid()
                },
                "exactly one",
            ),
            (
                PaymentsConfig {
                    lnd_endpoint: "localhost".into(),
                    ..valid()
                },
                "lnd_endpoint",
            ),
            (
                PaymentsConfig {
                    credential_ttl_secs: 10,
                    ..valid()
                },
                "credential_ttl_secs",
            ),
            (
                PaymentsConfig {
                    max_invoice_uses: 0,
                    ..valid()
                },
                "max_invoice_uses",
            ),
            (
                PaymentsConfig {
                    broker_bps: 999,
                    ..valid()
                },
                "bps",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().expect_err(field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn debug_hides_the_macaroon() {
        let cfg = PaymentsConfig {
            lnd_macaroon: None,
            lnd_macaroon_hex: Some(Secret::new("0201deadbeef".into())),
            ..valid()
        };
        cfg.validate().expect("valid");
        assert!(!format!("{cfg:?}").contains("deadbeef"));
    }
}
