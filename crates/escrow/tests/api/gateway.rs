//! The PortOne gateway as the service sees it: the in-process sandbox by default, nothing
//! under /sandbox/ when a real gateway is configured, and `escrow sandbox` alone.

use crate::support::{free_port, Backend, TestApp, TestDatabase};
use serde_json::json;

on_both_databases! {
    async fn the_sandbox_is_served_in_process(app: TestApp) {
        let token = app
            .post("/sandbox/portone/users/getToken", None, json!({"imp_key": "sandbox-key", "imp_secret": "sandbox-secret"}))
            .await;
        let body = token.assert_status(200);
        assert_eq!(body["code"], 0);
        assert!(body["response"]["access_token"].as_str().is_some());
        let refused = app
            .post("/sandbox/portone/users/getToken", None, json!({"imp_key": "sandbox-key", "imp_secret": "wrong"}))
            .await;
        assert_eq!(refused.status, 401);
        assert_eq!(refused.body["code"], -1, "the sandbox keeps PortOne's envelope, not problem+json");

        let js = app.client.get(format!("{}/sandbox/portone/iamport.js", app.base)).send().await.unwrap();
        assert_eq!(js.status(), 200);
        assert!(js.text().await.unwrap().contains("request_pay"));

        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.assert_status(200)["gateway"], "ok");
        let browser = app.get("/app/config.json", None).await;
        let browser = browser.assert_status(200);
        assert_eq!(browser["imp_code"], "imp00000000");
        assert_eq!(browser["iamport_js"], "/sandbox/portone/iamport.js");
    }
}

#[tokio::test]
async fn no_sandbox_routes_when_a_real_gateway_is_configured() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    // Nothing listens on port 1: the gateway is configured but unreachable.
    config.portone_api_url = Some("http://127.0.0.1:1".into());
    let app = TestApp::spawn_with(config, database).await;
    for path in [
        "/sandbox/portone/iamport.js",
        "/sandbox/portone/_sandbox/webhooks",
        "/sandbox/portone/checkout",
        "/sandbox/portone-v2/browser-sdk.js",
        "/sandbox/portone-v2/payments/any",
    ] {
        app.get(path, None).await.assert_problem(404, "not_found");
    }
    let token = app
        .post(
            "/sandbox/portone/users/getToken",
            None,
            json!({"imp_key": "sandbox-key", "imp_secret": "sandbox-secret"}),
        )
        .await;
    token.assert_problem(404, "not_found");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["gateway"], "unavailable");
    assert_eq!(ready.body["database"], "ok");
    let browser = app.get("/app/config.json", None).await;
    assert_eq!(
        browser.body["iamport_js"],
        "https://cdn.iamport.kr/v1/iamport.js"
    );
}

#[tokio::test]
async fn escrow_sandbox_serves_the_gateway_alone() {
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_escrow"))
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("PORTONE_IMP_KEY", "alone-key")
        .env("PORTONE_IMP_SECRET", "alone-secret")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/users/getToken");
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(response) = client
            .post(&url)
            .json(&json!({"imp_key": "alone-key", "imp_secret": "alone-secret"}))
            .send()
            .await
        {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("the sandbox did not start");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], 0);
}

/// Webhooks from addresses outside `ESCROW_WEBHOOK_ALLOW` are refused before anything else.
#[tokio::test]
async fn webhook_sources_can_be_restricted() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.webhook_allow = vec![
        "52.78.100.19/32".parse().unwrap(),
        "52.78.48.223".parse::<std::net::IpAddr>().unwrap().into(),
    ];
    let app = TestApp::spawn_with(config, database).await;
    let notice =
        json!({"imp_uid": "imp_000000000001", "merchant_uid": "escrow-1-x", "status": "paid"});
    app.post("/webhooks/portone", None, notice.clone())
        .await
        .assert_problem(403, "forbidden");

    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.webhook_allow = vec!["127.0.0.0/8".parse().unwrap()];
    let app = TestApp::spawn_with(config, database).await;
    // Allowed through; then simply unknown.
    app.post("/webhooks/portone", None, notice)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn the_sandbox_keeps_only_its_latest_webhook_attempts() {
    // It runs inside the service by default, for as long as the service runs: its log of
    // deliveries must not grow without end.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let total = 1_050;
    let notice_url = format!("{}/webhooks/portone", app.base);
    for chunk in (0..total).collect::<Vec<_>>().chunks(50) {
        futures::future::join_all(chunk.iter().map(|n| {
            app.post(
                "/sandbox/portone/_sandbox/payments",
                None,
                json!({"merchant_uid": format!("kept-{n}"), "amount": 1000, "skip_prepare_check": true, "notice_url": notice_url}),
            )
        }))
        .await
        .iter()
        .for_each(|paid| assert_eq!(paid.status, 200, "{:#}", paid.body));
    }
    let uids = |log: &serde_json::Value| -> Vec<String> {
        let attempts = log.as_array().map(Vec::as_slice).unwrap_or_default();
        attempts
            .iter()
            .map(|a| {
                a["body"]["merchant_uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let last = format!("kept-{}", total - 1);
    let mut log = serde_json::Value::Null;
    for _ in 0..100 {
        log = app
            .get("/sandbox/portone/_sandbox/webhooks", None)
            .await
            .assert_status(200)
            .clone();
        if uids(&log).contains(&last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let kept = uids(&log);
    assert!(
        kept.contains(&last),
        "the latest delivery is not logged: {} kept, first {:#}",
        kept.len(),
        log[0]
    );
    assert_eq!(kept.len(), 1_000);
    assert!(
        !kept.contains(&"kept-0".to_string()),
        "the oldest delivery is still logged"
    );
}

/// The sandbox's V2 face inside the service: PortOne's wire format (`{type, message}`), and
/// exactly the configured API secret.
#[tokio::test]
async fn the_v2_sandbox_is_served_in_process() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.api_secret = "in-process-v2-secret".into();
    let app = TestApp::spawn_with(config, database).await;
    let get = |secret: &'static str| {
        app.client
            .get(format!("{}/sandbox/portone-v2/payments/nobody", app.base))
            .header("authorization", format!("PortOne {secret}"))
            .send()
    };
    let unknown = get("in-process-v2-secret").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["type"], "PAYMENT_NOT_FOUND");
    let wrong = get("sandbox-v2-secret").await.unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["type"], "UNAUTHORIZED");
    let js = app
        .client
        .get(format!("{}/sandbox/portone-v2/browser-sdk.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().contains("requestPayment"));
}

#[tokio::test]
async fn escrow_sandbox_serves_v2_at_the_root_of_v2_listen() {
    let (port, v2_port) = (free_port(), free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_escrow"))
        .args([
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--v2-listen",
            &format!("127.0.0.1:{v2_port}"),
        ])
        .env("PORTONE_API_SECRET", "alone-v2-secret")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let control = format!("http://127.0.0.1:{v2_port}/_sandbox/payments");
    let mut created = None;
    for _ in 0..200 {
        let body = json!({"payment_id": "alone-1", "amount": 1000, "pay_method": "CARD"});
        if let Ok(response) = client.post(&control).json(&body).send().await {
            created = Some(response.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let read = |secret: &'static str| {
        client
            .get(format!("http://127.0.0.1:{v2_port}/payments/alone-1"))
            .header("authorization", format!("PortOne {secret}"))
            .send()
    };
    let paid = read("alone-v2-secret").await;
    let wrong = read("sandbox-v2-secret").await;
    // The V1 face, on the other address, sees the same payment.
    let v1 = client
        .post(format!("http://127.0.0.1:{port}/users/getToken"))
        .json(&json!({"imp_key": "sandbox-key", "imp_secret": "sandbox-secret"}))
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        created.map(|s| s.as_u16()),
        Some(200),
        "the sandbox did not start"
    );
    let paid: serde_json::Value = paid.unwrap().json().await.unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["id"].as_str()),
        (Some("PAID"), Some("alone-1"))
    );
    assert_eq!(wrong.unwrap().status(), 401);
    assert_eq!(v1.unwrap().status(), 200);
}
