//! PostgreSQL failures mapped onto [`IndexError`] kinds, and column reads
//! whose decoding failures are `Corrupt`.

use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::types::FromSql;
use deadpool_postgres::tokio_postgres::{Error as PgError, Row};
use deadpool_postgres::{PoolError, tokio_postgres};

use crate::error::IndexError;

/// Maps a driver error. `what` names the operation for the message.
///
/// - unique violation → `AlreadyExists` (a taken id or API key hash);
/// - serialization failure, deadlock, lock timeout → `Conflict` (nothing
///   was committed; the caller retries the operation);
/// - data exceptions and other integrity violations (class 22, 23) →
///   `Invalid` (e.g. a NUL character, which PostgreSQL text cannot hold);
/// - syntax or missing objects (class 42), internal errors (XX) →
///   `Corrupt`: the database does not hold the schema this build expects;
/// - everything else (connection refused or lost, server shutting down,
///   too many connections, timeouts) → `Storage`: retry later.
pub(super) fn pg(what: &str) -> impl FnOnce(PgError) -> IndexError + '_ {
    move |e| from_pg(what, &e)
}

pub(super) fn from_pg(what: &str, e: &PgError) -> IndexError {
    let Some(db) = e.as_db_error() else {
        // tokio-postgres's own text leaves out the cause ("error performing
        // TLS handshake"); the operator needs it ("invalid peer
        // certificate: UnknownIssuer"). Sources carry no URL or password.
        let mut text = format!("postgres {what}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        return IndexError::storage(text);
    };
    let code = db.code();
    let msg = format!("postgres {what}: {} ({})", db.message(), code.code());
    if *code == SqlState::UNIQUE_VIOLATION {
        return IndexError::already_exists(msg);
    }
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        return IndexError::conflict(msg);
    }
    match &code.code()[..2] {
        "22" | "23" => IndexError::invalid(msg),
        "42" | "XX" => IndexError::corrupt(msg),
        _ => IndexError::storage(msg),
    }
}

pub(super) fn pool(e: PoolError) -> IndexError {
    match e {
        PoolError::Backend(e) => from_pg("connect", &e),
        other => IndexError::storage(format!("postgres connection pool: {other}")),
    }
}

/// A column of `row`; a value that does not decode is `Corrupt`.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, IndexError> {
    row.try_get(name)
        .map_err(|e: tokio_postgres::Error| IndexError::corrupt(format!("column {name}: {e}")))
}

/// An integer column that must fit a narrower Rust type.
pub(super) fn col_int<T: TryFrom<i64>>(row: &Row, name: &str) -> Result<T, IndexError> {
    let wide: i64 = match row.columns().iter().find(|c| c.name() == name) {
        Some(c) if *c.type_() == tokio_postgres::types::Type::INT2 => col::<i16>(row, name)?.into(),
        Some(c) if *c.type_() == tokio_postgres::types::Type::INT4 => col::<i32>(row, name)?.into(),
        _ => col::<i64>(row, name)?,
    };
    T::try_from(wide)
        .map_err(|_| IndexError::corrupt(format!("column {name}: {wide} out of range")))
}

/// A `u64` column (`numeric(20,0)`).
pub(super) fn col_u64(row: &Row, name: &str) -> Result<u64, IndexError> {
    Ok(col::<super::numeric::U64>(row, name)?.0)
}

/// A 32-byte id column.
pub(super) fn col_id(row: &Row, name: &str) -> Result<[u8; 32], IndexError> {
    let bytes: &[u8] = col(row, name)?;
    bytes
        .try_into()
        .map_err(|_| IndexError::corrupt(format!("column {name}: {} bytes, not 32", bytes.len())))
}
