//! The ledger as an auditor reads it: accounts from balanced journals, checked against the
//! payments table and the gateway; what disagrees is listed, counted and announced. And
//! reconciliation that finds a change at the gateway among thousands of open payments.

use crate::escrow_support::EscrowApp;
use crate::support::{gauge_after, Backend, Member, TestApp};
use serde_json::{json, Value};

/// The divergence gauge after the full check an admin's `GET /admin/ledger` makes.
async fn divergence_gauge(app: &TestApp, admin: &Member, expected: f64) -> Option<f64> {
    gauge_after(app, "escrow_ledger_divergences", expected, || async {
        app.get("/admin/ledger", Some(&admin.token))
            .await
            .assert_status(200);
    })
    .await
}

/// The gauge after a reconciliation round, which checks the payments changed since the last.
async fn divergence_gauge_after_round(app: &TestApp, admin: &Member, expected: f64) -> Option<f64> {
    gauge_after(app, "escrow_ledger_divergences", expected, || async {
        app.post("/admin/reconcile", Some(&admin.token), json!({}))
            .await
            .assert_status(200);
    })
    .await
}

/// Cancels `amount` of a payment at the gateway itself, as its console would.
async fn cancel_at_gateway(app: &TestApp, imp_uid: &str, amount: i64) {
    let token = app.gateway_token().await;
    let answer = app
        .post(
            "/sandbox/portone/payments/cancel",
            Some(&token),
            json!({"imp_uid": imp_uid, "amount": amount, "reason": "from the console"}),
        )
        .await;
    assert_eq!(answer.assert_status(200)["code"], 0, "{:#}", answer.body);
}

async fn sandbox_stats(app: &TestApp) -> Value {
    app.get("/sandbox/portone/_sandbox/stats", None)
        .await
        .assert_status(200)
        .clone()
}

on_both_databases! { on_both_apis =>
    async fn a_corrupted_payment_row_is_listed_counted_and_announced(app: TestApp) {
        let (seller, buyer, admin) = (app.seller().await, app.buyer().await, app.admin().await);
        let paid = app.paid_order(&buyer, &seller, 20_000, 1).await;
        let refund = json!({"reason": "one was broken", "amount": 5_000});
        app.act(Some(&seller), paid.payment_id, "refund", refund).await.assert_status(200);
        let ledger = app.assert_ledger_balanced(&admin).await;
        assert_eq!(ledger["accounts"]["gateway"], -20_000, "{ledger:#}");
        assert_eq!(ledger["accounts"]["escrow"], 15_000, "{ledger:#}");
        assert_eq!(ledger["accounts"]["refunds"], 5_000, "{ledger:#}");
        assert_eq!(divergence_gauge(&app, &admin, 0.0).await, Some(0.0));

        // Someone edits the payment's row behind the ledger's back.
        let corrupt = format!(
            "UPDATE payments SET refunded_amount = 9000 WHERE id = {}",
            paid.payment_id
        );
        app.raw_sql(&corrupt, &corrupt).await;
        let ledger = app.get("/admin/ledger", Some(&admin.token)).await;
        let ledger = ledger.assert_status(200);
        assert_eq!(ledger["balanced"], false, "{ledger:#}");
        let divergences = ledger["divergences"].as_array().unwrap();
        assert_eq!(divergences.len(), 1, "{ledger:#}");
        assert_eq!(divergences[0]["payment_id"], paid.payment_id);
        assert_eq!(divergences[0]["kind"], "journal_mismatch");
        assert!(divergences[0]["found"].as_str().unwrap().contains("refunded 9000"), "{ledger:#}");
        assert_eq!(divergence_gauge(&app, &admin, 1.0).await, Some(1.0));
        // Announced once, however often the ledger is read.
        app.get("/admin/ledger", Some(&admin.token)).await.assert_status(200);
        let announced = app.count("outbox_events WHERE event_type = 'ledger.divergence'").await;
        assert_eq!(announced, 1);

        // Put right, it leaves the list.
        let repair = format!(
            "UPDATE payments SET refunded_amount = 5000 WHERE id = {}",
            paid.payment_id
        );
        app.raw_sql(&repair, &repair).await;
        app.assert_ledger_balanced(&admin).await;
        assert_eq!(divergence_gauge(&app, &admin, 0.0).await, Some(0.0));
    }

    async fn reconciliation_checks_the_payments_changed_since_its_last_round(app: TestApp) {
        let (seller, buyer, admin) = (app.seller().await, app.buyer().await, app.admin().await);
        let untouched = app.paid_order(&buyer, &seller, 20_000, 1).await;
        let changed = app.paid_order(&buyer, &seller, 30_000, 1).await;
        // The first round ever checks every payment, and marks where it got to.
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_status(200);
        assert_eq!(divergence_gauge_after_round(&app, &admin, 0.0).await, Some(0.0));

        // Rows edited behind the ledger's back: one stamped now, as a transition would, the
        // other as last changed an hour ago, before the round's mark (and its overlap).
        let edits = format!(
            "UPDATE payments SET refunded_amount = 1000, updated_at = {} WHERE id = {}",
            chrono_millis(),
            changed.payment_id
        );
        app.raw_sql(&edits, &edits).await;
        let old = format!(
            "UPDATE payments SET refunded_amount = 1000, updated_at = {} WHERE id = {}",
            chrono_millis() - 3_600_000,
            untouched.payment_id
        );
        app.raw_sql(&old, &old).await;
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_status(200);
        assert_eq!(divergence_gauge_after_round(&app, &admin, 1.0).await, Some(1.0));
        let announced = app.count("outbox_events WHERE event_type = 'ledger.divergence'").await;
        assert_eq!(announced, 1, "the changed payment's divergence, found by the round");

        // The full check an admin reads finds the other one too.
        let ledger = app.get("/admin/ledger", Some(&admin.token)).await;
        let divergences = ledger.assert_status(200)["divergences"].as_array().unwrap().clone();
        let mut ids: Vec<i64> = divergences.iter().map(|d| d["payment_id"].as_i64().unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![untouched.payment_id, changed.payment_id], "{divergences:#?}");
    }

    async fn a_refund_at_the_gateway_after_release_is_a_divergence(app: TestApp) {
        let (seller, buyer, admin) = (app.seller().await, app.buyer().await, app.admin().await);
        let paid = app.paid_order(&buyer, &seller, 30_000, 1).await;
        app.ship(&seller, paid.payment_id, "5550001").await;
        app.deliver(&seller, paid.payment_id).await;
        app.confirm(&buyer, paid.payment_id).await;
        app.assert_ledger_balanced(&admin).await;

        // The money went to the seller; then the gateway gives some back to the buyer.
        cancel_at_gateway(&app, &paid.imp_uid, 7_000).await;
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_status(200);
        let ledger = app.get("/admin/ledger", Some(&admin.token)).await;
        let ledger = ledger.assert_status(200);
        let divergences = ledger["divergences"].as_array().unwrap();
        assert_eq!(divergences.len(), 1, "{ledger:#}");
        assert_eq!(divergences[0]["payment_id"], paid.payment_id);
        assert_eq!(divergences[0]["kind"], "gateway_cancelled_more");
        // Our own books still agree with themselves; the disagreement is with the gateway.
        assert_eq!(ledger["balanced"], true, "{ledger:#}");
        assert_eq!(divergence_gauge(&app, &admin, 1.0).await, Some(1.0));
        let announced = app.count("outbox_events WHERE event_type = 'ledger.divergence'").await;
        assert_eq!(announced, 1);
        let status = app.status(paid.payment_id, &admin.token).await;
        assert_eq!(status["refunded_amount"], 0, "what we cannot repair stays as it was");
    }
}

/// How many open payments the reconciliation test makes: more than the old blind spot (the
/// first 1 000 by id) could see past.
const OPEN_PAYMENTS: i64 = 2_500;

/// Inserts `OPEN_PAYMENTS` paid escrow payments straight into the database (their orders,
/// payments and capture journals, as the service would have written them), each paid at the
/// gateway too. Returns the newest payment's id and imp_uid.
async fn many_open_payments(app: &TestApp, buyer: i64, seller: i64) -> (i64, String) {
    use sqlx::Connection;
    let mut db = sqlx::AnyConnection::connect(&app.database.url)
        .await
        .unwrap();
    let now = chrono_millis();
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1000 FROM orders")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let mut newest = (0, String::new());
    let ids: Vec<i64> = (first..first + OPEN_PAYMENTS).collect();
    for chunk in ids.chunks(250) {
        let (mut orders, mut payments, mut postings) = (vec![], vec![], vec![]);
        for &id in chunk {
            let merchant_uid = format!("escrow-{id}-bulk{id}");
            let paid = app
                .post(
                    "/sandbox/portone/_sandbox/payments",
                    None,
                    json!({"merchant_uid": merchant_uid, "amount": 1_000, "skip_prepare_check": true}),
                )
                .await;
            let imp_uid = paid.assert_status(200)["imp_uid"]
                .as_str()
                .unwrap()
                .to_string();
            orders.push(format!(
                "({id}, {buyer}, {seller}, 'paid', 1000, 'r', '010', 'a', '00000', {now}, {now}, {now})"
            ));
            payments.push(format!(
                "({id}, {id}, '{merchant_uid}', '{imp_uid}', 1000, 'paid', 1, 'held', {now}, {now}, {now})"
            ));
            postings.push(format!(
                "('bulk-{id}', {id}, 'capture', 'gateway', -1000, {now}), \
                 ('bulk-{id}', {id}, 'capture', 'escrow', 1000, {now})"
            ));
            newest = (id, imp_uid);
        }
        let statements = [
            format!(
                "INSERT INTO orders (id, buyer_id, seller_id, status, total_amount, receiver_name, \
                 receiver_phone, address, postcode, expires_at, created_at, updated_at) VALUES {}",
                orders.join(", ")
            ),
            format!(
                "INSERT INTO payments (id, order_id, merchant_uid, imp_uid, amount, status, escrow, \
                 escrow_status, paid_at, created_at, updated_at) VALUES {}",
                payments.join(", ")
            ),
            format!(
                "INSERT INTO ledger_postings (journal, payment_id, kind, account, amount, created_at) \
                 VALUES {}",
                postings.join(", ")
            ),
        ];
        for sql in statements {
            sqlx::raw_sql(&sql).execute(&mut db).await.unwrap();
        }
    }
    newest
}

fn chrono_millis() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

async fn reconciliation_finds_a_refund_among_thousands_of_open_payments(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (seller, buyer, admin) = (app.seller().await, app.buyer().await, app.admin().await);
    let (newest, imp_uid) = many_open_payments(&app, buyer.id, seller.id).await;
    app.assert_ledger_balanced(&admin).await;
    // A first round learns where the gateway's lists start.
    app.post("/admin/reconcile", Some(&admin.token), json!({}))
        .await
        .assert_status(200);

    // The newest payment is partly refunded at the gateway, behind the service's back.
    cancel_at_gateway(&app, &imp_uid, 300).await;
    let before = sandbox_stats(&app).await;
    let report = app
        .post("/admin/reconcile", Some(&admin.token), json!({}))
        .await;
    let report = report.assert_status(200);
    assert!(report["repaired"].as_u64().unwrap() >= 1, "{report:#}");
    let after = sandbox_stats(&app).await;

    let status = app.status(newest, &admin.token).await;
    assert_eq!(status["refunded_amount"], 300, "{status:#}");
    assert_eq!(status["status"], "partially_refunded", "{status:#}");
    let refunds = app
        .get(&format!("/payments/{newest}/refunds"), Some(&admin.token))
        .await;
    let refunds = refunds.assert_status(200)["items"].clone();
    assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{refunds:#}");
    assert_eq!(refunds[0]["status"], "succeeded", "{refunds:#}");
    app.assert_ledger_balanced(&admin).await;

    // The open payments were looked up a hundred at a time, not one by one.
    let calls = |stats: &Value, name: &str| stats[name].as_i64().unwrap();
    let batches = calls(&after, "batch_lookup_requests") - calls(&before, "batch_lookup_requests");
    let single = calls(&after, "payment_lookups") - calls(&before, "payment_lookups");
    assert!(
        batches <= OPEN_PAYMENTS / 100 + 1,
        "{batches} batch look-ups"
    );
    assert!(
        single <= 5,
        "{single} single look-ups for {OPEN_PAYMENTS} open payments"
    );
}

on_both_backends!(reconciliation_finds_a_refund_among_thousands_of_open_payments);
