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

/// Classifies by the backend's own codes: MySQL/MariaDB 1062 (duplicate key), 1213 (deadlock,
/// or on Galera a transaction that lost certification at COMMIT), 1205 (lock wait timeout);
/// 1047 (a Galera node not yet synced with its cluster, as while it rejoins), 1053 (server
/// shutting down) and 1927 (connection killed) are a server out of service for now; SQLite
/// extended codes 2067 (unique) and 1555 (primary key), 5/6 (busy/locked).
pub fn classify(err: &sqlx::Error) -> DbErrorKind {
    match err {
        sqlx::Error::Database(db) => {
            // sqlx's `code()` of a MySQL error is its SQLSTATE, a broad class (1047 and 1053
            // are both 08S01, 1205 is HY000): the error number tells them apart.
            let code = match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                Some(mysql) => Some(std::borrow::Cow::Owned(mysql.number().to_string())),
                None => db.code(),
            };
            match code.as_deref() {
                Some("1062") | Some("2067") | Some("1555") | Some("23000") => {
                    DbErrorKind::UniqueViolation
                }
                Some("1213") | Some("1205") | Some("40001") | Some("5") | Some("6")
                | Some("517") | Some("261") => DbErrorKind::Conflict,
                Some("1047") | Some("1053") | Some("1927") => DbErrorKind::Unavailable,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A server's error as sqlx reports it: only its code matters here.
    #[derive(Debug)]
    struct ServerError(&'static str);

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "server error {}", self.0)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            "server error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn server_codes_are_classified_by_what_a_caller_can_do() {
        let table = [
            ("1062", DbErrorKind::UniqueViolation),
            ("1213", DbErrorKind::Conflict),
            ("1205", DbErrorKind::Conflict),
            ("1047", DbErrorKind::Unavailable),
            ("1053", DbErrorKind::Unavailable),
            ("1927", DbErrorKind::Unavailable),
            ("2067", DbErrorKind::UniqueViolation),
            ("5", DbErrorKind::Conflict),
            ("1146", DbErrorKind::Other),
        ];
        for (code, kind) in table {
            let err = sqlx::Error::Database(Box::new(ServerError(code)));
            assert_eq!(classify(&err), kind, "code {code}");
            assert_eq!(StoreError::from(err).kind(), kind, "code {code}");
        }
    }
}
