//! The GC lease: one GC pass at a time across every broker replica.
//!
//! The GC safety argument (crate README) assumes a single pass: a second
//! replica's `gc_condemn` would hand out the chunks another replica is
//! still deleting, and its late deletes could hit an upload that started
//! after the first replica's `gc_finish`. So GC steps run only while this
//! index holds a session-level advisory lock, on a dedicated connection
//! (the "lease session"):
//!
//! - `gc_condemn` / `gc_finish` take the lease (waiting at most
//!   `gc_lease_wait`, else `Conflict`: another replica is collecting) and
//!   run their transaction ON the lease session, so a step can only commit
//!   while its session, and with it the lock, is alive;
//! - the lease is kept while condemned chunks exist (the pass is not
//!   over), and released when `gc_condemn` finds nothing or `gc_finish`
//!   leaves nothing condemned;
//! - if the broker dies, PostgreSQL drops the session and the lock with
//!   it; another replica's next `gc_condemn` then takes over the
//!   unfinished condemnations first (as after a crash with redb).
//!
//! Residual risk, documented in the README: a replica partitioned from
//! PostgreSQL but not from the providers loses the lease while its deletes
//! may still be in flight. Its `gc_finish` then fails, but the deletes
//! cannot be recalled; shard deletes are short, and the next pass starts
//! only after `gc_lease_wait` plus a condemn transaction.

use std::time::Duration;

use deadpool_postgres::tokio_postgres::{self, Client};
use tokio::sync::Mutex;

use super::errors::{from_pg, pg};
use super::tls::PgTls;
use super::txn::{self, TxFuture};
use crate::error::IndexError;

struct Session {
    client: Client,
    held: bool,
}

pub(super) struct GcLease {
    config: tokio_postgres::Config,
    tls: PgTls,
    key: i64,
    wait: Duration,
    /// Also serializes this process's own GC steps.
    session: Mutex<Option<Session>>,
}

impl GcLease {
    pub(super) fn new(
        config: tokio_postgres::Config,
        tls: PgTls,
        key: i64,
        wait: Duration,
    ) -> Self {
        GcLease {
            config,
            tls,
            key,
            wait,
            session: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Session, IndexError> {
        // The driver ends when the client is dropped or the server goes
        // away; the next step then sees `is_closed` and reconnects.
        let (client, _driver) = self
            .tls
            .connect(&self.config)
            .await
            .map_err(pg("connect the GC lease session"))?;
        let ms = self.wait.as_millis().max(1);
        client
            .batch_execute(&format!("SET lock_timeout = {ms}"))
            .await
            .map_err(pg("configure the GC lease session"))?;
        Ok(Session {
            client,
            held: false,
        })
    }

    /// Runs `body` as one transaction on the lease session while holding
    /// the lease; releases the lease afterwards if `done` says the pass is
    /// over.
    pub(super) async fn step<T, F>(
        &self,
        body: F,
        done: impl FnOnce(&T) -> bool,
    ) -> Result<T, IndexError>
    where
        F: for<'t> FnOnce(&'t tokio_postgres::Transaction<'t>) -> TxFuture<'t, T>,
    {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| s.client.is_closed()) {
            // The session (and the lock with it) is gone; take it anew.
            *slot = None;
        }
        let session = match &mut *slot {
            Some(session) => session,
            empty => empty.insert(self.connect().await?),
        };
        if !session.held {
            session
                .client
                .execute("SELECT pg_advisory_lock($1)", &[&self.key])
                .await
                .map_err(|e| match from_pg("take the GC lease", &e) {
                    IndexError::Conflict { .. } => IndexError::conflict(format!(
                        "another broker replica holds the GC lease (a pass is running); \
                         waited {} ms, retry later",
                        self.wait.as_millis()
                    )),
                    other => other,
                })?;
            session.held = true;
        }
        let out = txn::run(&mut session.client, body).await;
        let drop_session = match &out {
            Ok(value) if done(value) => {
                let released = session
                    .client
                    .execute("SELECT pg_advisory_unlock($1)", &[&self.key])
                    .await;
                session.held = false;
                // If unlocking failed, closing the session releases the lock.
                released.is_err()
            }
            Err(_) => session.client.is_closed(),
            Ok(_) => false,
        };
        if drop_session {
            *slot = None;
        }
        out
    }
}
