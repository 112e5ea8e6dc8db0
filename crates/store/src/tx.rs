//! Write transactions on either backend, and the values bound to their statements.

use crate::error::{DbErrorKind, StoreError};
use crate::lease::{Lease, Lender};
use crate::reads::{open_sqlite, sqlite_rows, ReadRow};
use crate::trouble::Trouble;
use sqlx::TransactionManager as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A write transaction on either backend; services own it and pass it to repository
/// functions. Dropped without [`Tx::commit`], it rolls back.
///
/// On SQLite it holds the one writer connection ([`SqliteWriter`]) and runs each statement
/// in place, on the caller's thread: only the `COMMIT`, which syncs the WAL to disk, leaves
/// it. Through sqlx every statement was a hand-off to the connection's worker thread and
/// back, and the task then waited in the runtime's queue behind other requests, all while
/// holding SQLite's one write lock (round 6 in BENCHMARKS.md). On MySQL it holds a pooled
/// connection and sends each statement to the server, as sqlx does.
#[derive(Debug)]
pub struct Tx {
    /// `None` once committed (the connection went back).
    conn: Option<TxConn>,
    deferred: Vec<Deferred>,
}

#[derive(Debug)]
enum TxConn {
    Sqlite(OwnedMutexGuard<Option<rusqlite::Connection>>),
    /// Not sqlx's `Transaction`: that returns its connection to sqlx's pool, which pings
    /// it; a committed transaction's connection goes back to the [`Lender`] unchecked.
    MySql(Lease<sqlx::Any>),
}

/// A statement whose result nobody reads, queued by [`Tx::defer`].
#[derive(Debug)]
struct Deferred {
    sql: String,
    params: Vec<Param>,
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::Text(value.clone())
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            Param::Text(value) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// The parameters of a statement: `params![order_id, "paid", None::<i64>]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::Param::from($value)),*][..]
    };
}

/// SQLite's one writer connection. Write transactions queue for it here, first come first
/// served, instead of at SQLite's file lock, whose busy handler sleeps in steps of up to
/// 100 ms (write latencies spiked at 10-50x their median under concurrency).
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    path: PathBuf,
    /// `None` until first used, and after a failed rollback left it in doubt.
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
    acquire_timeout: Duration,
}

/// How long `BEGIN IMMEDIATE` retries while another connection (a statement outside a
/// transaction, another process) holds SQLite's write lock.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

impl SqliteWriter {
    pub(crate) fn new(path: PathBuf, acquire_timeout: Duration) -> Self {
        Self {
            path,
            conn: Arc::new(Mutex::new(None)),
            acquire_timeout,
        }
    }

    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        // As the pool's connections (`Db::pool_options`), but: no busy handler (its sleeps
        // would block the runtime's thread; `begin` retries instead), no checkpoint inside a
        // COMMIT (the checkpointer takes its own turn in the writer's queue), and a WAL
        // that grew while a long read kept it from being reused is cut back to 8 MiB when
        // it is next reused.
        let conn = open_sqlite(
            &self.path,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA journal_size_limit = 8388608;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    async fn begin(&self) -> Result<Tx, StoreError> {
        let mut guard = tokio::time::timeout(self.acquire_timeout, self.conn.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Sqlx(sqlx::Error::PoolTimedOut))?;
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let started = Instant::now();
        loop {
            let conn = guard.as_ref().expect("opened above");
            let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") else {
                break;
            };
            // Busy or locked: another connection holds the write lock.
            let err = StoreError::from(err);
            if err.kind() != DbErrorKind::Conflict || started.elapsed() >= BUSY_PATIENCE {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Tx {
            conn: Some(TxConn::Sqlite(guard)),
            deferred: Vec::new(),
        })
    }

    pub(crate) async fn close(&self) {
        self.conn.lock().await.take();
    }

    /// Checkpoints the WAL every [`CHECKPOINT_EVERY`], each time as one more turn in the
    /// writer's queue, until the writer is dropped.
    ///
    /// Between two transactions nothing is appended while the pages are copied, so the
    /// copy reaches the WAL's end and the next transaction writes from its start again.
    /// A checkpoint beside the writer (on another connection, until round 8) never
    /// caught up while transactions kept coming: the WAL grew by every commit's pages
    /// (25 MB/s in the lifecycle benchmark, without bound), and each sync also had to
    /// allocate the file's new blocks.
    pub(crate) fn spawn_checkpointer(&self) {
        let writer = Arc::downgrade(&self.conn);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A failing checkpoint (a full disk) fails every time: said once a minute, not
            // ten times a second.
            let mut trouble = Trouble::default();
            loop {
                every.tick().await;
                let Some(writer) = writer.upgrade() else {
                    return;
                };
                match checkpoint(writer.lock_owned().await).await {
                    Ok(()) => {
                        trouble.over();
                    }
                    Err(err) => trouble.failed(&err, "WAL checkpoint failed"),
                }
            }
        });
    }
}

/// How often SQLite's WAL is copied into the database file: the WAL holds about this long's
/// commits, and the writer waits for each copy (a few milliseconds at full load).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// `PASSIVE`: copies what no reader still needs, without waiting for readers. Done on the
/// blocking pool: it writes and syncs the database file.
async fn checkpoint(
    writer: OwnedMutexGuard<Option<rusqlite::Connection>>,
) -> Result<(), StoreError> {
    if writer.is_none() {
        // Not opened yet (nothing written through it) or closed.
        return Ok(());
    }
    off_the_runtime("checkpoint", move || {
        writer
            .as_ref()
            .expect("checked above")
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(StoreError::from)
    })
    .await
}

/// Runs SQLite work that waits for the disk (a sync) on the blocking pool, not on a
/// runtime thread. `what` names it if that thread fails.
async fn off_the_runtime<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Corrupt(format!("the {what}'s thread failed: {err}")))?
}

/// Where write transactions get their connection.
#[derive(Debug, Clone)]
pub(crate) enum Writer {
    Sqlite(SqliteWriter),
    MySql(Lender<sqlx::Any>),
}

type AnyTransactionManager = <sqlx::Any as sqlx::Database>::TransactionManager;

impl Writer {
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        match self {
            Writer::Sqlite(writer) => writer.begin().await,
            Writer::MySql(lender) => {
                let mut lease = lender.lease().await?;
                AnyTransactionManager::begin(&mut lease, None).await?;
                Ok(Tx {
                    conn: Some(TxConn::MySql(lease)),
                    deferred: Vec::new(),
                })
            }
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Writer::Sqlite(writer) => writer.close().await,
            Writer::MySql(lender) => lender.close().await,
        }
    }
}

impl Tx {
    fn conn(&mut self) -> &mut TxConn {
        self.conn
            .as_mut()
            .expect("a transaction holds its connection until it ends")
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        match self.conn() {
            TxConn::Sqlite(conn) => {
                let conn = conn.as_ref().expect("a transaction's connection is open");
                let changed = conn
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params))?;
                Ok(changed as u64)
            }
            TxConn::MySql(lease) => Ok(bind_all(sqlx::query(sql), params)
                .execute(&mut **lease)
                .await?
                .rows_affected()),
        }
    }

    /// Runs an INSERT and returns the new row's auto-increment `id`.
    pub async fn insert_returning_id(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<i64, StoreError> {
        match self.conn() {
            TxConn::Sqlite(conn) => {
                let conn = conn.as_ref().expect("a transaction's connection is open");
                conn.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params))?;
                Ok(conn.last_insert_rowid())
            }
            TxConn::MySql(lease) => bind_all(sqlx::query(sql), params)
                .execute(&mut **lease)
                .await?
                .last_insert_id()
                .ok_or_else(|| StoreError::Corrupt("MySQL reported no insert id".into())),
        }
    }

    /// Reads the first row of a statement, if any, mapped by `map`.
    pub async fn fetch_optional<T, E: From<StoreError>>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        Ok(self.fetch_up_to(1, sql, params, map).await?.pop())
    }

    /// Reads every row of a statement, each mapped by `map`.
    pub async fn fetch_all<T, E: From<StoreError>>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch_up_to(usize::MAX, sql, params, map).await
    }

    async fn fetch_up_to<T, E: From<StoreError>>(
        &mut self,
        max_rows: usize,
        sql: &str,
        params: &[Param],
        map: impl Fn(&dyn ReadRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        match self.conn() {
            TxConn::Sqlite(conn) => {
                let conn = conn.as_ref().expect("a transaction's connection is open");
                sqlite_rows(conn, sql, rusqlite::params_from_iter(params), max_rows, map)
            }
            TxConn::MySql(lease) => {
                let query = bind_all(sqlx::query(sql), params);
                let rows = if max_rows == 1 {
                    query.fetch_optional(&mut **lease).await.map(Vec::from_iter)
                } else {
                    query.fetch_all(&mut **lease).await
                };
                let rows = rows.map_err(StoreError::from)?;
                rows.iter().take(max_rows).map(|row| map(row)).collect()
            }
        }
    }

    /// Queues a write whose result nobody reads (a history, ledger or outbox row) to run
    /// at commit, after the transaction's other statements; a failing one fails the
    /// commit. It once let SQLite's worker thread take these rows with the `COMMIT` in one
    /// message; with the writer in place it saves a round trip on neither backend, and
    /// keeps the functions that record them free of `await`.
    pub fn defer(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.deferred.push(Deferred {
            sql: sql.into(),
            params,
        });
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let deferred = std::mem::take(&mut self.deferred);
        for d in &deferred {
            self.execute(&d.sql, &d.params).await?;
        }
        match self
            .conn
            .take()
            .expect("a transaction holds its connection until it ends")
        {
            // The COMMIT syncs the WAL (`synchronous = FULL`): a disk's wait, off the
            // runtime's threads. The writer is handed on from that thread as soon as the
            // sync is done, not after this task is scheduled again behind others.
            TxConn::Sqlite(conn) => {
                off_the_runtime("commit", move || {
                    let committed = conn
                        .as_ref()
                        .expect("a transaction's connection is open")
                        .execute_batch("COMMIT");
                    if committed.is_err() {
                        rollback_sqlite(conn);
                    }
                    committed.map_err(StoreError::from)
                })
                .await
            }
            TxConn::MySql(mut lease) => {
                AnyTransactionManager::commit(&mut lease).await?;
                lease.finished_cleanly();
                Ok(())
            }
        }
    }
}

/// Rolls back SQLite's writer in place (nothing to sync); a connection whose rollback
/// failed is in doubt and is closed, and the next transaction opens another.
fn rollback_sqlite(mut conn: OwnedMutexGuard<Option<rusqlite::Connection>>) {
    let rolled_back = conn.as_ref().map(|c| c.execute_batch("ROLLBACK"));
    if let Some(Err(err)) = rolled_back {
        tracing::warn!(error = %err, "rollback failed; closing the connection");
        conn.take();
    }
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for param in params {
        query = match param {
            Param::Int(value) => query.bind(*value),
            Param::Text(value) => query.bind(value.as_str()),
            Param::Null => query.bind(None::<String>),
        };
    }
    query
}

impl Drop for Tx {
    fn drop(&mut self) {
        match self.conn.take() {
            None => {}
            Some(TxConn::Sqlite(conn)) => rollback_sqlite(conn),
            // Queued on the connection; sqlx's pool, which takes an unclean lease back,
            // sends it with its check.
            Some(TxConn::MySql(mut lease)) => AnyTransactionManager::start_rollback(&mut lease),
        }
    }
}
