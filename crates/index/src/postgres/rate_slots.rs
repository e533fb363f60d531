//! `book_rate_slot` on PostgreSQL: the rate's row, locked for the
//! transaction, and the database's clock, so that every replica books on
//! one queue and one clock.

use std::time::Duration;

use deadpool_postgres::tokio_postgres::Transaction;

use super::errors::pg;
use crate::error::IndexError;
use crate::rate_slots::{self, SlotBooking};

pub(super) async fn book(
    txn: &Transaction<'_>,
    name: &str,
    spacing: Duration,
    max_wait: Duration,
) -> Result<SlotBooking, IndexError> {
    // The first booking of a rate creates its row; the row lock then
    // serializes every replica's booking of that rate.
    txn.execute(
        "INSERT INTO rate_slots (name, next_free_us) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
        &[&name],
    )
    .await
    .map_err(pg("create rate slot"))?;
    let row = txn
        .query_one(
            "SELECT next_free_us, \
                    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us \
             FROM rate_slots WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(pg("read rate slot"))?;
    let (next_free_us, now_us): (i64, i64) = (row.get(0), row.get(1));
    let (booking, next) = rate_slots::book(next_free_us, now_us, spacing, max_wait);
    if let Some(next) = next {
        txn.execute(
            "UPDATE rate_slots SET next_free_us = $2 WHERE name = $1",
            &[&name, &next],
        )
        .await
        .map_err(pg("book rate slot"))?;
    }
    Ok(booking)
}
