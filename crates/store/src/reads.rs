//! Hot reads: single-statement, read-only queries on the request path (the catalogue, a
//! payment by id) that skip sqlx's `Any` layer.
//!
//! sqlx's SQLite driver hands every statement and row to a worker thread and converts each
//! row to an `AnyRow`, which is where a catalogue read spent its time (BENCHMARKS.md). Here
//! SQLite is read in place on the calling thread (`sqlite::readers`); MySQL through its
//! typed driver, with reads that arrive while others are in flight sent together as one
//! statement (`mysql::batch`).
//!
//! Callers keep scans (e.g. `LIKE` searches) on the `Any` pool: only indexed lookups may
//! run on an async worker thread.

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::mysql::batch::{MySqlReads, Shape};
use crate::param::Param;
use crate::row::ReadRow;
use crate::sqlite::readers::SqliteReaders;
use sqlx::sqlite::SqliteConnectOptions;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Reads {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Arc<SqliteReaders>),
    MySql(MySqlReads),
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
                let path = SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_path_buf();
                Backend::Sqlite(Arc::new(SqliteReaders::new(path)))
            }
            Dialect::MySql => {
                Backend::MySql(MySqlReads::connect(url, max_connections, acquire_timeout)?)
            }
        };
        Ok(Self { backend })
    }

    /// Runs one read-only `SELECT` and maps every row.
    ///
    /// On MySQL the statement may run batched with others (a `UNION ALL`), which defines no
    /// order across its parts: a caller that needs the rows in order sorts them.
    pub async fn fetch_all<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch(sql, params, Shape::Rows, map).await
    }

    /// Runs a read-only look-up by key: `sql` selects the key as its first column and ends
    /// in `IN (?)`, its one parameter. On MySQL integer look-ups of the same statement that
    /// arrive together are sent as one `IN` list, which MariaDB parses, plans and answers
    /// once (a `UNION ALL` of them costs it the per-statement work once per part).
    pub async fn fetch_by_key<T, E: From<StoreError>>(
        &self,
        sql: &str,
        key: impl Into<Param>,
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch(sql, &[key.into()], Shape::ByKey, map).await
    }

    async fn fetch<T, E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[Param],
        shape: Shape,
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        match &self.backend {
            Backend::Sqlite(readers) => readers.fetch_all(sql, params, map),
            Backend::MySql(reads) => reads.fetch_all(sql, params, shape, map).await,
        }
    }

    pub(crate) async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(readers) => readers.close(),
            Backend::MySql(reads) => reads.close().await,
        }
    }
}
