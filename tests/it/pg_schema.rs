//! A scratch schema on the test PostgreSQL server (one per test, dropped
//! with its tables when the test ends), and what tests read from it
//! directly: row counts and the shard locations the index lists.
//!
//! Needs `SHARDGATE_TEST_POSTGRES_URL` (scripts/test.sh sets it); fails,
//! never skips, without it.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::tokio_postgres::{self, NoTls};

const URL_VAR: &str = "SHARDGATE_TEST_POSTGRES_URL";

/// A scratch schema, dropped (with its tables) when the test ends.
pub(crate) struct Schema {
    url: String,
    pub(crate) name: String,
}

impl Schema {
    pub(crate) fn fresh() -> Self {
        let url = std::env::var(URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{URL_VAR} is not set: this test needs a PostgreSQL server; run it through \
                 scripts/test.sh (it sets {URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
            )
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000_000)
            .unwrap_or(0);
        let name = format!("sg_e2e_{}_{nanos}", std::process::id());
        Schema { url, name }
    }

    /// The `[index]` table every broker of the test gets.
    pub(crate) fn index_toml(&self) -> String {
        format!(
            "[index]\nkind = \"postgres\"\nurl = {:?}\nschema = {:?}\nmax_connections = 4\n",
            self.url, self.name
        )
    }

    pub(crate) async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(connection);
        client
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.client()
            .await
            .query_one(
                &format!("SELECT count(*) FROM \"{}\".{table}", self.name),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
            .get(0)
    }

    /// Every chunk record's shard list as the index stores it: chunk id
    /// (hex) → its (shard index, provider) pairs in stored order.
    pub(crate) async fn chunk_shards(&self) -> BTreeMap<String, Vec<(u8, String)>> {
        let rows = self
            .client()
            .await
            .query(
                &format!(
                    "SELECT chunk_id, shard_indexes, shard_providers FROM \"{}\".chunks",
                    self.name
                ),
                &[],
            )
            .await
            .expect("read chunk records");
        rows.iter()
            .map(|row| {
                let id: Vec<u8> = row.get(0);
                let indexes: Vec<i16> = row.get(1);
                let providers: Vec<String> = row.get(2);
                let shards = indexes
                    .iter()
                    .map(|i| u8::try_from(*i).expect("shard index"))
                    .zip(providers)
                    .collect();
                (hex::encode(id), shards)
            })
            .collect()
    }

    /// The object keys each provider must hold according to the index
    /// (every chunk record, whatever its refcount), by provider name.
    pub(crate) async fn referenced_keys(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (chunk, shards) in self.chunk_shards().await {
            for (index, provider) in shards {
                keys.entry(provider)
                    .or_default()
                    .insert(format!("shards/{}/{chunk}.{index}", &chunk[..2]));
            }
        }
        keys
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a runtime of our own on
        // another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await.ok()?;
                tokio::spawn(connection);
                let sql = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
                client.batch_execute(&sql).await.ok()
            })
        })
        .join();
    }
}
