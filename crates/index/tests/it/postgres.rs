//! Runs the whole conformance suite against `PostgresIndex`, each case in
//! a fresh schema of the test server (see `pg_schema`).

use crate::pg_schema;

use std::sync::Arc;

use shardgate_index::Index;
use shardgate_index::conformance::Harness;

use pg_schema::Schema;

struct PgHarness;

impl Harness for PgHarness {
    type Store = Schema;

    async fn create_store(&self) -> Schema {
        Schema::fresh()
    }

    async fn open(&self, store: &Schema) -> Arc<dyn Index> {
        Arc::new(store.connect().await)
    }
}

shardgate_index::conformance_tests!(PgHarness);
