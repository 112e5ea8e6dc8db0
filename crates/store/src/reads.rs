//! Hot reads: single-statement, read-only queries on the request path (the catalogue) that
//! skip sqlx's `Any` layer.
//!
//! The profile in BENCHMARKS.md put a catalogue page's time in sqlx's SQLite worker-thread
//! hand-offs (a message and a wake-up per statement and per row) and in converting every
//! row to an `AnyRow`. Here SQLite is read in place on the calling thread, from a few
//! read-only connections: in WAL mode a reader never waits for the writer, and an indexed
//! page costs tens of microseconds, less than the hand-off it replaces. MySQL is read
//! through its typed driver, which is asynchronous already.
//!
//! Callers keep scans (e.g. `LIKE` searches) on the `Any` pool: only indexed lookups may
//! run on an async worker thread.

use crate::db::Dialect;
use crate::error::StoreError;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{MySqlPool, Row};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One result row, by column position, whatever the backend.
pub trait ReadRow {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn text(&self, index: usize) -> Result<String, StoreError>;
}

#[derive(Debug, Clone)]
pub struct Reads {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Arc<SqliteReaders>),
    MySql(MySqlPool),
}

impl Reads {
    pub(crate) fn new(
        dialect: Dialect,
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let backend = match dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?;
                Backend::Sqlite(Arc::new(SqliteReaders {
                    path: options.get_filename().to_path_buf(),
                    idle: Mutex::new(Vec::new()),
                }))
            }
            Dialect::MySql => {
                let options = MySqlConnectOptions::from_str(url)?;
                let pool = MySqlPoolOptions::new()
                    .max_connections(max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire_timeout)
                    // Session settings of the main pool (time zone, isolation) do not
                    // matter to single autocommit SELECTs of integers and strings.
                    .test_before_acquire(false)
                    .connect_lazy_with(options);
                Backend::MySql(pool)
            }
        };
        Ok(Self { backend })
    }

    /// Runs one read-only statement with integer parameters and maps every row.
    pub async fn fetch_all<T>(
        &self,
        sql: &str,
        params: &[i64],
        map: impl Fn(&dyn ReadRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match &self.backend {
            Backend::Sqlite(readers) => readers.with(|conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(params))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(map(row)?);
                }
                Ok(out)
            }),
            Backend::MySql(pool) => {
                let mut query = sqlx::query(sql);
                for param in params {
                    query = query.bind(*param);
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter().map(|row| map(row)).collect()
            }
        }
    }

    pub(crate) async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(readers) => readers.close(),
            Backend::MySql(pool) => pool.close().await,
        }
    }
}

/// Read-only SQLite connections, each used by one thread at a time and returned after the
/// statement. At most one per thread that reads at once is ever open.
#[derive(Debug)]
struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Idle connections kept beyond this are closed: enough for the runtime's worker threads.
const MAX_IDLE_READERS: usize = 8;

impl SqliteReaders {
    fn with<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        // No CREATE: the file exists once migrations ran; a missing file is an error.
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // query_only: these connections can never write, whatever SQL reaches them.
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
        Ok(conn)
    }

    fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

impl ReadRow for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.get(index)?)
    }

    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.get(index)?)
    }
}

impl ReadRow for MySqlRow {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }

    /// As bytes: the typed driver refuses `String` for columns with a binary collation
    /// (ours compare case-sensitively), which the `Any` driver decoded as text.
    fn text(&self, index: usize) -> Result<String, StoreError> {
        let bytes: &[u8] = self.try_get(index)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|err| StoreError::Corrupt(format!("column {index} is not UTF-8: {err}")))
    }
}

/// For the statements that stay on the `Any` pool (a catalogue search) and map rows alike.
impl ReadRow for sqlx::any::AnyRow {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }

    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.try_get(index)?)
    }
}
