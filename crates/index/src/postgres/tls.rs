//! TLS to PostgreSQL: rustls with the operator's CA, checking the chain and
//! the server's host name (libpq's `sslmode=verify-full`).
//!
//! tokio-postgres knows `sslmode` disable, prefer and require only, so the
//! mode is read here first and the URL handed on without it:
//!
//! | sslmode | CA given | connection |
//! |---|---|---|
//! | unset, disable, prefer | no | plain TCP |
//! | unset, require, verify-full | yes | TLS, chain and host name checked |
//! | require, verify-full | no | refused: nothing to check the server against |
//! | verify-ca | any | refused: it skips the host name check |
//! | disable | yes | refused: contradicts the CA |

use std::sync::Arc;

use deadpool_postgres::tokio_postgres::config::SslMode;
use deadpool_postgres::tokio_postgres::{self, Client, Config, NoTls};
use deadpool_postgres::{Manager, ManagerConfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::task::JoinHandle;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::IndexError;

/// How connections to the server are made.
#[derive(Clone)]
pub(super) enum PgTls {
    Plain,
    Verified(MakeRustlsConnect),
}

/// `sslmode` as the URL asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Unset,
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgTls {
    /// Reads `sslmode` out of `url` and decides, with the CA (PEM), how to
    /// connect. Returns the URL without `sslmode`, parsed.
    pub(super) fn configure(
        url: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<(Config, PgTls), IndexError> {
        let (rest, wanted) = split_sslmode(url)?;
        // The parse error never echoes the URL (it may hold a password).
        let mut config: Config = rest
            .parse()
            .map_err(|e| IndexError::invalid(format!("postgres url: {e}")))?;
        let tls = match (wanted, ca_pem) {
            (Wanted::VerifyCa, _) => {
                return Err(IndexError::invalid(
                    "postgres sslmode=verify-ca skips the host name check and is not supported; use sslmode=verify-full with the CA file",
                ));
            }
            (Wanted::Require | Wanted::VerifyFull, None) => {
                return Err(IndexError::invalid(
                    "postgres sslmode=require/verify-full needs the server's CA certificate (the index's CA file) to check the server against",
                ));
            }
            (Wanted::Disable, Some(_)) => {
                return Err(IndexError::invalid(
                    "postgres sslmode=disable contradicts the CA file given for TLS",
                ));
            }
            (_, Some(pem)) => {
                config.ssl_mode(SslMode::Require);
                PgTls::Verified(MakeRustlsConnect::new(client_config(pem)?))
            }
            (Wanted::Unset | Wanted::Disable | Wanted::Prefer, None) => {
                config.ssl_mode(SslMode::Disable);
                PgTls::Plain
            }
        };
        Ok((config, tls))
    }

    /// One connection, its driver task spawned.
    pub(super) async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        Ok(match self {
            PgTls::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, spawn_driver(connection))
            }
            PgTls::Verified(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, spawn_driver(connection))
            }
        })
    }

    /// The pool's connection manager, connecting the same way.
    pub(super) fn manager(&self, config: Config, manager: ManagerConfig) -> Manager {
        match self {
            PgTls::Plain => Manager::from_config(config, NoTls, manager),
            PgTls::Verified(tls) => Manager::from_config(config, tls.clone(), manager),
        }
    }
}

/// Runs a connection until the client is dropped or the server goes away.
fn spawn_driver<F>(connection: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let _ = connection.await;
    })
}

fn client_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, IndexError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| IndexError::invalid(format!("postgres CA file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| IndexError::invalid(format!("postgres CA file: {e}")))?;
        found += 1;
    }
    if found == 0 {
        return Err(IndexError::invalid(
            "postgres CA file holds no PEM certificate",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| IndexError::invalid(format!("postgres TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `url` without its `sslmode`, and what it asked for. Takes the URL form
/// (`postgres://…?sslmode=verify-full&…`) and the key=value form.
fn split_sslmode(url: &str) -> Result<(String, Wanted), IndexError> {
    let parse = |value: &str| match value {
        "disable" => Ok(Wanted::Disable),
        "prefer" | "allow" => Ok(Wanted::Prefer),
        "require" => Ok(Wanted::Require),
        "verify-ca" => Ok(Wanted::VerifyCa),
        "verify-full" => Ok(Wanted::VerifyFull),
        other => Err(IndexError::invalid(format!(
            "postgres sslmode {other:?} is not one of disable, prefer, require, verify-full"
        ))),
    };
    let mut wanted = Wanted::Unset;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), wanted));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.strip_prefix("sslmode=") {
                Some(value) => wanted = parse(value)?,
                None => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, wanted));
    }
    let mut kept = Vec::new();
    for token in url.split_whitespace() {
        match token.strip_prefix("sslmode=") {
            Some(value) => wanted = parse(value.trim_matches('\''))?,
            None => kept.push(token),
        }
    }
    Ok((kept.join(" "), wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_from_both_url_forms() {
        let (rest, w) =
            split_sslmode("postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x")
                .unwrap();
        assert_eq!(
            (rest.as_str(), w),
            (
                "postgres://u:p@h:5432/db?application_name=x",
                Wanted::VerifyFull
            )
        );
        let (rest, w) = split_sslmode("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!((rest.as_str(), w), ("postgres://h/db", Wanted::Disable));
        let (rest, w) = split_sslmode("host=h dbname=db sslmode=require").unwrap();
        assert_eq!((rest.as_str(), w), ("host=h dbname=db", Wanted::Require));
        let (_, w) = split_sslmode("postgres://h/db").unwrap();
        assert_eq!(w, Wanted::Unset);
        assert!(split_sslmode("postgres://h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn modes_that_cannot_be_honoured_are_refused() {
        let url = "postgres://h/db?sslmode=";
        for (mode, ca) in [
            ("verify-ca", Some(&b"x"[..])),
            ("verify-full", None),
            ("require", None),
            ("disable", Some(&b"x"[..])),
        ] {
            let err = PgTls::configure(&format!("{url}{mode}"), ca)
                .err()
                .expect(mode);
            assert!(matches!(err, IndexError::Invalid { .. }), "{mode}: {err}");
        }
        let err = PgTls::configure("postgres://h/db", Some(b"not a certificate"))
            .err()
            .expect("no PEM");
        assert!(err.to_string().contains("no PEM"), "{err}");
        assert!(matches!(
            PgTls::configure("postgres://h/db", None),
            Ok((_, PgTls::Plain))
        ));
    }
}
