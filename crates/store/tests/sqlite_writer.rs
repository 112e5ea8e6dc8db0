//! SQLite's one writer: its group commit (transactions that queue together share one
//! `COMMIT`, each undoable alone) and its WAL checkpointer, on a real database file.

// A test fails loudly where its setup does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestDatabase};
use escrow_store::{params, Db, DbErrorKind};

/// Transactions that follow each other without a pause still let the WAL be reused from its
/// start: the checkpoint takes a turn in the writer's queue, so it copies everything and the
/// next transaction writes at the WAL's start. A checkpoint beside the writer never caught
/// up with the commits, and the WAL took every commit's pages (hundreds of MB in a benchmark).
#[tokio::test]
async fn sqlite_wal_is_reused_while_transactions_never_pause() {
    let (database, db) = sqlite_db_with_notes().await;
    const WRITERS: usize = 8;
    // SQLite COMMITs, not transactions: those that queue together share one.
    const COMMITS: u64 = 3_200;
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                while db.commit_counts().unwrap().commits < COMMITS {
                    let mut tx = db.begin().await.unwrap();
                    tx.execute("INSERT INTO notes (body) VALUES ('x')", &[])
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Every commit appended at least one 4 KiB page to the WAL: 12.8 MB or more in all.
    let wal = std::fs::metadata(format!("{}-wal", database.sqlite_path().display()))
        .unwrap()
        .len();
    db.close().await;
    assert!(
        wal < COMMITS * 4096 / 2,
        "the WAL grew to {wal} bytes over {COMMITS} commits"
    );
}

/// SQLite's one writer does not checkpoint the WAL at its commits (the next writer waited
/// for the checkpoint's syncs); the writer's checkpointer does so between them, so the pages
/// reach the database file while writes go on.
#[tokio::test]
async fn sqlite_pages_reach_the_database_file_while_transactions_write() {
    let (database, db) = sqlite_db_with_notes().await;
    let file = database.sqlite_path();
    let size = || {
        std::fs::metadata(&file)
            .map(|m| m.len())
            .unwrap_or_default()
    };
    let before = size();
    let body = "x".repeat(400);
    // Fewer pages than SQLite's own checkpoint threshold (1 000): without the writer's
    // checkpoints they would all stay in the WAL.
    for _ in 0..100 {
        let mut tx = db.begin().await.unwrap();
        tx.execute(
            "INSERT INTO notes (body) VALUES (?)",
            params![body.as_str()],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let mut grown = false;
    for _ in 0..200 {
        if size() > before + 100 * 200 {
            grown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        grown,
        "the database file stayed at {} bytes (was {before})",
        size()
    );
    db.close().await;
}

/// An idle writer is left alone: once a checkpoint has copied the WAL whole, the next waits
/// for a COMMIT (it took the writer and a blocking thread ten times a second for nothing).
#[tokio::test]
async fn sqlite_an_idle_writer_is_not_checkpointed_again() {
    let (_database, db) = sqlite_db_with_notes().await;
    let checkpoints = || db.commit_counts().unwrap().checkpoints;
    let insert_note = || async {
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO notes (body) VALUES ('x')", &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    };
    insert_note().await;
    // Five checkpoint periods without one: idle. A checkpointer that ran on every tick never
    // gets there.
    let mut settled = None;
    let mut last = checkpoints();
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = checkpoints();
        if now == last && now > 0 {
            settled = Some(now);
            break;
        }
        last = now;
    }
    let settled = settled.unwrap_or_else(|| panic!("still checkpointing: {last} so far"));
    insert_note().await;
    let mut again = false;
    for _ in 0..100 {
        if checkpoints() > settled {
            again = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again, "no checkpoint after a new COMMIT");
    db.close().await;
}

async fn sqlite_db_with_notes() -> (TestDatabase, Db) {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let db = database
        .connect_with("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .await;
    (database, db)
}

/// SQLite's writer lets transactions that queue together share one COMMIT (one sync): a
/// transaction that finished waits for that COMMIT before its `commit` returns, and one
/// that rolls back in the same SQLite transaction undoes only its own work.
#[tokio::test]
async fn sqlite_transactions_queued_together_share_a_commit_and_roll_back_alone() {
    let (_database, db) = sqlite_db_with_notes().await;
    let before = db.commit_counts().unwrap();
    // The first holds the writer until the others have queued behind it.
    let first = db.begin().await.unwrap();
    let (queued_tx, mut queued) = tokio::sync::mpsc::unbounded_channel();
    let others: Vec<_> = (1..=20_i64)
        .map(|id| {
            let db = db.clone();
            let queued_tx = queued_tx.clone();
            tokio::spawn(async move {
                queued_tx.send(()).unwrap();
                let mut tx = db.begin().await.unwrap();
                tx.execute(
                    "INSERT INTO notes (id, body) VALUES (?, ?)",
                    params![id, "note"],
                )
                .await
                .unwrap();
                if id % 4 == 0 {
                    // Dropped: rolled back.
                    return None;
                }
                tx.commit().await.unwrap();
                // Visible to another connection as soon as `commit` returned.
                let seen: Option<i64> =
                    escrow_store::sqlx::query_scalar("SELECT id FROM notes WHERE id = ?")
                        .bind(id)
                        .fetch_optional(db.pool())
                        .await
                        .unwrap();
                assert_eq!(seen, Some(id), "committed but not stored");
                Some(id)
            })
        })
        .collect();
    for _ in 0..20 {
        queued.recv().await.unwrap();
    }
    // Each has asked for the writer (it does so at once after saying it queued).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut first = first;
    first
        .execute(
            "INSERT INTO notes (id, body) VALUES (?, ?)",
            params![100_i64, "first"],
        )
        .await
        .unwrap();
    first.commit().await.unwrap();
    let mut committed = vec![100];
    for other in others {
        committed.extend(other.await.unwrap());
    }
    committed.sort();
    assert_eq!(note_ids(&db).await, committed);
    let after = db.commit_counts().unwrap();
    assert_eq!(after.transactions - before.transactions, 16);
    assert!(
        after.commits - before.commits < 16,
        "16 transactions took {} COMMITs",
        after.commits - before.commits
    );
    db.close().await;
}

/// When SQLite ends the whole shared transaction (here `INSERT OR ROLLBACK` meeting a
/// duplicate; in life a full disk), the transactions that had finished in it fail too
/// instead of reporting a commit that never happened, and the writer goes on working.
#[tokio::test]
async fn sqlite_a_lost_shared_commit_fails_every_transaction_in_it() {
    let (_database, db) = sqlite_db_with_notes().await;
    db.write("INSERT INTO notes (id, body) VALUES (1, 'old')", &[])
        .await
        .unwrap();
    let mut first = db.begin().await.unwrap();
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let err = tx
                .execute(
                    "INSERT OR ROLLBACK INTO notes (id, body) VALUES (1, 'dup')",
                    &[],
                )
                .await
                .unwrap_err();
            assert_eq!(err.kind(), DbErrorKind::UniqueViolation);
        })
    };
    // The second has queued for the writer behind the first.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    first
        .execute("INSERT INTO notes (id, body) VALUES (2, 'first')", &[])
        .await
        .unwrap();
    // Only if the WAL checkpointer took its turn between the two (it commits what is
    // waiting first) did the first's work escape the second's rollback.
    let stored = match first.commit().await {
        Ok(()) => vec![1, 2],
        Err(lost) => {
            assert_eq!(lost.kind(), DbErrorKind::Unavailable, "{lost}");
            vec![1]
        }
    };
    second.await.unwrap();
    assert_eq!(note_ids(&db).await, stored);
    db.write("INSERT INTO notes (id, body) VALUES (3, 'later')", &[])
        .await
        .unwrap();
    assert_eq!(note_ids(&db).await, [stored, vec![3]].concat());
    db.close().await;
}

/// The ids of the stored notes, in order.
async fn note_ids(db: &Db) -> Vec<i64> {
    escrow_store::sqlx::query_scalar("SELECT id FROM notes ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap()
}
