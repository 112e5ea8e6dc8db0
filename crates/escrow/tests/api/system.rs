//! Operational endpoints and the edges of the router.

use reqwest::Method;

on_both_databases! {
    async fn health_readiness_and_metrics(app: TestApp) {
        app.get("/healthz", None).await.assert_status(200);
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.assert_status(200)["database"], "ok");
        app.get("/products", None).await.assert_status(200);
        let text = app.metrics().await;
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
