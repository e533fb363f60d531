//! `serve`'s payment flags: each one replaces a field of the `[payments]`
//! table of the config file (contract C2), before the file is read into
//! `BrokerConfig`. Working on the TOML table keeps one source of truth for
//! field names, defaults and validation: the broker's `PaymentsConfig`.

use std::path::Path;

use anyhow::{Context, bail};
use shardgate_broker::BrokerConfig;
use toml::{Table, Value};

use crate::args::ServePaymentsArgs;

/// Env var holding the macaroon as hex (a secret: never a flag).
const MACAROON_HEX_ENV: &str = "SHARDGATE_LND_MACAROON_HEX";

impl ServePaymentsArgs {
    /// The `[payments]` fields given as flags or env, by config name.
    pub(crate) fn overrides(&self) -> anyhow::Result<Table> {
        let mut t = Table::new();
        let path = |p: &Path| Value::String(p.display().to_string());
        if let Some(v) = &self.lnd_endpoint {
            t.insert("lnd_endpoint".into(), Value::String(v.clone()));
        }
        if let Some(v) = &self.lnd_tls_cert {
            t.insert("lnd_tls_cert".into(), path(v));
        }
        if let Some(v) = &self.lnd_macaroon {
            t.insert("lnd_macaroon".into(), path(v));
        }
        if let Ok(v) = std::env::var(MACAROON_HEX_ENV) {
            t.insert("lnd_macaroon_hex".into(), Value::String(v));
        }
        let numbers = [
            ("lnd_call_timeout_ms", self.lnd_call_timeout_ms),
            ("invoice_expiry_secs", self.invoice_expiry_secs),
            ("credential_ttl_secs", self.credential_ttl_secs),
            ("hold_accept_timeout_secs", self.hold_accept_timeout_secs),
            ("max_invoice_uses", self.max_invoice_uses.map(u64::from)),
            ("owner_bps", self.owner_bps.map(u64::from)),
            ("providers_bps", self.providers_bps.map(u64::from)),
            ("broker_bps", self.broker_bps.map(u64::from)),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                let v = i64::try_from(v).with_context(|| format!("--{name} is too large"))?;
                t.insert(name.into(), Value::Integer(v));
            }
        }
        Ok(t)
    }
}

/// `table` (the parsed config file, or empty) with `overrides` written
/// into its `[payments]` table.
pub(crate) fn merge(mut table: Table, overrides: Table) -> anyhow::Result<Table> {
    if overrides.is_empty() {
        return Ok(table);
    }
    let payments = table
        .entry("payments")
        .or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(payments) = payments else {
        bail!("`payments` in the config must be a table ([payments])");
    };
    payments.extend(overrides);
    Ok(table)
}

/// The merged table as the broker's config; names the flags on failure.
pub(crate) fn into_config(table: Table) -> anyhow::Result<BrokerConfig> {
    table.try_into().map_err(|e: toml::de::Error| {
        anyhow::anyhow!(
            "config with the payment flags/env applied: {}",
            e.message().trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_replace_fields_of_the_payments_table() {
        let file: Table =
            toml::from_str("[payments]\nlnd_endpoint = \"10.0.0.1:10009\"\nowner_bps = 7000\n")
                .expect("toml");
        let args = ServePaymentsArgs {
            lnd_endpoint: Some("127.0.0.1:10009".into()),
            lnd_tls_cert: Some("/lnd/tls.cert".into()),
            broker_bps: Some(1500),
            ..ServePaymentsArgs::default()
        };
        let merged = merge(file, args.overrides().expect("overrides")).expect("merge");
        let payments = merged["payments"].as_table().expect("table");
        assert_eq!(payments["lnd_endpoint"].as_str(), Some("127.0.0.1:10009"));
        assert_eq!(payments["lnd_tls_cert"].as_str(), Some("/lnd/tls.cert"));
        assert_eq!(payments["owner_bps"].as_integer(), Some(7000));
        assert_eq!(payments["broker_bps"].as_integer(), Some(1500));
    }

    #[test]
    fn no_flags_leave_the_file_alone_and_a_non_table_is_refused() {
        let file: Table = toml::from_str("listen = \"127.0.0.1:1\"\n").expect("toml");
        let merged = merge(file.clone(), Table::new()).expect("merge");
        assert_eq!(merged, file);
        assert!(!merged.contains_key("payments"));
        let bad: Table = toml::from_str("payments = 3\n").expect("toml");
        let mut one = Table::new();
        one.insert("owner_bps".into(), Value::Integer(1));
        assert!(merge(bad, one).is_err());
    }
}
