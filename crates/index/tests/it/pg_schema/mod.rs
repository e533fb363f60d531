//! A scratch PostgreSQL schema per test, so tests run in parallel on one
//! database: a fresh name on creation, `DROP SCHEMA ... CASCADE` on drop.
//!
//! The server comes from `SHARDGATE_TEST_POSTGRES_URL` (scripts/test.sh
//! sets it). Unset, every test FAILS with a message saying so: a missing
//! server must not pass as success.

#![allow(dead_code)] // each test file uses its own subset

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::tokio_postgres::{self, NoTls};
use shardgate_index::{PostgresIndex, PostgresOptions};

pub(crate) const URL_VAR: &str = "SHARDGATE_TEST_POSTGRES_URL";

/// The test server's URL; panics with instructions when unset.
pub(crate) fn url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{URL_VAR} is not set: the PostgreSQL index tests need a server. Run them through \
             scripts/test.sh (it starts one and sets {URL_VAR}=postgres://postgres@127.0.0.1:5432/test), \
             or set it to a database where this user may create schemas."
        )
    })
}

/// One scratch schema; dropped with everything in it when this is dropped.
pub(crate) struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "sg_test_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Schema { url: url(), name }
    }

    pub(crate) fn options(&self) -> PostgresOptions {
        PostgresOptions {
            schema: self.name.clone(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            gc_lease_wait: Duration::from_secs(10),
            tls_ca_pem: None,
        }
    }

    pub(crate) async fn connect(&self) -> PostgresIndex {
        PostgresIndex::connect(&self.url, self.options())
            .await
            .expect("connect PostgresIndex to the test server")
    }

    /// A plain client whose search_path is this schema, for inspecting or
    /// tampering with the tables directly.
    pub(crate) async fn sql(&self) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config = self.url.parse().expect("test url");
        config.options(format!("-c search_path={}", self.name));
        let (client, connection) = config.connect(NoTls).await.expect("connect psql client");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop may run inside a tokio runtime (the test's): a runtime of
        // our own must live on another thread.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}
