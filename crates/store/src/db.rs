//! The database handle: the pool, the write transactions' connections and the hot reads.

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::mysql::ping::{ping_if_idle, PING_WHEN_IDLE_FOR};
use crate::param::{bind_all, Param};
use crate::pool::Lender;
use crate::reads::Reads;
use crate::sqlite::writer::{CommitCounts, SqliteWriter};
use crate::tx::{Tx, Writer};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Rows one write of [`Db::delete_older_than`] deletes (ties on the time may add a few):
/// small enough that a sweep never holds SQLite's one writer for long (BENCHMARKS.md).
const SWEEP_BATCH: i64 = 250;

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before the service answers 503.
    pub acquire_timeout: Duration,
    /// SQLite: transactions that queue for the writer together share one `COMMIT` (see
    /// `SqliteWriter`); `false` gives each its own, as the benchmark's database ceiling
    /// measures. MySQL's server groups its commits itself.
    pub group_commits: bool,
}

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            group_commits: true,
        }
    }
}

/// The database handle shared by the whole service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    /// Statements outside transactions.
    pool: Lender<sqlx::Any>,
    /// Write transactions' connections: on SQLite its one writer ([`SqliteWriter`]), on
    /// MySQL a pool as large as the main one.
    writer: Writer,
    /// The catalogue's hot reads, outside the `Any` layer.
    reads: Reads,
    dialect: Dialect,
    /// Raised after each commit of a transaction that asked for it ([`Tx::announce_commit`]).
    announced_commits: Arc<Announcements>,
}

/// One waiter per kind of work that follows commits: each is woken by every announced
/// commit (one `Notify` wakes only one of its waiters).
#[derive(Debug, Default)]
pub(crate) struct Announcements {
    pub(crate) relay: Notify,
    pub(crate) webhooks: Notify,
}

impl Db {
    /// Connects lazily-validated: the first connection is opened here so a bad URL or an
    /// unreachable server fails at start with a clear message.
    pub async fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(&config.url)?;
        let url = match dialect {
            // Create the file on first start: the zero-config default must just run.
            Dialect::Sqlite if !config.url.contains("mode=") => {
                let sep = if config.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}mode=rwc", config.url)
            }
            _ => config.url.clone(),
        };
        let options = AnyConnectOptions::from_str(&url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let max_connections = config.max_connections.max(1);
        let ping_when_idle_for = match dialect {
            Dialect::Sqlite => None,
            Dialect::MySql => Some(PING_WHEN_IDLE_FOR),
        };
        let pool = Lender::new(
            Self::pool_options(dialect, config, max_connections)
                .connect_with(options.clone())
                .await?,
            ping_when_idle_for,
        );
        let writer = match dialect {
            Dialect::Sqlite => {
                let path = SqliteConnectOptions::from_str(&url)?
                    .get_filename()
                    .to_path_buf();
                let writer = SqliteWriter::new(path, config.acquire_timeout, config.group_commits);
                writer.spawn_checkpointer();
                Writer::Sqlite(writer)
            }
            Dialect::MySql => Writer::MySql(Lender::new(
                Self::pool_options(dialect, config, max_connections).connect_lazy_with(options),
                ping_when_idle_for,
            )),
        };
        let reads = Reads::new(dialect, &url, max_connections, config.acquire_timeout)?;
        Ok(Self {
            pool,
            writer,
            reads,
            dialect,
            announced_commits: Arc::new(Announcements::default()),
        })
    }

    fn pool_options(dialect: Dialect, config: &DbConfig, max_connections: u32) -> AnyPoolOptions {
        let options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(config.acquire_timeout)
            // sqlx's default pings every connection it hands out, a round trip per query
            // (BENCHMARKS.md); only a connection that sat idle is pinged (MySQL).
            .test_before_acquire(false);
        let options = match dialect {
            Dialect::MySql => {
                options.before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
            }
            Dialect::Sqlite => options,
        };
        options
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes
                        // writers queue instead of failing at once. FULL syncs the WAL at
                        // every commit: a committed payment, refund or release survives a
                        // power cut, as on MariaDB (`innodb_flush_log_at_trx_commit = 1`);
                        // NORMAL could lose the last commits. 4 KiB pages, SQLite's default,
                        // stated since only a new, empty file takes a page size: a catalogue
                        // page's rows then fill fewer leaves (BENCHMARKS.md).
                        conn.execute(
                            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    } else {
                        // Strict mode turns silent truncation into errors; READ COMMITTED keeps
                        // conditional UPDATEs free of gap-lock deadlocks.
                        conn.execute(
                            "SET SESSION time_zone = '+00:00', \
                             SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,ONLY_FULL_GROUP_BY'",
                        )
                        .await?;
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                    }
                    Ok(())
                })
            })
    }

    /// For statements outside a transaction (an executor, as sqlx's pool is).
    pub fn pool(&self) -> &Lender<sqlx::Any> {
        &self.pool
    }

    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// SQLite: how many write transactions were committed, in how many `COMMIT`s (see
    /// `SqliteWriter`'s group commit). `None` on MySQL.
    pub fn commit_counts(&self) -> Option<CommitCounts> {
        match &self.writer {
            Writer::Sqlite(writer) => Some(writer.commit_counts()),
            Writer::MySql(_) => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write transaction waits for its turn instead of
    /// failing with `SQLITE_BUSY` when it upgrades.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        self.writer.begin(&self.announced_commits).await
    }

    /// Wakes one waiter (or the next to wait) after a transaction that called
    /// [`Tx::announce_commit`] commits, so work that follows commits (the outbox's relay)
    /// starts at once instead of on its next tick. Several commits may wake it once.
    pub fn announced_commits(&self) -> &Notify {
        &self.announced_commits.relay
    }

    /// As [`Db::announced_commits`], for the webhook fan-out.
    pub fn announced_to_webhooks(&self) -> &Notify {
        &self.announced_commits.webhooks
    }

    /// Runs one write outside a transaction and returns how many rows it changed. On
    /// SQLite it queues for the one writer with the write transactions: on another
    /// connection it would meet them at SQLite's busy handler, whose sleeps (1, 2, 5 ... 100
    /// ms) can miss every gap between back-to-back transactions until it gives up. On
    /// MySQL it runs on the pool, committed by itself.
    pub async fn write(&self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                let mut tx = self.begin().await?;
                let changed = tx.execute(sql, params).await?;
                tx.commit().await?;
                Ok(changed)
            }
            Dialect::MySql => Ok(bind_all(sqlx::query(sql), params)
                .execute(&self.pool)
                .await?
                .rows_affected()),
        }
    }

    /// Deletes the rows of `table` whose `column` (an indexed time; NULLs stay) is before
    /// `before`, [`SWEEP_BATCH`] rows per write: in one statement a long backlog would hold
    /// SQLite's one writer, and every request that writes, for as long as it took. Returns
    /// how many rows it deleted. `table` and `column` are the caller's own names, not
    /// input.
    pub async fn delete_older_than(
        &self,
        table: &str,
        column: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        let bound = format!(
            "SELECT MAX({column}) FROM (SELECT {column} FROM {table} \
             WHERE {column} < ? ORDER BY {column} LIMIT ?) AS batch"
        );
        // `<=` the batch's newest: rows tied with it go too.
        let delete = format!("DELETE FROM {table} WHERE {column} <= ?");
        let mut deleted = 0;
        loop {
            let through: Option<i64> = sqlx::query_scalar(&bound)
                .bind(before)
                .bind(SWEEP_BATCH)
                .fetch_one(&self.pool)
                .await?;
            let Some(through) = through else {
                return Ok(deleted);
            };
            let done = self.write(&delete, &[Param::Int(through)]).await?;
            deleted += done;
            if done < SWEEP_BATCH.unsigned_abs() {
                return Ok(deleted);
            }
        }
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.reads.close().await;
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Now, in unix milliseconds UTC: the one clock every stored time uses.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
