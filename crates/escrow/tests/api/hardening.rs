//! What an attacker tries next (issue 25): bursts against the login throttle, retries of
//! large answers and lower-case schemes against idempotency, stale tokens, unbounded
//! metrics, script in the sandbox's checkout page, missing security headers.

use crate::escrow_support::{new_key, on_both_databases_with, shipping, EscrowApp};
use crate::support::{escrow_command, free_port, Backend, TestApp, TestDatabase};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Stdio;

/// Statuses of `answers`, counted: (401s, 429s, 200s).
fn tally(statuses: &[u16]) -> (usize, usize, usize) {
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    (count(401), count(429), count(200))
}

/// A token signed with the service's own key, claiming whatever the test says.
fn signed_token(app: &TestApp, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(app.config.jwt_secret().as_bytes()),
    )
    .unwrap()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.login(email, password).await.status.as_u16()
}

on_both_databases! {
    async fn a_burst_of_guesses_for_one_email_is_verified_at_most_five_times(app: TestApp) {
        let member = app.buyer().await;
        let guesses = join_all((0..30).map(|_| login_status(&app, &member.email, "wrong-password"))).await;
        let (wrong, refused, _) = tally(&guesses);
        assert_eq!((wrong, refused), (5, 25), "{guesses:?}");
        // The right password, once the limit is passed, gets no token.
        app.login(&member.email, &member.password).await.assert_problem(429, "rate_limited");
    }

    async fn the_right_password_inside_a_burst_wins_only_within_the_limit(app: TestApp) {
        let member = app.buyer().await;
        let mut attempts: Vec<_> = (0..30).map(|_| "wrong-password".to_string()).collect();
        attempts.insert(15, member.password.clone());
        let answers = join_all(attempts.iter().map(|password| login_status(&app, &member.email, password))).await;
        let (wrong, refused, ok) = tally(&answers);
        assert_eq!(wrong + refused + ok, 31, "{answers:?}");
        // A success clears the e-mail's count, so at most the limit before it and after it.
        assert!(wrong <= 10 && ok <= 1, "{answers:?}");
        assert!(ok == 1 || wrong == 5, "{answers:?}");
    }

    async fn a_burst_from_one_address_over_many_emails_is_verified_at_most_fifty_times(app: TestApp) {
        let member = app.buyer().await;
        let emails: Vec<String> = (0..80).map(|n| format!("guess-{n}@example.kr")).collect();
        let guesses = join_all(emails.iter().map(|email| login_status(&app, email, "wrong-password"))).await;
        let (wrong, refused, _) = tally(&guesses);
        assert_eq!((wrong, refused), (50, 30), "{guesses:?}");
        app.login(&member.email, &member.password).await.assert_problem(429, "rate_limited");
    }

    async fn good_logins_do_not_use_up_an_addresses_allowance(app: TestApp) {
        let member = app.buyer().await;
        for _ in 0..60 {
            app.login(&member.email, &member.password).await.assert_status(200);
        }
    }

    async fn a_large_answer_under_an_idempotency_key_is_replayed_not_run_again(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let mut items = Vec::new();
        let mut products = Vec::new();
        for n in 0..40 {
            let name = format!("{n:02} {}", "handmade ceramic mug, glazed by hand in Icheon ".repeat(3));
            let product = app.product(&seller, &name, 1_000 + n, 10).await;
            items.push(json!({"product_id": product, "quantity": 2}));
            products.push(product);
        }
        let body = json!({"items": items, "shipping": shipping()});
        let key = new_key();
        let first = app.post_with_key("/orders", &buyer.token, &key, body.clone()).await;
        first.assert_status(201);
        let size = first.body.to_string().chars().count();
        assert!(size > 8000, "the answer must be large: {size} characters");
        let again = app.post_with_key("/orders", &buyer.token, &key, body).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.count("order_items").await, 40);
        for product in products {
            assert_eq!(app.stock(product).await, 8);
        }
    }

    async fn a_lower_case_bearer_scheme_keeps_idempotency(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let product = app.product(&seller, "커피 원두", 10_000, 5).await;
        let key = new_key();
        let body = json!({"items": [{"product_id": product, "quantity": 1}], "shipping": shipping()});
        let mut answers = Vec::new();
        for scheme in ["bearer", "BEARER", "Bearer"] {
            let response = app
                .client
                .request(Method::POST, format!("{}/orders", app.base))
                .header("authorization", format!("{scheme} {}", buyer.token))
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await
                .unwrap();
            answers.push(TestApp::answer(response).await);
        }
        answers[0].assert_status(201);
        for again in &answers[1..] {
            assert_eq!(again.body, answers[0].body);
        }
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.stock(product).await, 4);
        let me: Value = app.client.get(format!("{}/auth/me", app.base)).header("authorization", format!("bEaReR  {}", buyer.token)).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["user_id"], buyer.id);
    }

    async fn a_deleted_users_token_is_refused_with_401_on_reads_and_writes(app: TestApp) {
        let seller = app.seller().await;
        let product = app.product(&seller, "커피 원두", 10_000, 5).await;
        let buyer = app.buyer().await;
        let sql = format!("DELETE FROM users WHERE id = {}", buyer.id);
        app.raw_sql(&sql, &sql).await;
        app.get("/auth/me", Some(&buyer.token)).await.assert_problem(401, "unauthorized");
        app.get("/orders", Some(&buyer.token)).await.assert_problem(401, "unauthorized");
        app.get("/cart", Some(&buyer.token)).await.assert_problem(401, "unauthorized");
        app.put(&format!("/cart/items/{product}"), Some(&buyer.token), json!({"quantity": 1})).await.assert_problem(401, "unauthorized");
        let order = json!({"items": [{"product_id": product, "quantity": 1}], "shipping": shipping()});
        app.post("/orders", Some(&buyer.token), order).await.assert_problem(401, "unauthorized");
        assert_eq!(app.count("orders").await, 0);

        // A validly signed token for a user that never existed.
        let now = now_secs();
        let stranger = signed_token(&app, json!({"sub": "987654", "role": "admin", "iat": now, "exp": now + 600}));
        app.get("/admin/ledger", Some(&stranger)).await.assert_problem(401, "unauthorized");
        app.post("/admin/reconcile", Some(&stranger), json!({})).await.assert_problem(401, "unauthorized");
    }

    async fn a_demoted_admins_token_no_longer_opens_admin_routes(app: TestApp) {
        let admin = app.admin().await;
        app.get("/admin/ledger", Some(&admin.token)).await.assert_status(200);
        let sql = format!("UPDATE users SET role = 'buyer' WHERE id = {}", admin.id);
        app.raw_sql(&sql, &sql).await;
        app.get("/admin/ledger", Some(&admin.token)).await.assert_problem(403, "forbidden");
        app.get("/admin/disputes", Some(&admin.token)).await.assert_problem(403, "forbidden");
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_problem(403, "forbidden");
        assert_eq!(app.get("/auth/me", Some(&admin.token)).await.assert_status(200)["role"], "buyer");
    }

    async fn a_token_living_longer_than_the_service_issues_is_refused(app: TestApp) {
        let member = app.buyer().await;
        let now = now_secs();
        let ttl = escrow::TOKEN_TTL.as_secs() as i64;
        let century = signed_token(&app, json!({"sub": member.id.to_string(), "role": "buyer", "iat": now, "exp": now + 100 * 365 * 24 * 3600}));
        app.get("/auth/me", Some(&century)).await.assert_problem(401, "unauthorized");
        let from_the_future = signed_token(&app, json!({"sub": member.id.to_string(), "role": "buyer", "iat": now + 3600, "exp": now + 3600 + ttl}));
        app.get("/auth/me", Some(&from_the_future)).await.assert_problem(401, "unauthorized");
        let no_issue_time = signed_token(&app, json!({"sub": member.id.to_string(), "role": "buyer", "exp": now + 60}));
        app.get("/auth/me", Some(&no_issue_time)).await.assert_problem(401, "unauthorized");
        let as_issued = signed_token(&app, json!({"sub": member.id.to_string(), "role": "buyer", "iat": now, "exp": now + ttl}));
        app.get("/auth/me", Some(&as_issued)).await.assert_status(200);
    }

    async fn logging_out_revokes_every_token_of_the_member(app: TestApp) {
        let member = app.buyer().await;
        let second = app.logged_in(member.id, member.email.clone(), member.password.clone()).await;
        let other = app.buyer().await;
        let out = app.post("/auth/logout", Some(&member.token), json!({})).await;
        assert_eq!(out.assert_status(200)["success"], true);
        for token in [&member.token, &second.token] {
            app.get("/auth/me", Some(token)).await.assert_problem(401, "unauthorized");
            app.post("/auth/logout", Some(token), json!({})).await.assert_problem(401, "unauthorized");
        }
        app.get("/auth/me", Some(&other.token)).await.assert_status(200);
        let again = app.logged_in(member.id, member.email.clone(), member.password.clone()).await;
        app.get("/auth/me", Some(&again.token)).await.assert_status(200);
    }

    async fn invented_methods_do_not_grow_the_metrics(app: TestApp) {
        let invented: Vec<String> = (0..300).map(|_| format!("X{}", uuid::Uuid::new_v4().simple()).to_uppercase()).collect();
        for method in &invented {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let answer = app.request(method, "/products", None, None).await;
            assert_eq!(answer.status.as_u16(), 405, "{:#}", answer.body);
        }
        let metrics = app.metrics().await;
        for method in &invented {
            assert!(!metrics.contains(method.as_str()), "{method} became a label");
        }
        // Every series of the request counter has labels from the fixed sets.
        let series: Vec<&str> = metrics.lines().filter(|line| line.starts_with("http_requests_total{")).collect();
        let known_methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"];
        for line in &series {
            let label = |name: &str| line.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_string();
            assert!(known_methods.contains(&label("method").as_str()), "{line}");
            assert!(["1xx", "2xx", "3xx", "4xx", "5xx"].contains(&label("status").as_str()), "{line}");
        }
        assert!(series.iter().any(|line| line.contains(r#"method="other""#)), "{metrics}");
        // Routes (the table, the UI, the docs, unmatched) x methods x classes.
        let bound = (escrow_http::router::ROUTES.len() + 10) * known_methods.len() * 5;
        assert!(series.len() <= bound, "{} series", series.len());
    }

    async fn the_sandbox_checkout_page_runs_only_its_own_files(app: TestApp) {
        let page = app.client.get(format!("{}/sandbox/portone/checkout?mode=redirect", app.base)).send().await.unwrap();
        let policy = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        let html = page.text().await.unwrap();
        // No inline script or style: the policy would refuse it, and an injected one with it.
        assert!(!html.contains("<script>") && !html.contains("<style>"), "{html}");
        assert!(html.contains(r#"<script src="checkout.js"></script>"#));
        let script = app.client.get(format!("{}/sandbox/portone/checkout.js", app.base)).send().await.unwrap();
        assert_eq!(script.status().as_u16(), 200);
        assert_eq!(script.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
        let script = script.text().await.unwrap();
        assert!(script.contains(r#"url.protocol === "http:" || url.protocol === "https:""#));
        assert!(!script.contains("innerHTML"));
        let style = app.client.get(format!("{}/sandbox/portone/checkout.css", app.base)).send().await.unwrap();
        assert!(style.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().starts_with("text/css"));
    }

}

/// A web build of one page, as `npm run build` leaves in `web/dist`.
fn with_a_web_build(config: &mut escrow::config::Config) {
    let dir = std::env::temp_dir().join(format!("escrow-web-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>UI</title>").unwrap();
    config.web_dir = dir;
}

on_both_databases_with! { with_a_web_build =>
    async fn the_ui_and_the_docs_carry_security_headers(app: TestApp) {
        for path in ["/app/", "/app/orders/1", "/app/config.json", "/docs/", "/docs/index.html"] {
            let response = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let policy = header("content-security-policy");
            assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
            assert!(policy.contains("script-src 'self'") && !policy.contains("script-src 'self' 'unsafe-inline'"), "{path}: {policy}");
            assert_eq!(header("x-frame-options"), "DENY", "{path}");
            assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        }
    }
}

/// A webhook whose `imp_uid` carries a newline and a log line of the sender's making: the
/// text log escapes it, so every line of the log is one the service wrote.
async fn a_newline_in_a_webhook_cannot_forge_a_log_line(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!(
        "escrow-forge-{}.txt",
        uuid::Uuid::new_v4().simple()
    ));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = escrow_command()
        .arg("serve")
        .env("ESCROW_DATABASE_URL", &database.url)
        .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
        .env("ESCROW_LOG", "info")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..600 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the service did not start");
    let forged = "FORGED refund";
    let imp_uid = format!("imp_1\n2026-12-05T00:00:00.000000Z  INFO {forged}");
    client
        .post(format!("{base}/webhooks/portone"))
        .json(&json!({"imp_uid": imp_uid, "merchant_uid": "order-1"}))
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let received = logs.lines().find(|line| line.contains("webhook received"));
    let received = received.unwrap_or_else(|| panic!("no webhook line in {logs}"));
    assert!(
        received.contains(r"imp_1\n2026-12-05T00:00:00.000000Z  INFO FORGED"),
        "{received}"
    );
    for line in logs.lines() {
        assert!(
            !line.starts_with("2026-12-05T00:00:00.000000Z"),
            "a forged line: {line}"
        );
    }
}

on_both_backends!(a_newline_in_a_webhook_cannot_forge_a_log_line);

/// An IPv4 sender on a dual-stack listener (`[::]`) arrives as `::ffff:127.0.0.1`: the
/// allow-list of `127.0.0.1/32` still lets it in, and still keeps others out.
async fn the_webhook_allow_list_matches_ipv4_senders_on_a_dual_stack_listener(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("[::]:0").await.unwrap();
    let database = TestDatabase::create(backend).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.webhook_allow = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_on(config, database, listener).await;
    let notice = json!({"imp_uid": "imp_000000000001", "merchant_uid": "order-1"});
    let answer = app.post("/webhooks/portone", None, notice.clone()).await;
    assert_ne!(answer.status.as_u16(), 403, "{:#}", answer.body);

    let listener = tokio::net::TcpListener::bind("[::]:0").await.unwrap();
    let database = TestDatabase::create(backend).await;
    let mut config = escrow::config::Config::for_database(&database.url);
    config.webhook_allow = vec!["52.78.100.19/32".parse().unwrap()];
    let elsewhere = TestApp::spawn_on(config, database, listener).await;
    let answer = elsewhere.post("/webhooks/portone", None, notice).await;
    answer.assert_problem(403, "forbidden");
}

on_both_backends!(the_webhook_allow_list_matches_ipv4_senders_on_a_dual_stack_listener);

fn five_signups_and_small_holds(config: &mut escrow::config::Config) {
    config.signup_limit = 5;
    config.max_unpaid_per_product = 3;
    config.max_unpaid_units = 5;
}

on_both_databases_with! { five_signups_and_small_holds =>
    async fn sign_ups_from_one_address_are_limited(app: TestApp) {
        let app = &app;
        let signups = join_all((0..60).map(|n| {
            let body = json!({"email": format!("burst-{n}@example.kr"), "password": "password-123", "name": "N"});
            async move { app.post("/auth/signup", None, body).await }
        }))
        .await;
        let created = signups.iter().filter(|a| a.status.as_u16() == 201).count();
        let refused: Vec<_> = signups.iter().filter(|a| a.status.as_u16() == 429).collect();
        assert_eq!((created, refused.len()), (5, 55));
        refused[0].assert_problem(429, "rate_limited");
        assert!(refused[0].headers.contains_key("retry-after"));
        assert_eq!(app.count("users").await, 5);
    }

    async fn a_buyer_cannot_hold_more_than_the_limits_unpaid(app: TestApp) {
        let seller = app.seller().await;
        let first = app.product(&seller, "한정판 운동화", 10_000, 100).await;
        let second = app.product(&seller, "양말", 1_000, 100).await;
        let buyer = app.buyer().await;
        // Simultaneous orders of one unit: exactly the per-product limit gets through.
        let one = [(first, 1)];
        let orders = join_all((0..12).map(|_| app.try_order(&buyer, &one))).await;
        let placed = orders.iter().filter(|a| a.status.as_u16() == 201).count();
        assert_eq!(placed, 3, "{:?}", orders.iter().map(|a| a.status.as_u16()).collect::<Vec<_>>());
        let refused = orders.iter().find(|a| a.status.as_u16() != 201).unwrap();
        refused.assert_problem(409, "unpaid_limit");
        assert_eq!(app.stock(first).await, 97);
        // In total: 3 held, 2 more of another product, then nothing.
        app.try_order(&buyer, &[(second, 2)]).await.assert_status(201);
        app.try_order(&buyer, &[(second, 1)]).await.assert_problem(409, "unpaid_limit");
        assert_eq!(app.stock(second).await, 98);
        assert_eq!(app.count("orders").await, 4);
        // Another buyer is not held back by it.
        let other = app.buyer().await;
        app.try_order(&other, &[(first, 3)]).await.assert_status(201);
    }
}

on_both_databases! {
    async fn a_cart_past_the_largest_total_stays_readable_and_only_checkout_refuses(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let product = app.product(&seller, "금괴", 1_000_000_000, 100).await;
        let path = format!("/cart/items/{product}");
        app.put(&path, Some(&buyer.token), json!({"quantity": 5})).await.assert_status(200);
        let repriced = json!({"name": "금괴", "description": "", "price": 5_000_000_000_i64, "stock": 100});
        app.put(&format!("/products/{product}"), Some(&seller.token), repriced).await.assert_status(200);
        let cart = app.get("/cart", Some(&buyer.token)).await;
        assert_eq!(cart.assert_status(200)["total_amount"], 25_000_000_000_i64);
        let changed = app.put(&path, Some(&buyer.token), json!({"quantity": 4})).await;
        assert_eq!(changed.assert_status(200)["total_amount"], 20_000_000_000_i64);
        let checkout = app.post("/orders", Some(&buyer.token), json!({"from_cart": true, "shipping": shipping()})).await;
        checkout.assert_problem(422, "validation_failed");
        assert_eq!(app.count("orders").await, 0);
        assert_eq!(app.stock(product).await, 100);
        app.put(&path, Some(&buyer.token), json!({"quantity": 2})).await.assert_status(200);
        app.post("/orders", Some(&buyer.token), json!({"from_cart": true, "shipping": shipping()})).await.assert_status(201);
    }
}
