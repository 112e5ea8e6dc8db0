//! SQLite's one writer connection and its group commit.

use crate::error::{DbErrorKind, StoreError};
use crate::sqlite::conn::open_sqlite;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

/// SQLite's one writer connection. Write transactions queue for it here, first come first
/// served, instead of at SQLite's file lock, whose busy handler sleeps and so lets write
/// latencies spike under concurrency.
///
/// Transactions that queue together share one `COMMIT` (group commit, BENCHMARKS.md): each
/// runs in turn inside the SQLite transaction the first of them opened (the others each in
/// a savepoint, so that one rolling back undoes only itself), and each [`SqliteTx::commit`]
/// returns once that SQLite transaction has been committed and synced, not before. The
/// `COMMIT` is taken by a task that queues for the writer when the group's first
/// transaction finishes: every transaction that queued before it joins the group. One sync
/// then serves them all, and pages they share (an index's, the outbox's last) are written
/// to the WAL once. MariaDB does the same with the commits of concurrent sessions.
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    path: PathBuf,
    pub(super) state: Arc<Mutex<WriterState>>,
    acquire_timeout: Duration,
    group_commits: bool,
    pub(super) counts: Arc<CommitCounters>,
}

/// How many transactions the writer committed, in how many SQLite `COMMIT`s, and how many
/// checkpoints it ran.
#[derive(Debug, Default)]
pub(super) struct CommitCounters {
    transactions: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) checkpoints: AtomicU64,
    /// Raised at every `COMMIT` and when the writer is dropped: an idle checkpointer waits
    /// for it.
    pub(super) committed: Notify,
}

/// A reading of the writer's counters (`Db::commit_counts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitCounts {
    pub transactions: u64,
    pub commits: u64,
    pub checkpoints: u64,
}

pub(super) type WriterGuard = OwnedMutexGuard<WriterState>;

#[derive(Debug)]
pub(super) struct WriterState {
    /// `None` until first used, and after a failed rollback left it in doubt.
    pub(super) conn: Option<rusqlite::Connection>,
    /// The SQLite transaction open on `conn`, if any, with the transactions that finished in
    /// it and wait for its `COMMIT`.
    group: Option<Vec<Finished>>,
    pub(super) counts: Arc<CommitCounters>,
}

/// A transaction that finished in the open SQLite transaction, waiting for its `COMMIT`.
type Finished = oneshot::Sender<Result<(), StoreError>>;

/// How long `BEGIN IMMEDIATE` retries while another connection (a statement outside a
/// transaction, another process) holds SQLite's write lock.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

/// A write transaction holding the writer. Dropped without [`SqliteTx::commit`], it rolls
/// back (see `WriterState::abandon`).
#[derive(Debug)]
pub(crate) struct SqliteTx {
    /// `None` once committed.
    state: Option<WriterGuard>,
    group_commits: bool,
}

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
        // it is next reused. Temporary storage in memory: a transaction that joins an open
        // group runs in a savepoint, whose copies of the pages it changes would otherwise go
        // to a new temporary file each time they pass 64 KiB (BENCHMARKS.md).
        let conn = open_sqlite(
            &self.path,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA journal_size_limit = 8388608; PRAGMA temp_store = MEMORY;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    pub(crate) async fn begin(&self) -> Result<SqliteTx, StoreError> {
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
        Ok(SqliteTx {
            state: Some(state),
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
}

impl SqliteTx {
    fn state(&self) -> &WriterState {
        self.state
            .as_ref()
            .expect("a transaction holds the writer until it ends")
    }

    /// The writer's connection, to run this transaction's statements on in place.
    pub(crate) fn conn(&self) -> Result<&rusqlite::Connection, StoreError> {
        self.state().conn()
    }

    /// Finishes this transaction in the open SQLite transaction and returns once that has
    /// been committed (with the others that finished in it), or has failed.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let mut state = self
            .state
            .take()
            .expect("a transaction holds the writer until it ends");
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
        if self.group_commits {
            if group.len() == 1 {
                tokio::spawn(commit_in_turn(Arc::clone(OwnedMutexGuard::mutex(&state))));
            }
            drop(state);
        } else {
            commit_off_the_runtime(state).await;
        }
        committed
            .await
            .map_err(|_| StoreError::Corrupt("the shared commit ended without an answer".into()))?
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            state.abandon();
        }
    }
}

impl Drop for WriterState {
    fn drop(&mut self) {
        // An idle checkpointer waits for a COMMIT: it finds the writer gone and ends.
        self.counts.committed.notify_one();
    }
}

impl WriterState {
    pub(super) fn conn(&self) -> Result<&rusqlite::Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("SQLite's writer connection is closed".into()))
    }

    /// Commits the open SQLite transaction, if any, and tells each transaction that finished
    /// in it how that went. Syncs the WAL: call it off the runtime.
    pub(super) fn commit_group(&mut self) -> Result<(), StoreError> {
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
    /// merely found nothing to do ends with a commit instead, which waits for the shared
    /// COMMIT.
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
pub(super) async fn off_the_runtime<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Corrupt(format!("the {what}'s thread failed: {err}")))?
}
