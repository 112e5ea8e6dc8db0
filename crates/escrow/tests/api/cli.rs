//! The `escrow` command line: configuration errors, migrate, admin create, shutdown.

use crate::support::{Backend, TestDatabase};
use std::process::Command;

fn escrow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_escrow"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ESCROW_") || key.starts_with("PORTONE_") {
            command.env_remove(key);
        }
    }
    command
}

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
    ] {
        assert!(help.contains(variable), "{variable} missing from --help");
    }
}

#[test]
fn bad_configuration_is_refused_clearly() {
    for (variable, value, says) in [
        ("ESCROW_LISTEN", "not-an-address", "ESCROW_LISTEN"),
        ("ESCROW_DATABASE_URL", "postgres://x/y", "sqlite://"),
        ("ESCROW_AUTO_CONFIRM_AFTER", "7 weeks", "unit"),
        ("ESCROW_ORDER_TTL", "-5m", "ESCROW_ORDER_TTL"),
        ("ESCROW_FEE_BPS", "20000", "ESCROW_FEE_BPS"),
        ("ESCROW_JWT_SECRET", "short", "at least 32"),
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
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
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
