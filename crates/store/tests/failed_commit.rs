//! A COMMIT the server refuses (on Galera, a transaction that lost certification) leaves no
//! pooled connection behind that fails the transactions after it.

// A test fails loudly where its setup does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestDatabase};
use escrow_store::{params, Db, DbConfig};

const AFTER_THE_FAILURE: i64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_transactions_after_a_failed_commit_succeed_on_the_same_pool() {
    let database = TestDatabase::create(Backend::MySql).await;
    database
        .connect_with("CREATE TABLE entries (id BIGINT PRIMARY KEY)")
        .await
        .close()
        .await;
    // One connection: every transaction after the failed one runs on the connection it
    // failed on, unless that one was discarded.
    let db = Db::connect(&DbConfig {
        max_connections: 1,
        ..DbConfig::new(database.url.clone())
    })
    .await
    .unwrap();

    let mut tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO entries (id) VALUES (?)", params![0_i64])
        .await
        .unwrap();
    // The server refuses the COMMIT sqlx sends and stays in a (global) transaction: a
    // failed COMMIT that leaves the connection in a transaction, on one server.
    tx.execute("COMMIT", &[]).await.unwrap();
    tx.execute("XA START 'escrow-failed-commit'", &[])
        .await
        .unwrap();
    assert!(
        tx.commit().await.is_err(),
        "a COMMIT inside an XA transaction must fail"
    );

    for id in 1..=AFTER_THE_FAILURE {
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO entries (id) VALUES (?)", params![id])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    db.close().await;

    // Committed for real: seen by a connection of its own.
    let db = Db::connect(&DbConfig::new(database.url.clone()))
        .await
        .unwrap();
    let ids: Vec<i64> = db
        .reads()
        .fetch_all("SELECT id FROM entries ORDER BY id", &[], |row| {
            row.int("id")
        })
        .await
        .unwrap();
    assert_eq!(ids, (0..=AFTER_THE_FAILURE).collect::<Vec<_>>());
    db.close().await;
}
