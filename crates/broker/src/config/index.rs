//! `[index]`: where the broker keeps its index.
//!
//! ```toml
//! [index]
//! kind = "redb"          # default: one embedded file in data_dir, one broker
//!
//! [index]
//! kind = "postgres"      # several replicas share one database
//! url = { env = "SHARDGATE_INDEX_URL" }   # or a string, or { file = "..." }
//! max_connections = 16   # per broker
//! schema = "shardgate"   # optional; replicas sharing an index use the same
//! ca_file = "/etc/shardgate/pg-ca.pem"   # TLS, chain and host name checked
//! ```
//!
//! With `ca_file` (or `sslmode=verify-full` in the URL, which then needs
//! it) the connection is TLS and the server is checked against that CA and
//! the URL's host name, as libpq's `verify-full`. Without, plain TCP.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use shardgate_backends::Secret;
use shardgate_index::{Index, PostgresIndex, PostgresOptions, RedbIndex};

use crate::error::BrokerError;

/// Which index implementation the broker opens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IndexConfig {
    /// The embedded redb file `<data_dir>/index.redb` (one broker only:
    /// the file is locked).
    #[default]
    Redb,
    /// PostgreSQL, shared by every broker replica.
    Postgres(PostgresIndexConfig),
}

/// `[index] kind = "postgres"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresIndexConfig {
    /// `postgres://user:password@host:5432/db` (or key=value form). A
    /// secret: it usually holds the password. Required (an `Option` only
    /// so that a missing one is reported by name, in `validate`).
    #[serde(default)]
    pub url: Option<Secret>,
    /// Pooled connections this broker opens at most (plus one for the GC
    /// lease). Default 16.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Schema holding the tables, created at start if missing. Default
    /// `shardgate`.
    #[serde(default)]
    pub schema: Option<String>,
    /// The PostgreSQL server's CA certificate (PEM): connect over TLS and
    /// check the server's chain and host name.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_max_connections() -> usize {
    PostgresOptions::default().max_connections
}

impl IndexConfig {
    /// `serve --index-url`: PostgreSQL at `url`, keeping the other
    /// `[index]` settings of a PostgreSQL config.
    pub(crate) fn set_postgres_url(&mut self, url: Secret) {
        match self {
            IndexConfig::Postgres(pg) => pg.url = Some(url),
            IndexConfig::Redb => {
                *self = IndexConfig::Postgres(PostgresIndexConfig {
                    url: Some(url),
                    max_connections: default_max_connections(),
                    schema: None,
                    ca_file: None,
                })
            }
        }
    }

    /// `serve --index-ca-file`: TLS to PostgreSQL, checked against this CA.
    pub(crate) fn set_postgres_ca_file(
        &mut self,
        path: std::path::PathBuf,
    ) -> Result<(), BrokerError> {
        match self {
            IndexConfig::Postgres(pg) => {
                pg.ca_file = Some(path);
                Ok(())
            }
            IndexConfig::Redb => Err(BrokerError::Config(
                "index ca_file is for the PostgreSQL index: give --index-url (or [index] kind = \"postgres\") too".to_owned(),
            )),
        }
    }

    /// What `validate` cannot leave to the server.
    pub fn validate(&self) -> Result<(), BrokerError> {
        match self {
            IndexConfig::Redb => Ok(()),
            IndexConfig::Postgres(pg) if pg.url.as_ref().is_none_or(Secret::is_empty) => Err(
                BrokerError::Config("index.url is required for kind = \"postgres\"".to_owned()),
            ),
            IndexConfig::Postgres(pg) if pg.max_connections == 0 => Err(BrokerError::Config(
                "index.max_connections must be at least 1".to_owned(),
            )),
            IndexConfig::Postgres(_) => Ok(()),
        }
    }

    /// Opens the configured index (for redb, in `data_dir`). PostgreSQL:
    /// creates and migrates the schema if needed.
    pub async fn open(&self, data_dir: &Path) -> Result<Arc<dyn Index>, BrokerError> {
        Ok(match self {
            IndexConfig::Redb => Arc::new(RedbIndex::open(data_dir).await?),
            IndexConfig::Postgres(pg) => {
                let mut options = PostgresOptions {
                    max_connections: pg.max_connections,
                    ..PostgresOptions::default()
                };
                if let Some(schema) = &pg.schema {
                    options.schema = schema.clone();
                }
                if let Some(path) = &pg.ca_file {
                    options.tls_ca_pem = Some(std::fs::read(path).map_err(|e| {
                        BrokerError::Config(format!("index.ca_file {}: {e}", path.display()))
                    })?);
                }
                self.validate()?;
                let url = pg.url.as_ref().map(Secret::expose).unwrap_or_default();
                Arc::new(PostgresIndex::connect(url, options).await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default)]
        index: IndexConfig,
    }

    #[test]
    fn redb_is_the_default_and_postgres_reads_its_fields() {
        let h: Holder = toml::from_str("").expect("empty");
        assert!(matches!(h.index, IndexConfig::Redb));
        let h: Holder = toml::from_str("[index]\nkind = \"redb\"").expect("redb");
        assert!(matches!(h.index, IndexConfig::Redb));

        let h: Holder = toml::from_str(
            "[index]\nkind = \"postgres\"\nurl = \"postgres://u:hunter2@db/x\"\nschema = \"tenant_a\"",
        )
        .expect("postgres");
        let IndexConfig::Postgres(pg) = &h.index else {
            panic!("postgres expected");
        };
        assert_eq!(
            pg.url.as_ref().map(Secret::expose),
            Some("postgres://u:hunter2@db/x")
        );
        assert_eq!(pg.max_connections, 16);
        assert_eq!(pg.schema.as_deref(), Some("tenant_a"));
        assert!(
            !format!("{:?}", h.index).contains("hunter2"),
            "url redacted"
        );
        h.index.validate().expect("valid");
    }

    #[test]
    fn bad_index_tables_are_refused_naming_the_field() {
        for (toml, needle) in [
            ("[index]\nkind = \"mysql\"", "mysql"),
            (
                "[index]\nkind = \"postgres\"\nurl = \"x\"\nmax_conns = 3",
                "max_conns",
            ),
        ] {
            let err = toml::from_str::<Holder>(toml).err().expect(toml);
            assert!(err.to_string().contains(needle), "{toml}: {err}");
        }
        for toml in [
            "[index]\nkind = \"postgres\"",
            "[index]\nkind = \"postgres\"\nurl = \"\"",
        ] {
            let h: Holder = toml::from_str(toml).expect("parses");
            let err = h.index.validate().expect_err(toml);
            assert!(err.to_string().contains("index.url is required"), "{err}");
        }
        let h: Holder =
            toml::from_str("[index]\nkind = \"postgres\"\nurl = \"x\"\nmax_connections = 0")
                .expect("parses");
        let err = h.index.validate().expect_err("no connections");
        assert!(err.to_string().contains("index.max_connections"), "{err}");
    }
}
