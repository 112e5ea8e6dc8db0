//! A newcomer's first minutes (issue 25): what the service says when the port is taken, a
//! host name to listen on, a missing web build, and the sandbox's control calls refusing a
//! body they cannot read, in JSON.

use crate::support::{escrow_command, free_port, Backend, TestDatabase};
use serde_json::json;
use std::process::{Output, Stdio};

/// `escrow serve` on `listen` until `/healthz` answers (or it exits); then stopped. Returns
/// whether it served and everything it printed. The health check gives up on a connection
/// after 2 s: a port taken by a listener that never answers would hold it forever.
async fn serve_briefly(backend: Backend, listen: &str, port: u16, web_dir: &str) -> (bool, String) {
    let database = TestDatabase::create(backend).await;
    let mut child = escrow_command()
        .arg("serve")
        .env("ESCROW_DATABASE_URL", &database.url)
        .env("ESCROW_LISTEN", listen)
        .env("ESCROW_WEB_DIR", web_dir)
        .env("ESCROW_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let mut served = false;
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let health = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if health.is_ok_and(|answer| answer.status().is_success()) {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let Output { stdout, stderr, .. } = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (served, printed)
}

/// A taken port names the address and the setting; a host name is accepted; a missing web
/// build is said at start.
async fn the_service_says_what_is_wrong_at_start(backend: Backend) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (served, printed) =
        serve_briefly(backend, &format!("127.0.0.1:{port}"), port, "web/dist").await;
    assert!(!served, "{printed}");
    assert!(
        printed.contains(&format!("cannot listen on 127.0.0.1:{port} (ESCROW_LISTEN")),
        "{printed}"
    );
    drop(taken);

    let port = free_port();
    let (served, printed) = serve_briefly(
        backend,
        &format!("localhost:{port}"),
        port,
        "/nonexistent/web/dist",
    )
    .await;
    assert!(served, "localhost:{port} was refused: {printed}");
    assert!(printed.contains("no web UI build here"), "{printed}");
    assert!(printed.contains("/nonexistent/web/dist"), "{printed}");
}

on_both_backends!(the_service_says_what_is_wrong_at_start);

on_both_databases! {
    async fn sandbox_control_calls_refuse_unreadable_bodies_in_json(app: TestApp) {
        for (path, body) in [
            ("/sandbox/portone/_sandbox/payments", json!({})),
            ("/sandbox/portone/_sandbox/payments", json!({"merchant_uid": "m-1", "amount": "lots"})),
            ("/sandbox/portone/_sandbox/faults", json!({"target": 7})),
        ] {
            let answer = app.post(path, None, body).await;
            assert!(answer.status.is_client_error(), "{path}: {:?}", answer.status);
            assert!(answer.content_type.starts_with("application/json"), "{path}: {}", answer.content_type);
            assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {:#}", answer.body);
        }
        let not_json = app.raw(reqwest::Method::POST, "/sandbox/portone/_sandbox/payments", None, "text/plain", "merchant_uid=m").await;
        assert!(not_json.status.is_client_error());
        assert!(not_json.content_type.starts_with("application/json"), "{}", not_json.content_type);
    }
}

/// The fields a JSON body lacks, each by its own path.
fn missing(answer: &crate::support::Answer) -> Vec<(String, String)> {
    answer.assert_problem(422, "validation_failed");
    answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

on_both_databases! {
    async fn every_missing_field_is_named_on_its_own(app: TestApp) {
        let required = |fields: &[&str]| fields.iter().map(|f| (f.to_string(), "is required".to_string())).collect::<Vec<_>>();
        let signup = app.post("/auth/signup", None, json!({})).await;
        assert_eq!(missing(&signup), required(&["email", "password", "name"]));
        let login = app.post("/auth/login", None, json!({"password": "x"})).await;
        assert_eq!(missing(&login), required(&["email"]));

        let buyer = app.buyer().await;
        let order = app.post("/orders", Some(&buyer.token), json!({"items": [{"quantity": 1}, {}]})).await;
        assert_eq!(missing(&order), required(&["items[0].product_id", "items[1].product_id", "items[1].quantity", "shipping"]));
        // A wrong type met after missing ones is named too.
        let order = app.post("/orders", Some(&buyer.token), json!({"items": [{}, {"product_id": 1, "quantity": "two"}]})).await;
        let problems = missing(&order);
        assert_eq!(problems[..2], required(&["items[0].product_id", "items[0].quantity"])[..], "{problems:?}");
        assert_eq!(problems[2].0, "items[1].quantity", "{problems:?}");
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
