//! `migrate` run by several instances at once applies each migration once and leaves the
//! schema whole: one run at a time holds the lock row (on MySQL/MariaDB also across the
//! nodes of a Galera cluster), and a lock whose holder died is taken over once its lease
//! ends.

// A test fails loudly where its setup does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestDatabase};
use escrow_store::{Db, DbConfig, StoreError};

const RUNS: usize = 4;

async fn connect(database: &TestDatabase) -> Db {
    Db::connect(&DbConfig::new(database.url.clone()))
        .await
        .unwrap()
}

async fn applied_versions(db: &Db) -> Vec<i64> {
    let mut versions: Vec<i64> = db
        .reads()
        .fetch_all(
            "SELECT version FROM _sqlx_migrations WHERE success = 1",
            &[],
            |row| row.int("version"),
        )
        .await
        .unwrap();
    versions.sort_unstable();
    versions
}

async fn migrations_run_at_once_apply_each_migration_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut dbs = Vec::new();
    for _ in 0..RUNS {
        dbs.push(connect(&database).await);
    }
    let runs = futures::future::join_all(dbs.iter().map(Db::migrate)).await;
    for run in runs {
        run.unwrap();
    }
    let versions = applied_versions(&dbs[0]).await;
    assert!(!versions.is_empty());
    assert!(
        versions.windows(2).all(|pair| pair[0] < pair[1]),
        "{versions:?}"
    );
    // The schema is whole: the last migration's tables answer.
    dbs[0]
        .reads()
        .fetch_all("SELECT COUNT(*) AS n FROM users", &[], |row| row.int("n"))
        .await
        .unwrap();
    for db in dbs {
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_run_at_once_apply_each_migration_once() {
    migrations_run_at_once_apply_each_migration_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_migrations_run_at_once_apply_each_migration_once() {
    migrations_run_at_once_apply_each_migration_once(Backend::MySql).await;
}

/// Writes the lock row as another run would, holding it until `expires_at`.
async fn hold_lock(db: &Db, expires_at: i64) {
    db.write(
        "CREATE TABLE IF NOT EXISTS escrow_migration_lock (id INT NOT NULL PRIMARY KEY, \
         holder VARCHAR(64) NOT NULL, expires_at BIGINT NOT NULL) ENGINE=InnoDB",
        &[],
    )
    .await
    .unwrap();
    db.write(
        "INSERT INTO escrow_migration_lock (id, holder, expires_at) VALUES (1, 'another run', ?)",
        &[expires_at.into()],
    )
    .await
    .unwrap();
}

async fn tables_named(db: &Db, name: &str) -> i64 {
    db.reads()
        .fetch_all(
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            &[name.into()],
            |row| row.int("n"),
        )
        .await
        .unwrap()[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_migrate_waits_for_a_held_lock_and_takes_over_a_dead_one() {
    let database = TestDatabase::create(Backend::MySql).await;
    let db = connect(&database).await;

    // Held by a live run: nothing is migrated until that run lets go.
    hold_lock(&db, escrow_store::now_millis() + 3_600_000).await;
    let other_run = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let migrated_meanwhile = tables_named(&db, "users").await;
        db.write("DELETE FROM escrow_migration_lock", &[])
            .await
            .unwrap();
        migrated_meanwhile
    };
    let (waited, migrated_meanwhile) = tokio::join!(db.migrate(), other_run);
    waited.unwrap();
    assert_eq!(migrated_meanwhile, 0);
    assert_eq!(tables_named(&db, "users").await, 1);
    let held: Vec<i64> = db
        .reads()
        .fetch_all(
            "SELECT COUNT(*) AS n FROM escrow_migration_lock",
            &[],
            |row| row.int("n"),
        )
        .await
        .unwrap();
    assert_eq!(held, [0], "a finished run releases the lock");

    // Held by a run that died: its lease ran out, so the next run takes it over.
    hold_lock(&db, 0).await;
    let retaken: Result<(), StoreError> = db.migrate().await;
    retaken.unwrap();
    db.close().await;
}

/// A run killed mid-way holds the lock until its lease ends; a restart that finds every
/// migration applied must not wait for it (a cluster node's instance restarted in the chaos
/// test waited five minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_restart_with_everything_applied_needs_no_lock() {
    let database = TestDatabase::create(Backend::MySql).await;
    let db = connect(&database).await;
    db.migrate().await.unwrap();
    hold_lock(&db, escrow_store::now_millis() + 3_600_000).await;
    let restarted = tokio::time::timeout(std::time::Duration::from_secs(5), db.migrate()).await;
    assert!(matches!(restarted, Ok(Ok(()))), "{restarted:?}");
}
