//! Write transactions on either backend, and the values bound to their statements.

use crate::error::{DbErrorKind, StoreError};
use crate::lease::{Lease, Lender};
use crate::reads::{open_sqlite, sqlite_rows, ReadRow};
use crate::trouble::Trouble;
use sqlx::TransactionManager as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

/// A write transaction on either backend; services own it and pass it to repository
/// functions. Dropped without [`Tx::commit`], it rolls back.
///
/// On SQLite it holds the one writer connection ([`SqliteWriter`]) and runs each statement
/// in place, on the caller's thread: only the `COMMIT`, which syncs the WAL to disk, leaves
/// it, so the one write lock is not held across hand-offs between threads (BENCHMARKS.md).
/// On MySQL it holds a pooled connection and sends each statement to the server, as sqlx
/// does.
#[derive(Debug)]
pub struct Tx {
    /// `None` once committed (the connection went back).
    conn: Option<TxConn>,
    deferred: Vec<Deferred>,
    /// [`crate::Db::announced_commits`], raised after the commit if `announce` is set.
    announce_to: Arc<crate::db::Announcements>,
    announce: bool,
}

#[derive(Debug)]
enum TxConn {
    Sqlite {
        state: WriterGuard,
        group_commits: bool,
    },
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
/// served, instead of at SQLite's file lock, whose busy handler sleeps and so lets write
/// latencies spike under concurrency.
///
/// Transactions that queue together share one `COMMIT` (group commit, BENCHMARKS.md): each
/// runs in turn inside the SQLite transaction the first of them opened (the others each in
/// a savepoint, so that one rolling back undoes only itself), and each [`Tx::commit`]
/// returns once that SQLite transaction has been committed and synced, not before. The
/// `COMMIT` is taken by a task that queues for the writer when the group's first
/// transaction finishes: every transaction that queued before it joins the group. One sync
/// then serves them all, and pages they share (an index's, the outbox's last) are written
/// to the WAL once. MariaDB does the same with the commits of concurrent sessions.
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    path: PathBuf,
    state: Arc<Mutex<WriterState>>,
    acquire_timeout: Duration,
    group_commits: bool,
    counts: Arc<CommitCounters>,
}

/// How many transactions the writer committed, in how many SQLite `COMMIT`s, and how many
/// checkpoints it ran.
#[derive(Debug, Default)]
struct CommitCounters {
    transactions: AtomicU64,
    commits: AtomicU64,
    checkpoints: AtomicU64,
    /// Raised at every `COMMIT` and when the writer is dropped: an idle checkpointer waits
    /// for it.
    committed: Notify,
}

/// A reading of [`CommitCounters`] (`Db::commit_counts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitCounts {
    pub transactions: u64,
    pub commits: u64,
    pub checkpoints: u64,
}

type WriterGuard = OwnedMutexGuard<WriterState>;

#[derive(Debug)]
struct WriterState {
    /// `None` until first used, and after a failed rollback left it in doubt.
    conn: Option<rusqlite::Connection>,
    /// The SQLite transaction open on `conn`, if any, with the transactions that finished in
    /// it and wait for its `COMMIT`.
    group: Option<Vec<Finished>>,
    counts: Arc<CommitCounters>,
}

/// A transaction that finished in the open SQLite transaction, waiting for its `COMMIT`.
type Finished = oneshot::Sender<Result<(), StoreError>>;

/// How long `BEGIN IMMEDIATE` retries while another connection (a statement outside a
/// transaction, another process) holds SQLite's write lock.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

impl SqliteWriter {
    /// `group_commits: false` gives every transaction a `COMMIT` (and a sync) of its own.
    pub(crate) fn new(path: PathBuf, acquire_timeout: Duration, group_commits: bool) -> Self {
        let counts = Arc::<CommitCounters>::default();
        Self {
            path,
            state: Arc::new(Mutex::new(WriterState {
                conn: None,
                group: None,
                counts: Arc::clone(&counts),
            })),
            acquire_timeout,
            group_commits,
            counts,
        }
    }

    pub(crate) fn commit_counts(&self) -> CommitCounts {
        CommitCounts {
            transactions: self.counts.transactions.load(Ordering::Relaxed),
            commits: self.counts.commits.load(Ordering::Relaxed),
            checkpoints: self.counts.checkpoints.load(Ordering::Relaxed),
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

    async fn begin(&self) -> Result<TxConn, StoreError> {
        let mut state = tokio::time::timeout(self.acquire_timeout, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Sqlx(sqlx::Error::PoolTimedOut))?;
        if state.conn.is_none() {
            state.conn = Some(self.open()?);
        }
        match &state.group {
            // Others finished in the open transaction: this one must be undoable alone.
            Some(finished) if !finished.is_empty() => {
                state.conn()?.execute_batch("SAVEPOINT tx")?;
            }
            Some(_) => {}
            None => {
                let started = Instant::now();
                loop {
                    let begun = state.conn()?.execute_batch("BEGIN IMMEDIATE");
                    let Err(err) = begun else {
                        break;
                    };
                    // Busy or locked: another connection holds the write lock.
                    let err = StoreError::from(err);
                    if err.kind() != DbErrorKind::Conflict || started.elapsed() >= BUSY_PATIENCE {
                        return Err(err);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                state.group = Some(Vec::new());
            }
        }
        Ok(TxConn::Sqlite {
            state,
            group_commits: self.group_commits,
        })
    }

    pub(crate) async fn close(&self) {
        let state = self.state.clone().lock_owned().await;
        let _ = off_the_runtime("close", move || {
            let mut state = state;
            let committed = state.commit_group();
            state.conn.take();
            committed
        })
        .await;
    }

    /// Checkpoints the WAL every [`CHECKPOINT_EVERY`], each time as one more turn in the
    /// writer's queue, until the writer is dropped.
    ///
    /// Between two transactions nothing is appended while the pages are copied, so the
    /// copy reaches the WAL's end and the next transaction writes from its start again.
    /// A checkpoint on another connection never catches up while transactions keep coming,
    /// and the WAL then grows without bound (BENCHMARKS.md).
    ///
    /// An idle writer is left alone: once a checkpoint has copied the whole WAL, the next
    /// one waits for a `COMMIT`, and the checkpointer sleeps until one comes, so an idle
    /// instance does not wake for it.
    pub(crate) fn spawn_checkpointer(&self) {
        let writer = Arc::downgrade(&self.state);
        let counts = Arc::clone(&self.counts);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A failing checkpoint (a full disk) fails every time: said once a minute, not
            // ten times a second.
            let mut trouble = Trouble::default();
            // The `COMMIT` count when a checkpoint last left nothing in the WAL to copy.
            let mut copied_all_at = None;
            loop {
                every.tick().await;
                let Some(writer) = writer.upgrade() else {
                    return;
                };
                // Read before the checkpoint: a COMMIT that lands meanwhile only costs one
                // more checkpoint.
                let commits = counts.commits.load(Ordering::Relaxed);
                if copied_all_at == Some(commits) {
                    // Let the writer go (its drop wakes us too), then sleep until a COMMIT;
                    // one that came since the count was read left its wake-up behind.
                    drop(writer);
                    counts.committed.notified().await;
                    continue;
                }
                match checkpoint(writer.lock_owned().await).await {
                    Ok(copied_all) => {
                        trouble.over();
                        copied_all_at = copied_all.then_some(commits);
                    }
                    Err(err) => trouble.failed(&err, "WAL checkpoint failed"),
                }
            }
        });
    }
}

impl Drop for WriterState {
    fn drop(&mut self) {
        // An idle checkpointer waits for a COMMIT: it finds the writer gone and ends.
        self.counts.committed.notify_one();
    }
}

impl WriterState {
    fn conn(&self) -> Result<&rusqlite::Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("SQLite's writer connection is closed".into()))
    }

    /// Commits the open SQLite transaction, if any, and tells each transaction that finished
    /// in it how that went. Syncs the WAL: call it off the runtime.
    fn commit_group(&mut self) -> Result<(), StoreError> {
        let Some(finished) = self.group.take() else {
            return Ok(());
        };
        let committed = self
            .conn()
            .and_then(|conn| Ok(conn.execute_batch("COMMIT")?));
        if let Err(err) = &committed {
            fail_all(finished, err);
            self.roll_back();
        } else {
            self.counts.commits.fetch_add(1, Ordering::Relaxed);
            self.counts.committed.notify_one();
            self.counts
                .transactions
                .fetch_add(finished.len() as u64, Ordering::Relaxed);
            for member in finished {
                let _ = member.send(Ok(()));
            }
        }
        committed
    }

    /// Undoes the transaction that holds the writer: back to its savepoint when others
    /// finished before it in the same SQLite transaction, else the whole of it.
    ///
    /// In the first case what it read may include their work, not yet committed, and its
    /// caller may answer from it at once ("already paid" while the payment that did it
    /// waits for its COMMIT): so that work is committed here and now, before the caller
    /// goes on. That syncs on the caller's thread (a `Drop` cannot wait for another),
    /// which first hands its other tasks to another runtime thread; a transaction that
    /// merely found nothing to do ends with [`Tx::commit`] instead, which waits for the
    /// shared COMMIT.
    fn abandon(&mut self) {
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        let finished = self.group.take().unwrap_or_default();
        if conn.is_autocommit() {
            // SQLite ended the transaction itself (a full disk, an I/O error): the work of
            // those that finished in it is gone too.
            fail_all(finished, "SQLite rolled the transaction back");
        } else if finished.is_empty() {
            self.roll_back();
        } else {
            match conn.execute_batch("ROLLBACK TO tx; RELEASE tx") {
                Ok(()) => {
                    self.group = Some(finished);
                    // Each waiting transaction hears how it went.
                    let _ = blocking_in_place(|| self.commit_group());
                }
                Err(err) => {
                    fail_all(finished, &err);
                    self.roll_back();
                }
            }
        }
    }

    /// Rolls back the open SQLite transaction. A connection whose rollback failed is in
    /// doubt and is closed; the next transaction opens another.
    fn roll_back(&mut self) {
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        if conn.is_autocommit() {
            return;
        }
        if let Err(err) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(error = %err, "rollback failed; closing the connection");
            self.conn.take();
        }
    }
}

/// Tells the transactions that finished in a SQLite transaction that it was lost: their
/// own work was fine, so they may be retried.
fn fail_all(finished: Vec<Finished>, cause: impl std::fmt::Display) {
    for member in finished {
        let _ = member.send(Err(StoreError::Batched {
            kind: DbErrorKind::Unavailable,
            message: format!("the commit shared with other transactions failed: {cause}"),
        }));
    }
}

/// Takes its turn in the writer's queue and commits the open SQLite transaction with every
/// transaction that finished in it meanwhile (if something else, the checkpointer, did not
/// commit it first).
async fn commit_in_turn(writer: Arc<Mutex<WriterState>>) {
    let state = writer.lock_owned().await;
    if state.group.is_none() {
        return;
    }
    commit_off_the_runtime(state).await;
}

/// Commits the open SQLite transaction on the blocking pool: the `COMMIT` syncs the WAL
/// (`synchronous = FULL`), a disk's wait. The writer is handed on from that thread as soon
/// as the sync is done, not after the caller is scheduled again behind others. Each
/// transaction that finished in it hears the outcome through its own channel.
async fn commit_off_the_runtime(state: WriterGuard) {
    let _ = off_the_runtime("commit", move || {
        let mut state = state;
        state.commit_group()
    })
    .await;
}

/// How often SQLite's WAL is copied into the database file: the WAL holds about this long's
/// commits, and the writer waits for each copy (a few milliseconds at full load).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// `PASSIVE`: copies what no reader still needs, without waiting for readers. Done on the
/// blocking pool: it writes and syncs the database file. True when the whole WAL was copied.
async fn checkpoint(state: WriterGuard) -> Result<bool, StoreError> {
    if state.conn.is_none() {
        // Not opened yet (nothing written through it) or closed.
        return Ok(true);
    }
    off_the_runtime("checkpoint", move || {
        let mut state = state;
        // A group whose COMMIT is queued behind this turn is committed now: a checkpoint
        // cannot run inside a transaction.
        let _ = state.commit_group();
        state.counts.checkpoints.fetch_add(1, Ordering::Relaxed);
        // (busy, frames in the WAL, frames copied).
        let (in_wal, copied): (i64, i64) =
            state
                .conn()?
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get(1)?, row.get(2)?))
                })?;
        Ok(in_wal == copied)
    })
    .await
}

/// Runs `work`, which waits for the disk, on this thread; on a runtime thread of a
/// multi-threaded runtime the runtime first moves the thread's other tasks to another, so
/// they do not wait behind the sync (a current-thread runtime has no other thread).
fn blocking_in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
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
    pub(crate) async fn begin(
        &self,
        announce_to: &Arc<crate::db::Announcements>,
    ) -> Result<Tx, StoreError> {
        let conn = match self {
            Writer::Sqlite(writer) => writer.begin().await?,
            Writer::MySql(lender) => {
                let mut lease = lender.lease().await?;
                AnyTransactionManager::begin(&mut lease, None).await?;
                TxConn::MySql(lease)
            }
        };
        Ok(Tx {
            conn: Some(conn),
            deferred: Vec::new(),
            announce_to: Arc::clone(announce_to),
            announce: false,
        })
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
            TxConn::Sqlite { state, .. } => {
                let conn = state.conn()?;
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
            TxConn::Sqlite { state, .. } => {
                let conn = state.conn()?;
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
            TxConn::Sqlite { state, .. } => {
                let conn = state.conn()?;
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
    /// commit. It keeps the functions that record them free of `await`.
    pub fn defer(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.deferred.push(Deferred {
            sql: sql.into(),
            params,
        });
    }

    /// Once this transaction commits, wakes whoever waits on [`crate::Db::announced_commits`].
    pub fn announce_commit(&mut self) {
        self.announce = true;
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let committed = self.end_committing().await;
        if committed.is_ok() && self.announce {
            self.announce_to.relay.notify_one();
            self.announce_to.webhooks.notify_one();
        }
        committed
    }

    async fn end_committing(&mut self) -> Result<(), StoreError> {
        let deferred = std::mem::take(&mut self.deferred);
        for d in &deferred {
            self.execute(&d.sql, &d.params).await?;
        }
        match self
            .conn
            .take()
            .expect("a transaction holds its connection until it ends")
        {
            TxConn::Sqlite {
                mut state,
                group_commits,
            } => {
                if state
                    .group
                    .as_ref()
                    .is_some_and(|finished| !finished.is_empty())
                {
                    if let Err(err) = state
                        .conn()
                        .and_then(|c| Ok(c.execute_batch("RELEASE tx")?))
                    {
                        state.abandon();
                        return Err(err);
                    }
                }
                let (finished, committed) = oneshot::channel();
                let group = state.group.get_or_insert_with(Vec::new);
                group.push(finished);
                if group_commits {
                    if group.len() == 1 {
                        tokio::spawn(commit_in_turn(Arc::clone(OwnedMutexGuard::mutex(&state))));
                    }
                    drop(state);
                } else {
                    commit_off_the_runtime(state).await;
                }
                committed.await.map_err(|_| {
                    StoreError::Corrupt("the shared commit ended without an answer".into())
                })?
            }
            TxConn::MySql(mut lease) => {
                AnyTransactionManager::commit(&mut lease).await?;
                lease.finished_cleanly();
                Ok(())
            }
        }
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
            Some(TxConn::Sqlite { mut state, .. }) => state.abandon(),
            // Queued on the connection; sqlx's pool, which takes an unclean lease back,
            // sends it with its check.
            Some(TxConn::MySql(mut lease)) => AnyTransactionManager::start_rollback(&mut lease),
        }
    }
}
