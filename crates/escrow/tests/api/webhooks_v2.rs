//! `POST /webhooks/portone/v2`: PortOne V2's notices, signed as Standard Webhooks say with
//! `PORTONE_WEBHOOK_SECRET`. A bad, missing or stale signature is 401 and changes nothing;
//! a good one is only a hint to look the payment up through the gateway port.

use crate::escrow_support::EscrowApp;
use crate::support::{Answer, TestApp};
use escrow_core::webhooks::signing;
use reqwest::Method;
use serde_json::{json, Value};

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Posts `body` with the Standard Webhooks headers signed by `secret` at `timestamp`
/// (`None`: no signature header at all).
async fn notify(app: &TestApp, body: &Value, secret: Option<&str>, timestamp: i64) -> Answer {
    let text = body.to_string();
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let mut request = app
        .client
        .request(Method::POST, format!("{}/webhooks/portone/v2", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = secret {
        let signature = signing::sign(secret, &id, timestamp, &text).unwrap();
        request = request.header("webhook-signature", signature);
    }
    TestApp::answer(request.body(text).send().await.unwrap()).await
}

on_both_databases! {
    async fn only_a_signed_fresh_v2_notice_is_looked_up(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "모니터", 41_000, 2).await;
        let order_id = app.order(&buyer, product, 1).await;
        let checkout = app.checkout(&buyer, order_id).await;
        // Paid at the gateway, whose own notice goes nowhere: only ours can tell the service.
        let paid = app
            .post(
                "/sandbox/portone/_sandbox/payments",
                None,
                json!({"merchant_uid": checkout.merchant_uid, "amount": checkout.amount, "notice_url": "http://127.0.0.1:9/nowhere"}),
            )
            .await;
        let imp_uid = paid.assert_status(200)["imp_uid"].as_str().unwrap().to_string();
        let notice = json!({
            "type": "Transaction.Paid", "timestamp": "2026-12-05T12:00:00Z",
            "data": {"storeId": app.config.store_id, "paymentId": checkout.merchant_uid, "transactionId": imp_uid},
        });
        let secret = app.config.webhook_secret.clone().unwrap();
        let now = now_secs();

        let refused = [
            ("unsigned", notify(&app, &notice, None, now).await),
            ("another secret", notify(&app, &notice, Some("whsec_c29tZW9uZS1lbHNl"), now).await),
            ("stale", notify(&app, &notice, Some(&secret), now - 301).await),
            ("from the future", notify(&app, &notice, Some(&secret), now + 301).await),
        ];
        for (name, answer) in refused {
            assert_eq!(answer.status, 401, "{name}: {:#}", answer.body);
            answer.assert_problem(401, "unauthorized");
        }
        let tampered = app
            .client
            .request(Method::POST, format!("{}/webhooks/portone/v2", app.base))
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signing::sign(&secret, "msg_1", now, "{}").unwrap())
            .body(notice.to_string())
            .send()
            .await
            .unwrap();
        TestApp::answer(tampered).await.assert_problem(401, "unauthorized");
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "ready", "nothing changed: {status:#}");

        let applied = notify(&app, &notice, Some(&secret), now).await;
        assert_eq!(applied.assert_status(200)["message"], "applied");
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid", "{status:#}");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["imp_uid"], imp_uid);

        // Again (the gateway retries), and a notice about no payment: nothing more.
        let again = notify(&app, &notice, Some(&secret), now).await;
        assert_eq!(again.assert_status(200)["message"], "nothing to change");
        let other = json!({"type": "BillingKey.Issued", "timestamp": "2026-12-05T12:00:00Z", "data": {"billingKey": "b"}});
        assert_eq!(notify(&app, &other, Some(&secret), now).await.assert_status(200)["message"], "nothing to change");
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(crate::escrow_support::transitions(&status, "payment", "ready", "paid"), 1, "{status:#}");
        app.assert_ledger(&admin, 41_000, 0, 41_000, 0).await;
    }
}
