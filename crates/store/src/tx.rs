//! Write transactions on either backend.

use crate::error::StoreError;
use crate::param::{bind_all, Param};
use crate::pool::{Lease, Lender};
use crate::row::ReadRow;
use crate::sqlite::conn::sqlite_rows;
use crate::sqlite::writer::{SqliteTx, SqliteWriter};
use sqlx::TransactionManager as _;
use std::sync::Arc;

/// A write transaction on either backend; services own it and pass it to repository
/// functions. Dropped without [`Tx::commit`], it rolls back.
///
/// On SQLite it holds the one writer connection (`SqliteWriter`) and runs each statement
/// in place, on the caller's thread: only the `COMMIT`, which syncs the WAL to disk, leaves
/// it, so the one write lock is not held across hand-offs between threads (BENCHMARKS.md).
/// On MySQL it holds a pooled connection and sends each statement to the server, as sqlx
/// does.
#[derive(Debug)]
pub struct Tx {
    /// `None` once committed (the connection went back).
    conn: Option<TxConn>,
    /// [`crate::Db::announced_commits`], raised after the commit if `announce` is set.
    announce_to: Arc<crate::db::Announcements>,
    announce: bool,
}

#[derive(Debug)]
enum TxConn {
    Sqlite(SqliteTx),
    /// Not sqlx's `Transaction`: that returns its connection to sqlx's pool, which pings
    /// it; a committed transaction's connection goes back to the [`Lender`] unchecked.
    MySql(Lease<sqlx::Any>),
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
            Writer::Sqlite(writer) => TxConn::Sqlite(writer.begin().await?),
            Writer::MySql(lender) => {
                let mut lease = lender.lease().await?;
                AnyTransactionManager::begin(&mut lease, None).await?;
                TxConn::MySql(lease)
            }
        };
        Ok(Tx {
            conn: Some(conn),
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
            TxConn::Sqlite(tx) => {
                let changed = tx
                    .conn()?
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
            TxConn::Sqlite(tx) => {
                let conn = tx.conn()?;
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
            TxConn::Sqlite(tx) => sqlite_rows(
                tx.conn()?,
                sql,
                rusqlite::params_from_iter(params),
                max_rows,
                map,
            ),
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
        if let TxConn::MySql(lease) = self.conn() {
            if let Err(err) = AnyTransactionManager::commit(lease).await {
                // sqlx counts the transaction as open until a COMMIT succeeds, whatever the
                // server did with it (Galera's certification failure rolled it back, other
                // failures leave it open): lent again, the connection's next `begin` would
                // fail. It is closed instead.
                lease.discard();
                return Err(err.into());
            }
            lease.finished_cleanly();
        }
        // The MySQL connection stays in `self` until its COMMIT is answered, so that a commit
        // cancelled halfway still rolls back as the transaction drops.
        match self
            .conn
            .take()
            .expect("a transaction holds its connection until it ends")
        {
            TxConn::Sqlite(tx) => tx.commit().await,
            TxConn::MySql(_committed) => Ok(()),
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // SQLite: the `SqliteTx` rolls itself back as it drops.
        // MySQL: queued on the connection; sqlx's pool, which takes an unclean lease back,
        // sends it with its check.
        if let Some(TxConn::MySql(mut lease)) = self.conn.take() {
            AnyTransactionManager::start_rollback(&mut lease);
        }
    }
}
