//! SQLite's hot reads: read in place on the calling thread, from a few read-only
//! connections. In WAL mode a reader never waits for the writer, and an indexed read takes
//! less time than the hand-off to sqlx's worker thread it replaces (BENCHMARKS.md).

use crate::error::StoreError;
use crate::param::Param;
use crate::row::ReadRow;
use crate::sqlite::conn::{open_sqlite, sqlite_rows};
use std::path::PathBuf;
use std::sync::Mutex;

/// Read-only SQLite connections, each used by one thread at a time and returned after the
/// statement. At most one per thread that reads at once is ever open.
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Idle connections kept beyond this are closed: enough for the runtime's worker threads.
const MAX_IDLE_READERS: usize = 8;

impl SqliteReaders {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs one read-only statement and maps every row.
    pub(crate) fn fetch_all<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.with(|conn| {
            sqlite_rows(
                conn,
                sql,
                rusqlite::params_from_iter(params),
                usize::MAX,
                map,
            )
        })
    }

    fn with<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
    ) -> Result<T, E> {
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
        // query_only: these connections can never write, whatever SQL reaches them.
        open_sqlite(
            &self.path,
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;",
        )
    }

    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
