//! The lock that lets one `migrate` at a time change the schema, also across the nodes of a
//! Galera cluster and across processes on one SQLite file: a row claimed by a conditional
//! insert, with a lease. `GET_LOCK` would lock one Galera node only, and two runs on two
//! nodes interleave their DDL; on SQLite each migration is its own transaction, and two runs
//! that both found it unapplied both ran it.

use crate::dialect::Dialect;
use crate::error::{DbErrorKind, StoreError};
use crate::param::{bind_all, Param};
use crate::trouble::Trouble;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a claim holds without its holder: a run that died mid-way keeps the others
/// waiting this long. Every migration here finishes well within it.
const LEASE: Duration = Duration::from_secs(5 * 60);
/// How long a run waits for another's claim before it gives up.
const WAIT_AT_MOST: Duration = Duration::from_secs(10 * 60);
const POLL: Duration = Duration::from_millis(250);

fn create(dialect: Dialect) -> String {
    let options = match dialect {
        Dialect::Sqlite => "",
        Dialect::MySql => "ENGINE=InnoDB",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS escrow_migration_lock (id INT NOT NULL PRIMARY KEY, \
         holder VARCHAR(64) NOT NULL, expires_at BIGINT NOT NULL) {options}"
    )
}

/// Takes the one row when it is absent or its lease ran out. Both conditions read the old
/// `expires_at`: SQLite's SET reads the old row, MySQL assigns left to right and `holder`
/// comes first.
fn claim_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "INSERT INTO escrow_migration_lock (id, holder, expires_at) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET \
             holder = CASE WHEN expires_at < ? THEN excluded.holder ELSE holder END, \
             expires_at = CASE WHEN expires_at < ? THEN excluded.expires_at ELSE expires_at END"
        }
        Dialect::MySql => {
            "INSERT INTO escrow_migration_lock (id, holder, expires_at) VALUES (1, ?, ?) \
             ON DUPLICATE KEY UPDATE holder = IF(expires_at < ?, VALUES(holder), holder), \
             expires_at = IF(expires_at < ?, VALUES(expires_at), expires_at)"
        }
    }
}
const HOLDER: &str = "SELECT holder FROM escrow_migration_lock WHERE id = 1";
const RELEASE: &str = "DELETE FROM escrow_migration_lock WHERE id = 1 AND holder = ?";

/// A claim on the migration lock, held until [`MigrationLock::release`].
#[derive(Debug)]
pub(crate) struct MigrationLock {
    holder: String,
}

fn millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// This run's name in the lock row: unique per process and claim.
fn holder_name() -> String {
    static CLAIMS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        now.as_nanos(),
        CLAIMS.fetch_add(1, Ordering::Relaxed)
    )
}

impl MigrationLock {
    /// Waits until this run holds the lock. Each claim commits by itself; a claim that lost
    /// to another node's at the same moment (a deadlock or certification failure) is tried
    /// again, and then finds the winner's row.
    pub(crate) async fn claim(
        conn: &mut sqlx::AnyConnection,
        dialect: Dialect,
    ) -> Result<Self, StoreError> {
        sqlx::query(&create(dialect)).execute(&mut *conn).await?;
        let holder = holder_name();
        let started = Instant::now();
        let mut waiting = Trouble::default();
        loop {
            let now = std::time::SystemTime::now();
            let claimed = bind_all(
                sqlx::query(claim_sql(dialect)),
                &[
                    Param::Text(holder.clone()),
                    Param::Int(millis(now + LEASE)),
                    Param::Int(millis(now)),
                    Param::Int(millis(now)),
                ],
            )
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from);
            let current = match claimed {
                Ok(_) => sqlx::query_scalar::<_, String>(HOLDER)
                    .fetch_optional(&mut *conn)
                    .await?
                    .unwrap_or_default(),
                Err(err) if err.kind() == DbErrorKind::Conflict => String::new(),
                Err(err) => return Err(err),
            };
            if current == holder {
                return Ok(Self { holder });
            }
            if started.elapsed() >= WAIT_AT_MOST {
                return Err(StoreError::Migrate(sqlx::migrate::MigrateError::Execute(
                    sqlx::Error::Protocol(format!(
                        "the migration lock is still held by `{current}`; if no migration \
                         runs, delete the row of escrow_migration_lock once its lease ends"
                    )),
                )));
            }
            waiting.failed(
                &format_args!("held by `{current}`"),
                "waiting for another run's migrations",
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Gives the lock up, so that the next run need not wait for the lease to end.
    pub(crate) async fn release(self, conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
        bind_all(sqlx::query(RELEASE), &[Param::Text(self.holder)])
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
