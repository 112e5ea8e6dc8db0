//! The `escrow` command line: configuration errors, migrate, admin create, shutdown.

use crate::support::{free_port, Backend, TestDatabase};
use std::process::Command;

use crate::support::escrow_command as escrow;

#[test]
fn help_lists_every_setting() {
    let output = escrow().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "ESCROW_LISTEN",
        "ESCROW_DATABASE_URL",
        "ESCROW_JWT_SECRET",
        "PORTONE_API_URL",
        "PORTONE_IMP_KEY",
        "PORTONE_IMP_SECRET",
        "PORTONE_IMP_CODE",
        "ESCROW_AUTO_CONFIRM_AFTER",
        "ESCROW_ORDER_TTL",
        "ESCROW_FEE_BPS",
        "ESCROW_NATS_URL",
        "ESCROW_NATS_MAX_AGE",
        "ESCROW_NATS_REPLICAS",
    ] {
        assert!(help.contains(variable), "{variable} missing from --help");
    }
}

#[test]
fn bad_configuration_is_refused_clearly() {
    for (variable, value, says) in [
        ("ESCROW_LISTEN", "not-an-address", "ESCROW_LISTEN"),
        ("ESCROW_DATABASE_URL", "postgres://x/y", "sqlite://"),
        ("ESCROW_DATABASE_URL", "sqlite::memory:", "use a file"),
        ("ESCROW_AUTO_CONFIRM_AFTER", "7 weeks", "unit"),
        ("ESCROW_ORDER_TTL", "-5m", "ESCROW_ORDER_TTL"),
        ("ESCROW_FEE_BPS", "20000", "ESCROW_FEE_BPS"),
        ("ESCROW_JWT_SECRET", "short", "at least 32"),
        ("ESCROW_NATS_MAX_AGE", "1m", "duplicate window"),
        ("ESCROW_NATS_REPLICAS", "6", "ESCROW_NATS_REPLICAS"),
        ("ESCROW_NATS_REPLICAS", "0", "ESCROW_NATS_REPLICAS"),
        (
            "ESCROW_NATS_URL",
            "nats://127.0.0.1:4222,http://127.0.0.1:8222",
            "`http://127.0.0.1:8222` is not a NATS server address",
        ),
        ("ESCROW_NATS_URL", " , ", "names no server"),
    ] {
        let output = escrow()
            .arg("migrate")
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}={value} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{variable}={value}: {stderr}");
    }
    let output = escrow()
        .arg("migrate")
        .env("PORTONE_API_URL", "https://api.iamport.kr")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ESCROW_JWT_SECRET is required"));
}

/// A new SQLite file gets 4 KiB pages in WAL mode: a catalogue page crosses fewer leaves
/// than with 1 KiB pages (BENCHMARKS.md).
#[tokio::test]
async fn a_new_sqlite_file_has_4_kib_pages_and_a_write_ahead_log() {
    let database = crate::support::TestDatabase::create(crate::support::Backend::Sqlite).await;
    let migrate = escrow()
        .arg("migrate")
        .env("ESCROW_DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    // The file's header (sqlite.org/fileformat.html): the page size at offset 16 (big
    // endian), the read and write versions at 18 and 19 (2 = WAL).
    let header = std::fs::read(database.sqlite_path()).unwrap();
    let page_size = u16::from_be_bytes([header[16], header[17]]);
    assert_eq!((page_size, header[18], header[19]), (4096, 2, 2));
}

on_both_databases! {
    async fn migrate_then_admin_create_then_login(app: TestApp) {
        let url = app.database.url.clone();
        let migrate = escrow().arg("migrate").env("ESCROW_DATABASE_URL", &url).output().unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
        let create = escrow()
            .args(["admin", "create", "--email", "Root@Example.kr", "--password", "admin-password-1"])
            .env("ESCROW_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
        let again = escrow()
            .args(["admin", "create", "--email", "root@example.kr", "--password", "admin-password-1"])
            .env("ESCROW_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(!again.status.success());
        let login = app.login("root@example.kr", "admin-password-1").await;
        let token = login.assert_status(200)["token"].as_str().unwrap().to_string();
        assert_eq!(app.get("/auth/me", Some(&token)).await.body["role"], "admin");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let port = free_port();
    let mut child = escrow()
        .arg("serve")
        .env("ESCROW_DATABASE_URL", &database.url)
        .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not start");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// SIGTERM while a request is waiting on the gateway: that request still finishes (200,
/// recorded), new connections are refused, and the process exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    use serde_json::{json, Value};
    let database = TestDatabase::create(Backend::Sqlite).await;
    let (sandbox_port, port) = (free_port(), free_port());
    let gateway = format!("http://127.0.0.1:{sandbox_port}");
    let mut sandbox = escrow()
        .args(["sandbox", "--listen", &format!("127.0.0.1:{sandbox_port}")])
        .spawn()
        .unwrap();
    let mut child = escrow()
        .arg("serve")
        .env("ESCROW_DATABASE_URL", &database.url)
        .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "ESCROW_JWT_SECRET",
            "shutdown-test-secret-shutdown-test-secret",
        )
        .env("PORTONE_API_URL", &gateway)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let up = client.get(format!("{base}/healthz")).send().await.is_ok()
            && client
                .get(format!("{gateway}/iamport.js"))
                .send()
                .await
                .is_ok();
        if up {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let post = |url: String, token: Option<String>, body: Value| {
        let client = client.clone();
        async move {
            let mut request = client.post(url).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut tokens = Vec::new();
    for role in ["seller", "buyer"] {
        let email = format!("{role}@example.kr");
        post(
            format!("{base}/auth/signup"),
            None,
            json!({"email": email, "password": "password-123", "name": "N", "role": role}),
        )
        .await;
        let (_, login) = post(
            format!("{base}/auth/login"),
            None,
            json!({"email": email, "password": "password-123"}),
        )
        .await;
        tokens.push(login["token"].as_str().unwrap().to_string());
    }
    let (seller, buyer) = (tokens[0].clone(), tokens[1].clone());
    let (_, product) = post(
        format!("{base}/products"),
        Some(seller),
        json!({"name": "종료", "price": 5000, "stock": 1}),
    )
    .await;
    let shipping = json!({"receiver_name": "R", "receiver_phone": "010-1234-5678", "address": "A", "postcode": "04524"});
    let (_, order) = post(format!("{base}/orders"), Some(buyer.clone()), json!({"items": [{"product_id": product["product_id"], "quantity": 1}], "shipping": shipping})).await;
    let (_, payment) = post(
        format!("{base}/payments"),
        Some(buyer.clone()),
        json!({"order_id": order["orders"][0]["order_id"]}),
    )
    .await;
    let (_, paid) = post(
        format!("{gateway}/_sandbox/payments"),
        None,
        json!({"merchant_uid": payment["checkout"]["merchant_uid"], "amount": 5000}),
    )
    .await;

    // The gateway will hold its next answer for 1.5 s: the completion is in flight then.
    post(
        format!("{gateway}/_sandbox/faults"),
        None,
        json!({"target": "api", "mode": "delay", "count": 1, "delay_ms": 1500}),
    )
    .await;
    let started = std::time::Instant::now();
    let completion = tokio::spawn(post(
        format!("{base}/payments/{}/complete", payment["payment_id"]),
        Some(buyer),
        json!({"imp_uid": paid["imp_uid"]}),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "still accepting after SIGTERM"
    );

    let (status, body) = completion.await.unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1400),
        "the request was not in flight at SIGTERM"
    );
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "paid");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = sandbox.kill();
    let _ = sandbox.wait();
}

/// Instances starting together on a fresh MariaDB database migrate it once, all succeed.
#[tokio::test]
async fn concurrent_migrations_on_mariadb_all_succeed() {
    let database = TestDatabase::create(Backend::MySql).await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            escrow()
                .arg("migrate")
                .env("ESCROW_DATABASE_URL", &database.url)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
