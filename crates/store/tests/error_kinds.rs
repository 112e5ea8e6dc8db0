//! Errors from a real MariaDB are classified by their error number, not by sqlx's `code()`
//! (the SQLSTATE, which lumps a lock wait timeout in with any other error).

// A test fails loudly where its setup does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestDatabase};
use escrow_store::{params, Db, DbConfig, DbErrorKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_lock_wait_timeout_is_a_conflict_to_retry() {
    let database = TestDatabase::create(Backend::MySql).await;
    database
        .connect_with("CREATE TABLE entries (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
        .await
        .close()
        .await;
    let db = Db::connect(&DbConfig::new(database.url.clone()))
        .await
        .unwrap();
    db.write("INSERT INTO entries (id, n) VALUES (1, 0)", &[])
        .await
        .unwrap();

    let mut holder = db.begin().await.unwrap();
    holder
        .execute("UPDATE entries SET n = 1 WHERE id = ?", params![1_i64])
        .await
        .unwrap();
    let mut waiter = db.begin().await.unwrap();
    waiter
        .execute("SET SESSION innodb_lock_wait_timeout = 1", &[])
        .await
        .unwrap();
    let err = waiter
        .execute("UPDATE entries SET n = 2 WHERE id = ?", params![1_i64])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1205"),
        "not a lock wait timeout: {err}"
    );
    assert_eq!(err.kind(), DbErrorKind::Conflict, "{err}");
    drop(waiter);
    holder.commit().await.unwrap();
    db.close().await;
}
