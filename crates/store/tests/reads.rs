//! Hot reads bind integers and text alike, on both databases, also when many arrive at
//! once (on MySQL they are then sent together).

// A test fails loudly where its setup does.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestDatabase};
use escrow_store::{params, Db, Param, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_bind_integers_and_text() {
    reads_bind_integers_and_text(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_reads_bind_integers_and_text() {
    reads_bind_integers_and_text(Backend::MySql).await;
}

const TAGS: i64 = 5;

fn tag_of(id: i64) -> String {
    format!("t{}", id % TAGS)
}

async fn reads_bind_integers_and_text(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = database
        .connect_with("CREATE TABLE tagged (id BIGINT PRIMARY KEY, tag VARCHAR(32) NOT NULL)")
        .await;
    let mut tx = db.begin().await.unwrap();
    for id in 1..=40_i64 {
        tx.execute(
            "INSERT INTO tagged (id, tag) VALUES (?, ?)",
            params![id, tag_of(id)],
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let reads: Vec<_> = (1..=40_i64)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move { check_reads_of(&db, id).await })
        })
        .collect();
    for read in reads {
        read.await.unwrap().unwrap();
    }
    db.close().await;
}

/// Reads by `id`'s integer key and by its tag, each answered with its own rows only.
async fn check_reads_of(db: &Db, id: i64) -> Result<(), StoreError> {
    let tag = tag_of(id);
    let row =
        |row: &dyn escrow_store::ReadRow| Ok::<_, StoreError>((row.int("id")?, row.text("tag")?));
    let by_id = db
        .reads()
        .fetch_by_key("SELECT id, tag FROM tagged WHERE id IN (?)", id, row)
        .await?;
    assert_eq!(by_id, [(id, tag.clone())]);

    let same_tag: Vec<i64> = (1..=40).filter(|other| tag_of(*other) == tag).collect();
    let mut by_tag: Vec<i64> = db
        .reads()
        .fetch_all(
            "SELECT id, tag FROM tagged WHERE tag = ?",
            params![tag.as_str()],
            row,
        )
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    by_tag.sort_unstable();
    assert_eq!(by_tag, same_tag);

    // Keyed by text: the store runs it alone, with the same answer.
    let mut by_text_key: Vec<i64> = db
        .reads()
        .fetch_by_key(
            "SELECT tag, id FROM tagged WHERE tag IN (?)",
            tag.as_str(),
            row,
        )
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    by_text_key.sort_unstable();
    assert_eq!(by_text_key, same_tag);

    let mut mixed: Vec<i64> = db
        .reads()
        .fetch_all(
            "SELECT id FROM tagged WHERE tag = ? AND id >= ?",
            &[Param::Text(tag.clone()), Param::Int(id)],
            |row| row.int("id"),
        )
        .await?;
    mixed.sort_unstable();
    let expected: Vec<i64> = same_tag.into_iter().filter(|other| *other >= id).collect();
    assert_eq!(mixed, expected);
    Ok(())
}
