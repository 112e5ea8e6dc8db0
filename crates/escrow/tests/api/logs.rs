//! Secrets and card data never reach the logs, even at the most verbose level.

use crate::support::{free_port, Backend, TestDatabase};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_card_data_is_logged() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let port = free_port();
    let log_path =
        std::env::temp_dir().join(format!("escrow-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).unwrap();
    let jwt_secret = "log-test-secret-log-test-secret-98765";
    let mut child = Command::new(env!("CARGO_BIN_EXE_escrow"))
        .arg("serve")
        .env("ESCROW_DATABASE_URL", &database.url)
        .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
        .env("ESCROW_JWT_SECRET", jwt_secret)
        .env("PORTONE_IMP_SECRET", "imp-secret-never-logged")
        .env("ESCROW_LOG", "trace")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let password = "Secret-Password-4242";
    let mut tokens = Vec::new();
    for role in ["seller", "buyer"] {
        let email = format!("{role}@example.kr");
        post(
            "/auth/signup",
            None,
            json!({"email": email, "password": password, "name": "N", "role": role}),
        )
        .await;
        post(
            "/auth/login",
            None,
            json!({"email": email, "password": "Wrong-Password-7777"}),
        )
        .await;
        tokens.push(
            post(
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await["token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (seller, buyer) = (&tokens[0], &tokens[1]);
    let product = post(
        "/products",
        Some(seller),
        json!({"name": "로그", "price": 1000, "stock": 5}),
    )
    .await;
    let shipping = json!({"receiver_name": "R", "receiver_phone": "010-1234-5678", "address": "서울", "postcode": "04524"});
    let order = post("/orders", Some(buyer), json!({"items": [{"product_id": product["product_id"], "quantity": 1}], "shipping": shipping})).await;
    let payment = post(
        "/payments",
        Some(buyer),
        json!({"order_id": order["orders"][0]["order_id"]}),
    )
    .await;
    let card = "4111222233334444";
    let paid = post(
        "/sandbox/portone/_sandbox/payments",
        None,
        json!({"merchant_uid": payment["checkout"]["merchant_uid"], "amount": 1000, "card_number": card, "notice_url": payment["checkout"]["notice_url"]}),
    )
    .await;
    let status = post(
        &format!("/payments/{}/complete", payment["payment_id"]),
        Some(buyer),
        json!({"imp_uid": paid["imp_uid"]}),
    )
    .await;
    assert_eq!(status["status"], "paid", "{status:#}");

    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        logs.contains("webhook received") || logs.contains("/payments"),
        "the logs are empty?"
    );
    for secret in [
        password,
        "Wrong-Password-7777",
        jwt_secret,
        "imp-secret-never-logged",
        card,
        &card[..12],
        seller,
        buyer,
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {}…",
            &secret[..6]
        );
    }
    // Gateway access tokens neither.
    let token_line = logs.lines().find(|l| l.contains("access_token"));
    assert!(
        token_line.is_none(),
        "a gateway token reached the logs: {:?}",
        token_line.map(|l| &l[..l.len().min(80)])
    );
}
