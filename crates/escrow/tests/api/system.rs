//! Operational endpoints and the edges of the router.

use reqwest::Method;

on_both_databases! {
    async fn health_readiness_and_metrics(app: TestApp) {
        app.get("/healthz", None).await.assert_status(200);
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.assert_status(200)["database"], "ok");
        app.get("/products", None).await.assert_status(200);
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        let text = metrics.text().await.unwrap();
        assert!(text.contains("http_requests_total"), "{text}");
        assert!(text.contains("route=\"/products\""), "{text}");
        if app.database.url.starts_with("sqlite:") {
            // The writer's transactions, the COMMITs they shared and its checkpoints.
            assert!(text.contains("sqlite_transactions_committed_total"), "{text}");
            assert!(text.contains("sqlite_commits_total"), "{text}");
            assert!(text.contains("sqlite_wal_checkpoints_total"), "{text}");
        }
    }

    async fn openapi_document_and_docs_page(app: TestApp) {
        let doc = app.get("/openapi.json", None).await;
        let doc = doc.assert_status(200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in ["/auth/signup", "/auth/login", "/auth/me", "/products", "/products/{product_id}"] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        let docs = app.client.get(format!("{}/docs/", app.base)).send().await.unwrap();
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    }

    async fn unknown_paths_and_methods_are_problems(app: TestApp) {
        app.get("/nope", None).await.assert_problem(404, "not_found");
        let answer = app.raw(Method::PATCH, "/products", None, "application/json", "{}").await;
        answer.assert_problem(405, "method_not_allowed");
        let answer = app.get("/healthz", None).await;
        assert!(answer.headers.contains_key("x-request-id"));
    }
}

on_both_databases! {
    async fn the_root_leads_to_the_web_ui(app: TestApp) {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let root = client.get(format!("{}/", app.base)).send().await.unwrap();
        assert!(root.status().is_redirection());
        assert_eq!(root.headers()["location"], "/app/");
    }
}

/// The web UI's types are generated from `web/openapi.json`; it must be what the code
/// generates. `UPDATE_OPENAPI_SNAPSHOT=1` rewrites it.
#[test]
fn openapi_snapshot_is_current() {
    use utoipa::OpenApi;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/openapi.json");
    let generated = serde_json::to_value(escrow_http::ApiDoc::openapi()).unwrap();
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        snapshot == generated,
        "web/openapi.json is stale: run UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p escrow --test api openapi_snapshot"
    );
}

/// A client that sends its headers slowly (slow-loris) is cut off; others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = crate::support::TestDatabase::create(crate::support::Backend::Sqlite).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.header_timeout = std::time::Duration::from_millis(300);
    let app = crate::support::TestApp::spawn_with(config, database).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = Vec::new();
    // The server gives up on the headers and closes (possibly after a 408).
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut buffer),
    )
    .await;
    assert!(read.is_ok(), "the slow connection was still open after 5 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(!String::from_utf8_lossy(&buffer).contains("200 OK"));
    // Meanwhile a normal client is served.
    app.get("/healthz", None).await.assert_status(200);
}

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
/// for the checkpoint's syncs); the service checkpoints between them, so the pages reach the
/// database file while writes go on.
#[tokio::test]
async fn sqlite_pages_reach_the_database_file_while_the_service_writes() {
    let app = crate::support::TestApp::spawn(crate::support::Backend::Sqlite).await;
    let file = app.database.sqlite_path();
    let size = || {
        std::fs::metadata(&file)
            .map(|m| m.len())
            .unwrap_or_default()
    };
    let before = size();
    let seller = app.seller().await;
    // Fewer pages than SQLite's own checkpoint threshold (1 000): without the service's
    // checkpoints they would all stay in the WAL.
    for n in 0..100 {
        app.product(&seller, &format!("상품 {n}"), 1_000, 1).await;
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

async fn sqlite_db_with_notes() -> (crate::support::TestDatabase, escrow_store::Db) {
    let database = crate::support::TestDatabase::create(crate::support::Backend::Sqlite).await;
    let db = escrow_store::Db::connect(&escrow_store::DbConfig::new(database.url.clone()))
        .await
        .unwrap();
    db.write(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    (database, db)
}

async fn note_ids(db: &escrow_store::Db) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM notes ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap()
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
                    escrow_store::params![id, "note"],
                )
                .await
                .unwrap();
                if id % 4 == 0 {
                    // Dropped: rolled back.
                    return None;
                }
                tx.commit().await.unwrap();
                // Visible to another connection as soon as `commit` returned.
                let seen: Option<i64> = sqlx::query_scalar("SELECT id FROM notes WHERE id = ?")
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
            escrow_store::params![100_i64, "first"],
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
            assert_eq!(err.kind(), escrow_store::DbErrorKind::UniqueViolation);
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
            assert_eq!(
                lost.kind(),
                escrow_store::DbErrorKind::Unavailable,
                "{lost}"
            );
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
