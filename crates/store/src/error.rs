//! Database errors classified by kind, so services can turn constraint violations into
//! client errors on purpose (by error code, not by a Postgres-only constraint name).

/// What kind of failure a database error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A unique or primary key constraint refused a duplicate.
    UniqueViolation,
    /// The database cannot be reached or the pool is exhausted: retry later (503).
    Unavailable,
    /// A lock wait or deadlock: the transaction was rolled back and may be retried.
    Conflict,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value breaks an invariant the code relies on (e.g. a negative price).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Pools open and close connections at will, and an in-memory SQLite database lives
    /// only as long as one of them; the catalogue's readers could not see it at all.
    #[error(
        "in-memory SQLite is not supported: the database would vanish with its last \
         connection; use a file, e.g. sqlite://escrow.db"
    )]
    InMemorySqlite,
    /// A read or a commit that failed as part of a batch (see `Reads`, and SQLite's shared
    /// `COMMIT` in `SqliteWriter`): each member of it gets this.
    #[error("database error: {message}")]
    Batched { kind: DbErrorKind, message: String },
    /// A row's column that is missing or not of the type read (a bug in a select list or
    /// its mapper), or a NULL where a value was read.
    #[error("cannot read column `{name}`: {message}")]
    Column { name: String, message: String },
    #[error("unsupported database url `{0}`: use sqlite://... or mysql://...")]
    UnsupportedUrl(String),
}

impl StoreError {
    pub fn kind(&self) -> DbErrorKind {
        match self {
            StoreError::Sqlx(err) => classify(err),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => match err.code {
                rusqlite::ErrorCode::ConstraintViolation
                    if matches!(
                        err.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    DbErrorKind::UniqueViolation
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    DbErrorKind::Conflict
                }
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure => {
                    DbErrorKind::Unavailable
                }
                _ => DbErrorKind::Other,
            },
            StoreError::Batched { kind, .. } => *kind,
            _ => DbErrorKind::Other,
        }
    }
}

/// Classifies by the backend's own codes: MySQL/MariaDB 1062 (duplicate key), 1213 (deadlock),
/// 1205 (lock wait timeout); SQLite extended codes 2067 (unique) and 1555 (primary key),
/// 5/6 (busy/locked).
pub fn classify(err: &sqlx::Error) -> DbErrorKind {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code();
            match code.as_deref() {
                Some("1062") | Some("2067") | Some("1555") | Some("23000") => {
                    DbErrorKind::UniqueViolation
                }
                Some("1213") | Some("1205") | Some("40001") | Some("5") | Some("6")
                | Some("517") | Some("261") => DbErrorKind::Conflict,
                _ if db.is_unique_violation() => DbErrorKind::UniqueViolation,
                _ => DbErrorKind::Other,
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}
