//! Work that happens behind the requests: reconciliation with the gateway after lost
//! messages, background jobs shared by several instances, and domain events on NATS.

use crate::escrow_support::{spawn_custom, EscrowApp};
use crate::support::{free_port, Backend, TestApp, TestDatabase};
use serde_json::{json, Value};
use std::time::Duration;

async fn reconcile(app: &TestApp, token: &str) -> Value {
    let answer = app.post("/admin/reconcile", Some(token), json!({})).await;
    answer.assert_status(200).clone()
}

async fn fault(app: &TestApp, target: &str, mode: &str, count: u32, delay_ms: u64) {
    let body = json!({"target": target, "mode": mode, "count": count, "delay_ms": delay_ms});
    app.post("/sandbox/portone/_sandbox/faults", None, body)
        .await
        .assert_status(200);
}

async fn lost_messages_are_healed_by_reconciliation(backend: Backend) {
    let app = spawn_custom(backend, |c| c.gateway_timeout = Duration::from_millis(500)).await;
    let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
    let product = app.product(&seller, "재고 1", 40_000, 1).await;
    let order_id = app.order(&buyer, product, 1).await;
    let checkout = app.checkout(&buyer, order_id).await;

    // Every webhook delivery is lost and the browser never calls back.
    fault(&app, "webhook", "drop", 10, 0).await;
    let paid = app.sandbox_pay(&checkout, checkout.amount, false).await;
    let imp_uid = paid["imp_uid"].as_str().unwrap().to_string();
    let status = app.status(checkout.payment_id, &buyer.token).await;
    assert_eq!(status["status"], "ready");

    let report = reconcile(&app, &admin.token).await;
    assert!(report["checked"].as_u64().unwrap() >= 1, "{report:#}");
    assert_eq!(report["repaired"], 1, "{report:#}");
    let status = app.status(checkout.payment_id, &buyer.token).await;
    assert_eq!(status["status"], "paid");
    assert_eq!(status["escrow_status"], "held");
    assert_eq!(status["imp_uid"], imp_uid.as_str());
    // Nothing left to repair: a second run changes nothing.
    assert_eq!(reconcile(&app, &admin.token).await["repaired"], 0);

    // The gateway does the refund but its answer never arrives in time.
    fault(&app, "api", "timeout", 1, 1500).await;
    let refund = json!({"reason": "partial", "amount": 15_000});
    let path = format!("/payments/{}/refund", checkout.payment_id);
    app.post(&path, Some(&seller.token), refund.clone())
        .await
        .assert_problem(502, "gateway_error");
    let status = app.status(checkout.payment_id, &buyer.token).await;
    assert_eq!(
        status["refunded_amount"], 0,
        "nothing recorded that we cannot prove"
    );
    // The held request finishes at the gateway a little later.
    app.wait_for_gateway(&imp_uid, "the refund done", |p| {
        p["cancel_amount"] == 15_000
    })
    .await;

    // Until it is settled, the refund is listed as requested and holds its amount.
    let listed = app
        .get(
            &format!("/payments/{}/refunds", checkout.payment_id),
            Some(&seller.token),
        )
        .await;
    assert_eq!(listed.assert_status(200)["items"][0]["status"], "requested");
    // The seller retries the same refund: the open one is settled from the gateway's record
    // first, and the retry answers it instead of refunding again.
    let retry = app.post(&path, Some(&seller.token), refund).await;
    let retry = retry.assert_status(200);
    assert_eq!(retry["refund"]["status"], "succeeded", "{retry:#}");
    assert_eq!(retry["refunded_amount"], 15_000, "{retry:#}");
    let status = app.status(checkout.payment_id, &buyer.token).await;
    assert_eq!(status["refunded_amount"], 15_000);
    assert_eq!(status["status"], "partially_refunded");
    assert_eq!(app.gateway_payment(&imp_uid).await["cancel_amount"], 15_000);
    app.assert_ledger(&admin, 40_000, 15_000, 25_000, 0).await;
}

/// Two instances on one MariaDB database, sharing one gateway, both running the jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_do_a_job_twice() {
    let database = TestDatabase::create(Backend::MySql).await;
    let alias = database.alias();
    let fast = |config: &mut escrow::config::Config| {
        config.order_ttl = Duration::from_millis(400);
        config.auto_confirm_after = Duration::from_millis(300);
        config.job_interval = Duration::from_millis(30);
    };
    let mut first_config = escrow::config::Config::for_database(&database.url);
    fast(&mut first_config);
    let first = TestApp::spawn_with(first_config.clone(), database).await;
    let mut second_config = first_config;
    second_config.portone_api_url = Some(format!("{}/sandbox/portone", first.base));
    let second = TestApp::spawn_with(second_config, alias).await;

    let (buyer, seller, admin) = (
        first.buyer().await,
        first.seller().await,
        first.admin().await,
    );
    let product = first.product(&seller, "두 인스턴스", 10_000, 100).await;

    // Paid and delivered orders, confirmed automatically by whichever instance gets there.
    let mut payments = Vec::new();
    for _ in 0..4 {
        let order_id = first.order(&buyer, product, 1).await;
        let checkout = first.checkout(&buyer, order_id).await;
        first.pay(&buyer, &checkout).await;
        first.ship(&seller, checkout.payment_id, "1111").await;
        second.deliver(&seller, checkout.payment_id).await;
        payments.push(checkout.payment_id);
    }
    // Unpaid orders, expired by whichever instance gets there.
    let mut unpaid = Vec::new();
    for _ in 0..10 {
        unpaid.push(second.order(&buyer, product, 2).await);
    }
    for payment_id in &payments {
        let status = first
            .wait_for_payment(*payment_id, &buyer.token, "released", |s| {
                s["escrow_status"] == "released"
            })
            .await;
        let releases = status["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["entity"] == "escrow" && h["to"] == "released")
            .count();
        assert_eq!(releases, 1, "{status:#}");
    }
    for order_id in &unpaid {
        first
            .wait_for_order(*order_id, &buyer.token, "expired", |o| {
                o["status"] == "expired"
            })
            .await;
    }
    // Let both instances run a few more rounds over the same rows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        first.stock(product).await,
        96,
        "each expired order gave its stock back once"
    );
    assert_eq!(first.count("settlements").await, 4);
    let expiries = first
        .count("state_history WHERE entity = 'order' AND to_state = 'expired'")
        .await;
    assert_eq!(expiries, 10);
    first.assert_ledger(&admin, 40_000, 0, 0, 40_000).await;
    let settlements = second.get("/settlements", Some(&seller.token)).await;
    assert_eq!(settlements.assert_status(200)["total_gross"], 40_000);
}

fn nats_url() -> String {
    std::env::var("ESCROW_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Reads the events of `event_type` in the service's JetStream stream from its start, each
/// acknowledged and handed to `take` with its `Nats-Msg-Id`, until `take` says it has
/// what it waited for or `within` has passed.
async fn read_events(
    nats_url: &str,
    event_type: &str,
    within: Duration,
    mut take: impl FnMut(Value, Option<String>) -> bool,
) {
    let client = async_nats::connect(nats_url)
        .await
        .expect("NATS must run on 127.0.0.1:4222 (see README)");
    let stream = async_nats::jetstream::new(client)
        .get_stream(escrow::events::STREAM)
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("{}{event_type}", escrow::events::SUBJECT_PREFIX),
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let next = tokio::time::timeout(
            Duration::from_secs(2),
            futures::StreamExt::next(&mut messages),
        )
        .await;
        let Ok(Some(Ok(message))) = next else {
            continue;
        };
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        let _ = message.ack().await;
        if take(event, id) {
            return;
        }
    }
}

/// Domain events reach NATS JetStream with a stable id, and the outbox drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_events_are_published_to_jetstream() {
    let nats_url = nats_url();
    let app = spawn_custom(Backend::Sqlite, |c| {
        c.nats_url = Some(nats_url.clone());
        c.job_interval = Duration::from_millis(50);
    })
    .await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    let paid = app.paid_order(&buyer, &seller, 12_000, 1).await;

    let mut found = None;
    read_events(
        &nats_url,
        "payment.paid",
        Duration::from_secs(15),
        |event, id_header| {
            if event["order_id"] == paid.order_id {
                found = Some((event, id_header));
            }
            found.is_some()
        },
    )
    .await;
    let (event, id_header) = found.expect("the payment.paid event was published");
    assert_eq!(event["type"], "payment.paid");
    assert_eq!(event["data"]["amount"], 12_000);
    assert_eq!(id_header.as_deref(), event["event_id"].as_str());
    // Everything written so far is published (order.created and payment.paid at least).
    let backlog = app
        .count_reaches("outbox_events WHERE published_at IS NULL", 0)
        .await;
    assert_eq!(backlog, 0);
    assert!(app.count("outbox_events").await >= 2);
}

/// An event goes out when the transaction that wrote it commits, not on the relay's next
/// tick: with that tick an hour away, a second payment's events are published all the
/// same (the first payment's may have gone out in the round the relay runs at its start).
async fn events_are_published_as_they_commit(backend: Backend) {
    let nats_url = nats_url();
    let app = spawn_custom(backend, |c| {
        c.nats_url = Some(nats_url.clone());
        c.job_interval = Duration::from_secs(3_600);
    })
    .await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    let unpublished = "outbox_events WHERE published_at IS NULL";
    app.paid_order(&buyer, &seller, 12_000, 1).await;
    assert_eq!(app.count_reaches(unpublished, 0).await, 0);

    let before = app.count("outbox_events").await;
    app.paid_order(&buyer, &seller, 13_000, 1).await;
    assert!(
        app.count("outbox_events").await >= before + 2,
        "order.created, payment.paid"
    );
    // Marked published only once JetStream acknowledged them.
    assert_eq!(app.count_reaches(unpublished, 0).await, 0);
}

/// A NATS server of the test's own on `port`, stopped (and its store removed) on drop.
struct NatsServer {
    child: std::process::Child,
    store: std::path::PathBuf,
}

impl NatsServer {
    fn start(port: u16) -> Self {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let store = std::env::temp_dir().join(format!("escrow-nats-{}", uuid::Uuid::new_v4()));
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server must be installed (see README)");
        Self { child, store }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// With NATS down when it starts, the service serves all the same and its events wait in
/// the outbox; once NATS is up they are published. When NATS goes away again and comes
/// back without its store, the relay reconnects, makes the stream again, and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_outbox_while_nats_is_away() {
    let port = free_port();
    let app = spawn_custom(Backend::Sqlite, |c| {
        c.nats_url = Some(format!("nats://127.0.0.1:{port}"));
        c.job_interval = Duration::from_millis(50);
    })
    .await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    app.paid_order(&buyer, &seller, 12_000, 1).await;
    let unpublished = "outbox_events WHERE published_at IS NULL";
    assert!(
        app.count(unpublished).await >= 2,
        "order.created and payment.paid wait"
    );

    let nats = NatsServer::start(port);
    assert_eq!(app.count_reaches(unpublished, 0).await, 0);

    drop(nats);
    app.paid_order(&buyer, &seller, 13_000, 1).await;
    assert!(app.count(unpublished).await >= 2, "the new events wait");
    let _nats = NatsServer::start(port);
    assert_eq!(app.count_reaches(unpublished, 0).await, 0);
}

/// JetStream keeps events for `ESCROW_NATS_MAX_AGE`: the relay gives the stream that
/// limit, also a stream that an older version made without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_keeps_events_for_the_configured_age() {
    let port = free_port();
    let _nats = NatsServer::start(port);
    let url = format!("nats://127.0.0.1:{port}");
    let mut client = None;
    for _ in 0..100 {
        if let Ok(connected) = async_nats::connect(&url).await {
            client = Some(connected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jetstream = async_nats::jetstream::new(client.expect("the test's NATS server started"));
    let unlimited = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: escrow::events::STREAM.into(),
            subjects: vec![format!("{}>", escrow::events::SUBJECT_PREFIX)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(unlimited.cached_info().config.max_age, Duration::ZERO);

    let app = spawn_custom(Backend::Sqlite, |c| {
        c.nats_url = Some(url.clone());
        c.nats_max_age = Duration::from_secs(3_600);
    })
    .await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    app.paid_order(&buyer, &seller, 12_000, 1).await;
    let unpublished = "outbox_events WHERE published_at IS NULL";
    assert_eq!(app.count_reaches(unpublished, 0).await, 0);
    let mut stream = jetstream.get_stream(escrow::events::STREAM).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(3_600));
    assert!(
        info.state.messages >= 2,
        "order.created and payment.paid are kept"
    );
}

/// A backlog of many batches (events written while NATS was away, or faster than a batch
/// per tick) is published in full, each event once and in the order written, and leaves
/// the outbox.
async fn a_backlog_of_events_is_published_in_order(backend: Backend) {
    const EVENTS: usize = 3_000;
    let nats_url = nats_url();
    let app = spawn_custom(backend, |c| c.nats_url = Some(nats_url.clone())).await;
    // A subject of this test's own on the shared stream.
    let event_type = format!("test.backlog_{}", uuid::Uuid::new_v4().simple());
    let event_ids: Vec<String> = (0..EVENTS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let rows: Vec<String> = event_ids
        .iter()
        .enumerate()
        .map(|(n, id)| format!("('{id}', '{event_type}', 0, '{{\"n\":{n}}}', 0)"))
        .collect();
    let insert = format!(
        "INSERT INTO outbox_events (event_id, event_type, order_id, payload, created_at) VALUES {}",
        rows.join(", ")
    );
    app.raw_sql(&insert, &insert).await;

    let mut received = Vec::new();
    // Generous: the relay that claimed a batch of 100 per 1-s tick needed 30 s for these.
    read_events(&nats_url, &event_type, Duration::from_secs(20), |_, id| {
        received.push(id.unwrap_or_default());
        received.len() == EVENTS
    })
    .await;
    assert_eq!(received.len(), EVENTS, "events published of the backlog");
    assert!(
        received == event_ids,
        "published once each, in the order written"
    );

    let unpublished =
        format!("outbox_events WHERE event_type = '{event_type}' AND published_at IS NULL");
    let backlog = app.count_reaches(&unpublished, 0).await;
    assert_eq!(backlog, 0, "every published event is marked so");
}

/// Published events older than `ESCROW_OUTBOX_RETENTION` leave the outbox, more than one
/// sweep's batch of them; newer ones and unpublished ones, however old, stay.
async fn old_published_events_leave_the_outbox(backend: Backend) {
    const OLD: usize = 2_500;
    let app = spawn_custom(backend, |c| {
        c.outbox_retention = Duration::from_secs(86_400);
        c.job_interval = Duration::from_millis(50);
    })
    .await;
    let now = escrow_store::now_millis();
    let two_days_ago = now - 2 * 86_400_000;
    let event_type = format!("test.retention_{}", uuid::Uuid::new_v4().simple());
    let row = |published_at: &str| {
        let id = uuid::Uuid::new_v4();
        format!("('{id}', '{event_type}', 0, '{{}}', {two_days_ago}, {published_at})")
    };
    let mut rows: Vec<String> = (0..OLD)
        .map(|n| row(&(two_days_ago + n as i64).to_string()))
        .collect();
    rows.extend((0..5).map(|_| row(&(now - 3_600_000).to_string())));
    rows.extend((0..7).map(|_| row("NULL")));
    let insert = format!(
        "INSERT INTO outbox_events (event_id, event_type, order_id, payload, created_at, published_at) VALUES {}",
        rows.join(", ")
    );
    app.raw_sql(&insert, &insert).await;

    let of_this_test = format!("outbox_events WHERE event_type = '{event_type}'");
    let left = app.count_reaches(&of_this_test, 12).await;
    assert_eq!(left, 12, "the old published events are deleted");
    let unpublished = format!("{of_this_test} AND published_at IS NULL");
    assert_eq!(app.count(&unpublished).await, 7, "unpublished events stay");
}

/// Idempotency keys older than their 24-hour lifetime are forgotten, more than one sweep's
/// batch of them; younger ones stay.
async fn old_idempotency_keys_are_forgotten(backend: Backend) {
    let app = spawn_custom(backend, |c| c.job_interval = Duration::from_millis(50)).await;
    let now = escrow_store::now_millis();
    let user = 7;
    let row = |n: usize, created_at: i64| {
        format!("({user}, 'key-{n}', 'hash', 200, '{{}}', {created_at})")
    };
    let mut rows: Vec<String> = (0..1_500)
        .map(|n| row(n, now - 2 * 86_400_000 + n as i64))
        .collect();
    rows.extend((1_500..1_503).map(|n| row(n, now - 3_600_000)));
    let insert = format!(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status_code, response_body, created_at) VALUES {}",
        rows.join(", ")
    );
    app.raw_sql(&insert, &insert).await;
    let left = app
        .count_reaches(&format!("idempotency_keys WHERE user_id = {user}"), 3)
        .await;
    assert_eq!(left, 3, "only the keys younger than a day stay");
}

async fn escrow_switched_off_in_the_browser_is_refused(backend: Backend) {
    let app = spawn_custom(backend, |_| {}).await;
    let (buyer, seller) = (app.buyer().await, app.seller().await);
    let product = app.product(&seller, "에스크로 필수", 30_000, 2).await;
    let order_id = app.order(&buyer, product, 1).await;
    let checkout = app.checkout(&buyer, order_id).await;
    // Right amount, but the browser asked the gateway for a payment without escrow.
    let body =
        json!({"merchant_uid": checkout.merchant_uid, "amount": checkout.amount, "escrow": false});
    let paid = app
        .post("/sandbox/portone/_sandbox/payments", None, body)
        .await;
    let imp_uid = paid.assert_status(200)["imp_uid"]
        .as_str()
        .unwrap()
        .to_string();
    app.complete(&buyer, checkout.payment_id, &imp_uid)
        .await
        .assert_problem(409, "amount_mismatch");
    let status = app.status(checkout.payment_id, &buyer.token).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["order_status"], "cancelled");
    assert_eq!(app.stock(product).await, 2);
    app.wait_for_gateway(&imp_uid, "the refused payment cancelled", |p| {
        p["status"] == "cancelled"
    })
    .await;
}

on_both_backends!(
    lost_messages_are_healed_by_reconciliation,
    events_are_published_as_they_commit,
    a_backlog_of_events_is_published_in_order,
    old_published_events_leave_the_outbox,
    old_idempotency_keys_are_forgotten,
    escrow_switched_off_in_the_browser_is_refused,
);
