//! The connection pool: connections lent without sqlx's check on their return.
//!
//! sqlx's pool pings every connection that comes back to it, in case a cancelled statement
//! or an abandoned transaction left it mid-conversation: a round trip after every
//! transaction and every batch of reads (BENCHMARKS.md). A connection whose work ended
//! cleanly (a transaction committed, a statement read to its end) needs no such check. A
//! [`Lender`] keeps those itself and lends them again at once; a connection that may be
//! mid-conversation goes back through sqlx's pool, ping and all, as does every connection
//! now and then, so that the pool's lifetime rules still apply.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::TryStreamExt as _;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool on top of a sqlx pool: at most as many leases at once as the pool has
/// connections, so a lease never waits for a connection that sits idle here.
#[derive(Debug)]
pub struct Lender<DB: sqlx::Database> {
    inner: Arc<Inner<DB>>,
}

impl<DB: sqlx::Database> Clone for Lender<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    leases: Arc<Semaphore>,
    idle: Mutex<Vec<Idle<DB>>>,
    /// A connection kept here this long is pinged before it is lent again (`None`: never,
    /// for SQLite, whose "server" cannot go away).
    ping_when_idle_for: Option<Duration>,
}

#[derive(Debug)]
struct Idle<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    since: Instant,
    kept_since: Instant,
}

/// A connection kept here this long goes back to sqlx's pool on its next return, so that
/// the pool's own policy (its maximum lifetime, idle timeout, and check) still reaches it.
const KEEP_AT_MOST: Duration = Duration::from_secs(10 * 60);

/// A lent connection. It comes back to the lender only if [`Lease::finished_cleanly`] was
/// called; otherwise it goes back to sqlx's pool, which checks it.
#[derive(Debug)]
pub(crate) struct Lease<DB: sqlx::Database> {
    conn: Option<sqlx::pool::PoolConnection<DB>>,
    clean: bool,
    /// Closed as it drops, neither kept nor given back to sqlx's pool.
    discarded: bool,
    kept_since: Instant,
    lender: Arc<Inner<DB>>,
    // Dropped after `conn` is back (fields drop after `Drop::drop`), so whoever gets the
    // permit next finds it idle.
    _permit: OwnedSemaphorePermit,
}

impl<DB: sqlx::Database> Lender<DB> {
    pub(crate) fn new(pool: sqlx::Pool<DB>, ping_when_idle_for: Option<Duration>) -> Self {
        let leases = Arc::new(Semaphore::new(pool.options().get_max_connections() as usize));
        Self {
            inner: Arc::new(Inner {
                pool,
                leases,
                idle: Mutex::new(Vec::new()),
                ping_when_idle_for,
            }),
        }
    }

    /// Waits (FIFO) for a free lease, then lends an idle connection, or one from sqlx's
    /// pool when none is idle here; all within the pool's acquire timeout, as sqlx's own
    /// acquire (a ping to a hanging server must not hang the caller).
    pub(crate) async fn lease(&self) -> Result<Lease<DB>, sqlx::Error> {
        let timeout = self.inner.pool.options().get_acquire_timeout();
        tokio::time::timeout(timeout, self.lease_now())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn lease_now(&self) -> Result<Lease<DB>, sqlx::Error> {
        let permit = self
            .inner
            .leases
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let (conn, kept_since) = loop {
            let idle = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(Idle {
                mut conn,
                since,
                kept_since,
            }) = idle
            else {
                break (self.inner.pool.acquire().await?, Instant::now());
            };
            let stale = self
                .inner
                .ping_when_idle_for
                .is_some_and(|limit| since.elapsed() >= limit);
            if !stale {
                break (conn, kept_since);
            }
            use sqlx::Connection as _;
            if conn.ping().await.is_ok() {
                break (conn, kept_since);
            }
            // Broken while idle (the server restarted, a proxy dropped it): close it and
            // try the next one.
            conn.close_on_drop();
        };
        Ok(Lease {
            conn: Some(conn),
            clean: false,
            discarded: false,
            kept_since,
            lender: self.inner.clone(),
            _permit: permit,
        })
    }

    /// Closes what is idle here and no longer keeps what comes back; then the sqlx pool.
    pub(crate) async fn close(&self) {
        self.inner.leases.close();
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.clear();
        }
        self.inner.pool.close().await;
    }
}

impl<DB: sqlx::Database> Lease<DB> {
    /// The work on this connection ended at a clean boundary (nothing left unread, no
    /// transaction open): it may be lent again without a check.
    pub(crate) fn finished_cleanly(&mut self) {
        self.clean = true;
    }

    /// The connection is in a state no check can see (e.g. a transaction sqlx still counts
    /// as open): it is closed rather than lent again.
    pub(crate) fn discard(&mut self) {
        self.discarded = true;
    }
}

impl<DB: sqlx::Database> Deref for Lease<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn
            .as_deref()
            .expect("a lease holds its connection until dropped")
    }
}

impl<DB: sqlx::Database> DerefMut for Lease<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
            .as_deref_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl<DB: sqlx::Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.discarded {
            conn.close_on_drop();
            return;
        }
        let keep = self.clean
            && !self.lender.leases.is_closed()
            && self.kept_since.elapsed() < KEEP_AT_MOST;
        if keep {
            if let Ok(mut idle) = self.lender.idle.lock() {
                idle.push(Idle {
                    conn,
                    since: Instant::now(),
                    kept_since: self.kept_since,
                });
            }
        }
        // Otherwise `conn` drops here and sqlx's pool takes it back (and pings it).
    }
}

/// Runs each statement on a lent connection, as sqlx's pool does on one of its own; the
/// connection comes back unchecked when the statement ran to its end.
impl<'p, DB: sqlx::Database> sqlx::Executor<'p> for &'_ Lender<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, DB>,
    {
        let lender = self.clone();
        Box::pin(sqlx_core::try_stream! {
            let mut lease = lender.lease().await?;
            let mut results = lease.fetch_many(query);
            while let Some(result) = results.try_next().await? {
                r#yield!(result);
            }
            drop(results);
            lease.finished_cleanly();
            Ok(())
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, DB>,
    {
        let lender = self.clone();
        Box::pin(async move {
            let mut lease = lender.lease().await?;
            let row = lease.fetch_optional(query).await?;
            // Rows left unread (MySQL) are read and dropped by the connection's next
            // statement before it runs.
            lease.finished_cleanly();
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement<'q>, sqlx::Error>> {
        let lender = self.clone();
        Box::pin(async move { lender.lease().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>> {
        let lender = self.clone();
        Box::pin(async move { lender.lease().await?.describe(sql).await })
    }
}
