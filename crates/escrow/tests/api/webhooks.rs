//! Outgoing webhooks over HTTP (api.md §12): an admin registers a receiver (a small HTTP
//! server in the test), which gets the events signed as Standard Webhooks says, again
//! under the same `webhook-id` while it fails or hangs, once per attempt however many
//! instances share the database; and URLs that would reach private networks are refused in
//! production.

use crate::crash::KillOnDrop;
use crate::escrow_support::{on_both_databases_with, EscrowApp, PATIENCE};
use crate::support::{free_port, Backend, Member, TestApp, TestDatabase};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use escrow::config::Config;
use escrow_core::webhooks::signing;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fast background work, and retries a moment apart.
fn fast_retries(config: &mut Config) {
    config.job_interval = Duration::from_millis(50);
    config.webhook_retry_schedule = vec![
        Duration::ZERO,
        Duration::from_millis(100),
        Duration::from_millis(100),
    ];
    config.webhook_timeout = Duration::from_millis(500);
    config.webhook_concurrency = 2;
}

/// Settled deliveries are swept 200 ms after they settle; a failed attempt waits an hour.
fn quick_sweep(config: &mut Config) {
    config.job_interval = Duration::from_millis(50);
    config.outbox_retention = Duration::from_millis(200);
    config.webhook_retry_schedule = vec![Duration::ZERO, Duration::from_secs(3600)];
}

/// A real gateway configured (production): https only, no private addresses.
fn production(config: &mut Config) {
    config.portone_api_url = Some("https://api.iamport.invalid".into());
}

/// Production with `ESCROW_WEBHOOK_ALLOW_PRIVATE=true`.
fn production_allowing_private(config: &mut Config) {
    production(config);
    config.webhook_allow_private = true;
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the receiver answers a request: given how many earlier requests carried the same
/// `webhook-id`.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    Hang,
    /// A 307 to this URL.
    Redirect(String),
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl Receiver {
    async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            got: Arc::default(),
            script: Arc::new(Mutex::new(Arc::new(script))),
            in_flight: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        receiver
    }

    fn answer_with(&self, script: impl Fn(usize) -> Reply + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(script);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// How many requests each `webhook-id` came in.
    fn per_id(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.got() {
            *counts.entry(r.id).or_default() += 1;
        }
        counts
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    {
        let mut in_flight = receiver.in_flight.lock().unwrap();
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }
    let answer = answer(&receiver, &headers, body).await;
    receiver.in_flight.lock().unwrap().0 -= 1;
    answer
}

async fn answer(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    };
    let earlier = {
        let mut got = receiver.got.lock().unwrap();
        let earlier = got.iter().filter(|r| r.id == received.id).count();
        got.push(received);
        earlier
    };
    let script = receiver.script.lock().unwrap().clone();
    match script(earlier) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
        Reply::Redirect(to) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, to)],
        )
            .into_response(),
    }
}

/// Checks one request's signature under `secret`, as a receiver does.
#[track_caller]
fn assert_signed(received: &Received, secret: &str) {
    let timestamp: i64 = received
        .timestamp
        .parse()
        .unwrap_or_else(|_| panic!("{received:?}"));
    let expected = signing::sign(secret, &received.id, timestamp, &received.body).unwrap();
    assert_eq!(received.signature, expected, "{received:?}");
    assert!(!received.id.is_empty(), "{received:?}");
}

/// Registers `url` as an endpoint; returns its id and secret.
async fn endpoint(app: &TestApp, admin: &Member, url: &str, types: Value) -> (i64, String) {
    let answer = app
        .post(
            "/admin/webhook-endpoints",
            Some(&admin.token),
            json!({"url": url, "event_types": types}),
        )
        .await;
    let body = answer.assert_status(201);
    let secret = body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{body:#}");
    (body["endpoint_id"].as_i64().unwrap(), secret)
}

/// Waits until every delivery of the endpoint has left `pending`, and there are `count`.
async fn settled_deliveries(
    app: &TestApp,
    admin: &Member,
    endpoint_id: i64,
    count: usize,
) -> Vec<Value> {
    let path = format!("/admin/webhook-endpoints/{endpoint_id}/deliveries?limit=100");
    let page = app
        .poll(
            &path,
            Some(&admin.token),
            "the deliveries to settle",
            |page| {
                let items = page["items"].as_array().unwrap();
                items.len() == count && items.iter().all(|d| d["status"] != "pending")
            },
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

/// Waits until the receiver got `count` requests.
async fn receiver_gets(receiver: &Receiver, count: usize) -> Vec<Received> {
    let started = std::time::Instant::now();
    loop {
        let got = receiver.got();
        if got.len() >= count {
            return got;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the receiver got {} of {count}: {got:#?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both_databases_with! {
    on_both_apis, fast_retries =>

    async fn a_receiver_gets_every_event_of_a_lifecycle_signed(app: TestApp) {
        let admin = app.admin().await;
        let receiver = Receiver::start(|_| Reply::Status(204)).await;
        let (endpoint_id, secret) = endpoint(&app, &admin, &receiver.url, json!([])).await;

        let listed = app.get("/admin/webhook-endpoints", Some(&admin.token)).await;
        let listed = listed.assert_status(200);
        assert_eq!(listed["items"][0]["endpoint_id"], endpoint_id, "{listed:#}");
        assert_eq!(listed["items"][0]["url"], receiver.url.as_str());
        assert!(!listed.to_string().contains(&secret), "the secret is shown again: {listed:#}");

        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let paid = app.paid_order(&buyer, &seller, 30_000, 1).await;
        app.ship(&seller, paid.payment_id, "123456789").await;
        app.deliver(&seller, paid.payment_id).await;
        app.confirm(&buyer, paid.payment_id).await;

        let expected = ["order.created", "payment.paid", "order.shipped", "order.delivered", "escrow.released"];
        let deliveries = settled_deliveries(&app, &admin, endpoint_id, expected.len()).await;
        for d in &deliveries {
            assert_eq!(d["status"], "succeeded", "{d:#}");
            assert_eq!(d["attempts"], 1, "{d:#}");
            assert_eq!(d["last_status_code"], 204, "{d:#}");
        }
        let got = receiver.got();
        let types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
        let mut sorted_types = types.clone();
        sorted_types.sort();
        let mut sorted_expected: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
        sorted_expected.sort();
        assert_eq!(sorted_types, sorted_expected, "{got:#?}");
        for r in &got {
            assert_signed(r, &secret);
            let body = r.json();
            assert_eq!(body["data"]["order_id"], paid.order_id, "{body:#}");
            assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{body:#}");
            let delivery = deliveries.iter().find(|d| d["event_id"] == r.id.as_str());
            assert!(delivery.is_some_and(|d| d["type"] == body["type"]), "{r:?} not in {deliveries:#?}");
        }
        assert!(receiver.per_id().values().all(|n| *n == 1), "{:?}", receiver.per_id());
        // A wrong secret does not verify: the check above is not vacuous.
        assert_ne!(signing::sign(&signing::new_secret(), &got[0].id, got[0].timestamp.parse().unwrap(), &got[0].body).unwrap(), got[0].signature);
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_failing_receiver_gets_the_same_webhook_id_until_it_succeeds(app: TestApp) {
        let admin = app.admin().await;
        let receiver = Receiver::start(|earlier| Reply::Status(if earlier < 2 { 500 } else { 200 })).await;
        let (endpoint_id, secret) = endpoint(&app, &admin, &receiver.url, json!(["payment.paid"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        app.paid_order(&buyer, &seller, 12_000, 1).await;

        let deliveries = settled_deliveries(&app, &admin, endpoint_id, 1).await;
        assert_eq!(deliveries[0]["status"], "succeeded", "{deliveries:#?}");
        assert_eq!(deliveries[0]["attempts"], 3, "{deliveries:#?}");
        assert_eq!(deliveries[0]["last_status_code"], 200, "{deliveries:#?}");
        let got = receiver.got();
        assert_eq!(got.len(), 3, "{got:#?}");
        for r in &got {
            assert_eq!(r.id, got[0].id, "{got:#?}");
            assert_eq!(r.body, got[0].body, "{got:#?}");
            assert_eq!(r.json()["type"], "payment.paid", "only the types asked for: {got:#?}");
            assert_signed(r, &secret);
        }
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_delivery_that_never_succeeds_fails_and_resend_sends_it_again(app: TestApp) {
        let admin = app.admin().await;
        let receiver = Receiver::start(|_| Reply::Status(503)).await;
        let (endpoint_id, secret) = endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "재전송 상품", 5_000, 3).await;
        app.order(&buyer, product, 1).await;

        let deliveries = settled_deliveries(&app, &admin, endpoint_id, 1).await;
        let failed = &deliveries[0];
        assert_eq!(failed["status"], "failed", "{failed:#}");
        assert_eq!(failed["attempts"], 3, "one attempt per entry of the schedule: {failed:#}");
        assert_eq!(failed["last_status_code"], 503, "{failed:#}");
        assert_eq!(failed["next_attempt_at"], Value::Null, "{failed:#}");

        receiver.answer_with(|_| Reply::Status(200));
        let delivery_id = failed["delivery_id"].as_i64().unwrap();
        let resend = format!("/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend");
        app.post(&resend, Some(&admin.token), json!({})).await.assert_status(200);
        let path = format!("/admin/webhook-endpoints/{endpoint_id}/deliveries");
        let page = app.poll(&path, Some(&admin.token), "the resent delivery", |p| p["items"][0]["status"] == "succeeded").await;
        assert_eq!(page["items"][0]["attempts"], 4, "{page:#}");
        let got = receiver.got();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got.iter().all(|r| r.id == got[0].id), "{got:#?}");
        assert_signed(&got[3], &secret);

        let other = format!("/admin/webhook-endpoints/{}/deliveries/{delivery_id}/resend", endpoint_id + 1000);
        app.post(&other, Some(&admin.token), json!({})).await.assert_problem(404, "not_found");
        let missing = format!("/admin/webhook-endpoints/{endpoint_id}/deliveries/{}/resend", delivery_id + 1000);
        app.post(&missing, Some(&admin.token), json!({})).await.assert_problem(404, "not_found");
        let bad = format!("/admin/webhook-endpoints/{endpoint_id}/deliveries/x/resend");
        app.post(&bad, Some(&admin.token), json!({})).await.assert_problem(422, "validation_failed");
    }

    async fn a_hanging_receiver_is_timed_out_and_retried(app: TestApp) {
        let admin = app.admin().await;
        let receiver = Receiver::start(|earlier| if earlier == 0 { Reply::Hang } else { Reply::Status(200) }).await;
        let (endpoint_id, _) = endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "느린 수신자", 5_000, 3).await;
        app.order(&buyer, product, 1).await;

        let deliveries = settled_deliveries(&app, &admin, endpoint_id, 1).await;
        assert_eq!(deliveries[0]["status"], "succeeded", "{deliveries:#?}");
        assert_eq!(deliveries[0]["attempts"], 2, "the hung attempt counts as failed: {deliveries:#?}");
        let got = receiver.got();
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0].id, got[1].id);
    }

    async fn a_redirect_is_a_failed_attempt_and_never_followed(app: TestApp) {
        let admin = app.admin().await;
        let elsewhere = Receiver::start(|_| Reply::Status(200)).await;
        let target = format!("{}?from=redirect", elsewhere.url);
        let receiver = Receiver::start(move |_| Reply::Redirect(target.clone())).await;
        let (endpoint_id, _) = endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "리다이렉트", 1_000, 10).await;
        app.order(&buyer, product, 1).await;

        let deliveries = settled_deliveries(&app, &admin, endpoint_id, 1).await;
        assert_eq!(deliveries[0]["status"], "failed", "{deliveries:#?}");
        assert_eq!(deliveries[0]["last_status_code"], 307, "{deliveries:#?}");
        assert_eq!(receiver.got().len(), 3, "{:#?}", receiver.got());
        assert!(elsewhere.got().is_empty(), "a redirect was followed: {:#?}", elsewhere.got());
    }

    async fn a_hanging_receiver_holds_only_its_own_deliveries(app: TestApp) {
        let admin = app.admin().await;
        let hanging = Receiver::start(|_| Reply::Hang).await;
        let prompt = Receiver::start(|_| Reply::Status(200)).await;
        endpoint(&app, &admin, &hanging.url, json!(["order.created"])).await;
        let (prompt_id, _) = endpoint(&app, &admin, &prompt.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "느린 수신자 여럿", 1_000, 100).await;
        const ORDERS: usize = 12;
        for _ in 0..ORDERS {
            app.order(&buyer, product, 1).await;
        }

        let deliveries = settled_deliveries(&app, &admin, prompt_id, ORDERS).await;
        assert!(deliveries.iter().all(|d| d["status"] == "succeeded"), "{deliveries:#?}");
        // On a loaded machine the prompt endpoint may be done before the first hung attempt.
        receiver_gets(&hanging, 1).await;
        let most = hanging.in_flight.lock().unwrap().1;
        let limit = app.config.webhook_concurrency as usize;
        assert!(most >= 1 && most <= limit, "{most} attempts at once to one endpoint (limit {limit})");
    }

    async fn two_instances_deliver_each_attempt_once(app: TestApp) {
        let other = TestApp::spawn_with(app.config.clone(), app.database.alias()).await;
        let admin = app.admin().await;
        // Each event's first attempt fails: every id must come exactly twice.
        let receiver = Receiver::start(|earlier| Reply::Status(if earlier == 0 { 500 } else { 200 })).await;
        let (endpoint_id, secret) = endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
        let seller = app.seller().await;
        let product = app.product(&seller, "두 인스턴스", 1_000, 1_000).await;
        let buyers = futures::future::join_all((0..6).map(|_| app.buyer())).await;
        const ORDERS: usize = 24;
        futures::future::join_all((0..ORDERS).map(|i| {
            let (instance, buyer) = if i % 2 == 0 { (&app, &buyers[i % 6]) } else { (&other, &buyers[i % 6]) };
            instance.order(buyer, product, 1)
        }))
        .await;

        let deliveries = settled_deliveries(&app, &admin, endpoint_id, ORDERS).await;
        assert!(deliveries.iter().all(|d| d["status"] == "succeeded" && d["attempts"] == 2), "{deliveries:#?}");
        receiver_gets(&receiver, ORDERS * 2).await;
        let per_id = receiver.per_id();
        assert_eq!(per_id.len(), ORDERS, "{per_id:?}");
        assert!(per_id.values().all(|n| *n == 2), "an attempt was sent twice: {per_id:?}");
        receiver.got().iter().for_each(|r| assert_signed(r, &secret));
    }

    async fn an_endpoint_is_deleted_with_its_deliveries(app: TestApp) {
        let admin = app.admin().await;
        let receiver = Receiver::start(|_| Reply::Status(200)).await;
        let (endpoint_id, _) = endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "삭제", 1_000, 10).await;
        app.order(&buyer, product, 1).await;
        settled_deliveries(&app, &admin, endpoint_id, 1).await;

        let path = format!("/admin/webhook-endpoints/{endpoint_id}");
        app.delete(&path, Some(&admin.token)).await.assert_status(200);
        app.delete(&path, Some(&admin.token)).await.assert_problem(404, "not_found");
        app.get(&format!("{path}/deliveries"), Some(&admin.token)).await.assert_problem(404, "not_found");
        let listed = app.get("/admin/webhook-endpoints", Some(&admin.token)).await;
        assert_eq!(listed.assert_status(200)["items"], json!([]));
        assert_eq!(app.count("webhook_deliveries").await, 0);

        // Made while no endpoint exists: the next endpoint starts after it.
        app.order(&buyer, product, 1).await;
        let fresh = Receiver::start(|_| Reply::Status(200)).await;
        let (fresh_id, _) = endpoint(&app, &admin, &fresh.url, json!(["order.created"])).await;
        app.order(&buyer, product, 1).await;
        settled_deliveries(&app, &admin, fresh_id, 1).await;
        assert_eq!(fresh.got().len(), 1, "{:#?}", fresh.got());
        assert_eq!(receiver.got().len(), 1, "a deleted endpoint got more: {:#?}", receiver.got());
    }

    async fn endpoints_refuse_bad_input(app: TestApp) {
        let admin = app.admin().await;
        let cases = [
            json!({}),
            json!({"url": "not a url"}),
            json!({"url": "ftp://127.0.0.1/x"}),
            json!({"url": "http://user:pw@127.0.0.1/x"}),
            json!({"url": "http://127.0.0.1/x", "event_types": ["Payment Paid"]}),
            json!({"url": "http://127.0.0.1/x", "event_types": "payment.paid"}),
            json!({"url": "http://127.0.0.1/x", "extra": 1}),
        ];
        for body in cases {
            let answer = app.post("/admin/webhook-endpoints", Some(&admin.token), body.clone()).await;
            assert_eq!(answer.status.as_u16(), 422, "{body}: {:#}", answer.body);
            assert!(answer.content_type.starts_with("application/problem+json"), "{answer:?}");
        }
        assert_eq!(app.count("webhook_endpoints").await, 0);
        let page = app.get("/admin/webhook-endpoints/1/deliveries?limit=0", Some(&admin.token)).await;
        page.assert_problem(422, "validation_failed");
    }
}

on_both_databases_with! {
    on_both_apis, quick_sweep =>

    async fn settled_deliveries_are_swept_and_pending_ones_stay(app: TestApp) {
        let admin = app.admin().await;
        let fine = Receiver::start(|_| Reply::Status(200)).await;
        let failing = Receiver::start(|_| Reply::Status(500)).await;
        let (fine_id, _) = endpoint(&app, &admin, &fine.url, json!(["order.created"])).await;
        let (failing_id, _) = endpoint(&app, &admin, &failing.url, json!(["order.created"])).await;
        let buyer = app.buyer().await;
        let seller = app.seller().await;
        let product = app.product(&seller, "청소", 1_000, 10).await;
        app.order(&buyer, product, 1).await;

        receiver_gets(&fine, 1).await;
        receiver_gets(&failing, 1).await;
        let swept = "webhook_deliveries WHERE endpoint_id = ".to_string() + &fine_id.to_string();
        assert_eq!(app.count_reaches(&swept, 0).await, 0, "the succeeded delivery was not swept");
        let path = format!("/admin/webhook-endpoints/{failing_id}/deliveries");
        let page = app.get(&path, Some(&admin.token)).await;
        let items = page.assert_status(200)["items"].clone();
        assert_eq!(items.as_array().map(Vec::len), Some(1), "{items:#}");
        assert_eq!(items[0]["status"], "pending", "{items:#}");
        assert_eq!(items[0]["last_status_code"], 500, "{items:#}");
    }
}

on_both_databases_with! {
    on_both_apis, production =>

    async fn a_url_to_a_private_address_is_refused_in_production(app: TestApp) {
        let admin = app.admin().await;
        for url in [
            "https://10.0.0.1/hook",
            "https://192.168.0.10/hook",
            "https://127.0.0.1:8443/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/hook",
            "http://8.8.8.8/hook",
        ] {
            let answer = app.post("/admin/webhook-endpoints", Some(&admin.token), json!({"url": url})).await;
            answer.assert_problem(422, "validation_failed");
            assert_eq!(answer.body["errors"][0]["field"], "url", "{url}: {:#}", answer.body);
        }
        assert_eq!(app.count("webhook_endpoints").await, 0);
        let public = app.post("/admin/webhook-endpoints", Some(&admin.token), json!({"url": "https://8.8.8.8/hook"})).await;
        public.assert_status(201);
    }
}

on_both_databases_with! {
    on_both_apis, production_allowing_private =>

    async fn a_private_address_is_accepted_when_allowed(app: TestApp) {
        let admin = app.admin().await;
        let answer = app.post("/admin/webhook-endpoints", Some(&admin.token), json!({"url": "https://10.0.0.1/hook"})).await;
        answer.assert_status(201);
        let plain = app.post("/admin/webhook-endpoints", Some(&admin.token), json!({"url": "http://10.0.0.1/hook"})).await;
        plain.assert_problem(422, "validation_failed");
    }
}

/// The service on `database` as a process of its own, at `port`, with these crash points.
fn service(database: &TestDatabase, config: &Config, port: u16, crash_points: &str) -> KillOnDrop {
    KillOnDrop(
        crate::crash::escrow()
            .arg("serve")
            .env("ESCROW_DATABASE_URL", &database.url)
            .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
            .env("ESCROW_JWT_SECRET", config.jwt_secret())
            .env("ESCROW_JOB_INTERVAL", "50ms")
            .env("ESCROW_CRASH_POINTS", crash_points)
            .spawn()
            .unwrap(),
    )
}

/// Waits until the service at `base` answers.
async fn until_up(base: &str) {
    let started = std::time::Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < PATIENCE,
            "the service at {base} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The service dies right after an event's commit (as it fans the event out, before any
/// attempt): the event is delivered once it is back.
async fn delivered_after_a_crash_right_after_the_commit(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let config = Config::for_database(&database.url);
    let port = free_port();
    let mut doomed = service(&database, &config, port, "webhooks_fanned_out:1");
    let base = format!("http://127.0.0.1:{port}");
    until_up(&base).await;
    let app = TestApp::attach(base, config.clone(), database.alias());
    let admin = app.admin().await;
    let receiver = Receiver::start(|_| Reply::Status(200)).await;
    let (endpoint_id, secret) =
        endpoint(&app, &admin, &receiver.url, json!(["order.created"])).await;
    let buyer = app.buyer().await;
    let seller = app.seller().await;
    let product = app.product(&seller, "재시작", 1_000, 10).await;
    // The process may die before it answers: the event is committed either way, since the
    // crash point is reached only by an event taken from the outbox.
    let _ = app
        .client
        .post(format!("{}/orders", app.base))
        .bearer_auth(&buyer.token)
        .json(&json!({"items": [{"product_id": product, "quantity": 1}], "shipping": crate::escrow_support::shipping()}))
        .send()
        .await;

    let started = std::time::Instant::now();
    while doomed.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < PATIENCE,
            "the crash point was never reached"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        receiver.got().is_empty(),
        "sent before the crash: {:#?}",
        receiver.got()
    );

    let port = free_port();
    let _revived = service(&database, &config, port, "");
    let base = format!("http://127.0.0.1:{port}");
    until_up(&base).await;
    let app = TestApp::attach(base, config, database.alias());
    let deliveries = settled_deliveries(&app, &admin, endpoint_id, 1).await;
    assert_eq!(deliveries[0]["status"], "succeeded", "{deliveries:#?}");
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].json()["type"], "order.created");
    assert_signed(&got[0], &secret);
}

mod delivered_after_a_crash_right_after_the_commit {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::delivered_after_a_crash_right_after_the_commit(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::delivered_after_a_crash_right_after_the_commit(super::Backend::MySql).await;
    }
}
