//! Returns and exchanges (api.md §10) through the HTTP API on both databases: a return
//! refunded in full or less a fee, an exchange shipped again and confirmed, a rejection
//! decided by an admin, both timers (a lapse, the seller's silence), and every wrong actor,
//! state and field. Each scenario ends with the money agreeing with the gateway and the
//! ledger balanced.

use crate::escrow_support::{moves, on_both_databases_with, pairs, EscrowApp, PaidOrder};
use crate::money::{assert_money_agrees_with_gateway, Payment, Surface, Viewers};
use crate::support::{Member, TestApp};
use escrow::config::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// A platform fee, so that a return fee's release shows it is released as any release.
fn with_fee(config: &mut Config) {
    config.fee_bps = 300;
}

/// Returns lapse 300 ms after they are asked for; the confirmation period is long enough
/// for the request to come first on a slow machine.
fn quick_lapse(config: &mut Config) {
    config.auto_confirm_after = Duration::from_secs(3);
    config.return_ship_within = Duration::from_millis(300);
    config.job_interval = Duration::from_millis(50);
}

/// A seller's silence is acceptance 300 ms after receipt.
fn quick_inspection(config: &mut Config) {
    config.return_inspection = Duration::from_millis(300);
    config.job_interval = Duration::from_millis(50);
}

pub(crate) fn ask(kind: &str, reason_code: &str) -> Value {
    json!({"kind": kind, "reason_code": reason_code, "reason": "받아 보니 다릅니다"})
}

pub(crate) fn parcel(invoice: &str) -> Value {
    json!({"courier": "cjgls", "invoice_number": invoice})
}

/// A paid order of `price`, shipped and delivered.
async fn delivered(app: &TestApp, buyer: &Member, seller: &Member, price: i64) -> PaidOrder {
    let paid = app.paid_order(buyer, seller, price, 1).await;
    app.ship(seller, paid.payment_id, "1000001").await;
    app.deliver(seller, paid.payment_id).await;
    paid
}

/// `POST /payments/{id}/{action}`, asserting 200; the status afterwards.
async fn step(app: &TestApp, by: &Member, id: i64, action: &str, body: Value) -> Value {
    let answer = app.act(Some(by), id, action, body).await;
    answer.assert_status(200);
    app.status(id, &by.token).await
}

/// Requested, sent back and received: the seller's decision is next.
async fn received(app: &TestApp, buyer: &Member, seller: &Member, id: i64, asked: Value) {
    step(app, buyer, id, "return", asked).await;
    step(app, buyer, id, "return/shipment", parcel("7000007")).await;
    let status = step(app, seller, id, "return/received", json!({})).await;
    assert_eq!(status["order_status"], "return_received", "{status:#}");
}

async fn money_agrees(
    app: &TestApp,
    buyer: &Member,
    seller: &Member,
    admin: &Member,
    paid: &PaidOrder,
) {
    let viewers = Viewers {
        buyer: &buyer.token,
        seller: &seller.token,
        admin: &admin.token,
    };
    let payment = Payment {
        id: paid.payment_id,
        imp_uid: paid.imp_uid.clone(),
        amount: paid.amount,
    };
    assert_money_agrees_with_gateway(&Surface::of(app), &viewers, &payment, &[]).await;
    app.assert_ledger_balanced(admin).await;
}

async fn events(app: &TestApp, order_id: i64, kind: &str) -> i64 {
    app.count(&format!(
        "outbox_events WHERE order_id = {order_id} AND event_type = '{kind}'"
    ))
    .await
}

/// Milliseconds of an RFC 3339 time the API wrote.
fn millis(text: &Value) -> i128 {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {text}"));
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    at.unix_timestamp_nanos() / 1_000_000
}

on_both_databases! { on_both_apis =>
    async fn a_return_is_refunded_in_full(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let paid = delivered(&app, &buyer, &seller, 38_000).await;
        let id = paid.payment_id;

        let status = step(&app, &buyer, id, "return", ask("return", "defective")).await;
        assert_eq!(status["order_status"], "return_requested", "{status:#}");
        let ret = &status["return"];
        assert_eq!((ret["kind"].as_str(), ret["reason_code"].as_str()), (Some("return"), Some("defective")), "{ret:#}");
        assert!(ret["ship_by"].is_string() && ret["outcome"].is_null(), "{ret:#}");

        let status = step(&app, &buyer, id, "return/shipment", parcel("7000007")).await;
        assert_eq!(status["order_status"], "return_shipping");
        assert_eq!((status["return"]["courier"].as_str(), status["return"]["invoice_number"].as_str()), (Some("CJGLS"), Some("7000007")));
        // A second call corrects the parcel's details.
        let status = step(&app, &buyer, id, "return/shipment", parcel("7000008")).await;
        assert_eq!(status["return"]["invoice_number"], "7000008");

        let status = step(&app, &seller, id, "return/received", json!({})).await;
        assert_eq!(status["order_status"], "return_received");
        assert!(status["return"]["inspect_by"].is_string(), "{status:#}");

        let status = step(&app, &seller, id, "return/accept", json!({})).await;
        assert_eq!((status["order_status"].as_str(), status["escrow_status"].as_str(), status["status"].as_str()), (Some("returned"), Some("returned"), Some("refunded")), "{status:#}");
        assert_eq!(status["refunded_amount"], 38_000);
        assert_eq!((status["return"]["outcome"].as_str(), status["return"]["return_fee"].as_i64()), (Some("accepted"), Some(0)));
        assert_eq!(status["refunds"][0]["status"], "succeeded", "{status:#}");
        assert_eq!(
            moves(&status, "order"),
            pairs(&[
                ("pending_payment", "paid"), ("paid", "shipping"), ("shipping", "delivered"), ("delivered", "return_requested"),
                ("return_requested", "return_shipping"), ("return_shipping", "return_received"), ("return_received", "returned"),
            ])
        );
        assert_eq!(moves(&status, "escrow"), pairs(&[("pending", "held"), ("held", "returned")]));
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 38_000);
        for kind in ["return.requested", "return.shipped", "return.received", "return.accepted", "payment.refunded"] {
            assert_eq!(events(&app, paid.order_id, kind).await, 1, "{kind}");
        }
        // A retried accept changes nothing; the order is final.
        step(&app, &seller, id, "return/accept", json!({})).await;
        app.act(Some(&buyer), id, "return", ask("return", "defective")).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), id, "confirm", json!({})).await.assert_problem(409, "invalid_state");
        app.assert_ledger(&admin, 38_000, 38_000, 0, 0).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;
    }

    async fn an_exchange_is_shipped_again_and_confirmed(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let paid = delivered(&app, &buyer, &seller, 21_000).await;
        let id = paid.payment_id;
        received(&app, &buyer, &seller, id, ask("exchange", "wrong_item")).await;
        // An exchange keeps no fee.
        let fee = app.act(Some(&seller), id, "return/accept", json!({"return_fee": 1_000})).await;
        fee.assert_problem(422, "validation_failed");
        assert_eq!(fee.body["errors"][0]["field"], "return_fee", "{:#}", fee.body);

        let status = step(&app, &seller, id, "return/accept", json!({})).await;
        assert_eq!((status["order_status"].as_str(), status["escrow_status"].as_str()), (Some("paid"), Some("held")), "{status:#}");
        assert!(status["shipment"].is_null(), "the new parcel takes the shipment's place: {status:#}");
        assert_eq!(status["refunded_amount"], 0);

        app.ship(&seller, id, "2000002").await;
        app.deliver(&seller, id).await;
        let status = app.status(id, &buyer.token).await;
        assert_eq!(status["order_status"], "delivered");
        assert_eq!(status["shipment"]["invoice_number"], "2000002");
        assert!(status["auto_confirm_at"].is_string(), "a new inspection period: {status:#}");
        app.confirm(&buyer, id).await;
        let status = app.status(id, &buyer.token).await;
        assert_eq!((status["order_status"].as_str(), status["escrow_status"].as_str()), (Some("confirmed"), Some("released")));
        let orders = moves(&status, "order");
        assert_eq!(orders.iter().filter(|(_, to)| to == "delivered").count(), 2, "{orders:?}");
        assert!(orders.contains(&("return_received".into(), "paid".into())), "{orders:?}");
        app.assert_ledger(&admin, 21_000, 0, 0, 21_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;
    }

    async fn a_rejected_return_is_decided_by_an_admin(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let refunded = delivered(&app, &buyer, &seller, 15_000).await;
        received(&app, &buyer, &seller, refunded.payment_id, ask("return", "not_as_described")).await;
        let status = step(&app, &seller, refunded.payment_id, "return/reject", json!({"reason": "사용 흔적이 있습니다"})).await;
        assert_eq!(status["order_status"], "disputed", "{status:#}");
        assert_eq!(status["return"]["outcome"], "rejected");
        assert_eq!(events(&app, refunded.order_id, "return.rejected").await, 1);
        // The buyer cannot confirm a disputed order; the seller cannot accept a closed return.
        app.act(Some(&seller), refunded.payment_id, "return/accept", json!({})).await.assert_problem(409, "invalid_state");
        let listed = app.get("/admin/disputes", Some(&admin.token)).await;
        assert!(listed.assert_status(200).to_string().contains(&format!("{}", refunded.order_id)), "{:#}", listed.body);
        step(&app, &admin, refunded.payment_id, "resolve", json!({"outcome": "refund"})).await;
        let status = app.status(refunded.payment_id, &buyer.token).await;
        assert_eq!((status["order_status"].as_str(), status["escrow_status"].as_str()), (Some("refunded"), Some("returned")), "{status:#}");

        // Rejected before it was even sent back, and released by the admin.
        let released = delivered(&app, &buyer, &seller, 9_000).await;
        step(&app, &buyer, released.payment_id, "return", ask("return", "changed_mind")).await;
        step(&app, &seller, released.payment_id, "return/reject", json!({"reason": "주문 제작 상품"})).await;
        step(&app, &admin, released.payment_id, "resolve", json!({"outcome": "release"})).await;
        let status = app.status(released.payment_id, &buyer.token).await;
        assert_eq!(status["escrow_status"], "released", "{status:#}");
        app.assert_ledger(&admin, 24_000, 15_000, 0, 9_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &refunded).await;
        money_agrees(&app, &buyer, &seller, &admin, &released).await;
    }

    async fn wrong_actors_states_and_fields_are_refused(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let (other_buyer, other_seller) = (app.buyer().await, app.seller().await);
        let paid = delivered(&app, &buyer, &seller, 12_000).await;
        let id = paid.payment_id;
        let calls: [(&str, Value, &Member); 5] = [
            ("return", ask("return", "defective"), &buyer),
            ("return/shipment", parcel("3000003"), &buyer),
            ("return/received", json!({}), &seller),
            ("return/accept", json!({}), &seller),
            ("return/reject", json!({"reason": "r"}), &seller),
        ];
        // Every step by everyone else: 403, and nothing changes.
        for (action, body, allowed) in &calls {
            for who in [&buyer, &seller, &admin, &other_buyer, &other_seller] {
                if who.id == allowed.id {
                    continue;
                }
                app.act(Some(who), id, action, body.clone()).await.assert_problem(403, "forbidden");
            }
            app.act(None, id, action, body.clone()).await.assert_problem(401, "unauthorized");
        }
        // Every step but the request, before a return is asked for: 409.
        for (action, body, by) in &calls[1..] {
            app.act(Some(by), id, action, body.clone()).await.assert_problem(409, "invalid_state");
        }
        // Bad fields: 422 naming them; malformed JSON: 400.
        for (body, field) in [
            (json!({"kind": "refund", "reason_code": "defective", "reason": "r"}), "kind"),
            (json!({"kind": "return", "reason_code": "bored", "reason": "r"}), "reason_code"),
            (json!({"kind": "return", "reason_code": "defective", "reason": " "}), "reason"),
            (json!({"kind": "return", "reason_code": "defective", "reason": "r".repeat(501)}), "reason"),
        ] {
            let answer = app.act(Some(&buyer), id, "return", body).await;
            answer.assert_problem(422, "validation_failed");
            assert_eq!(answer.body["errors"][0]["field"], field, "{:#}", answer.body);
        }
        let wrong_type = app.act(Some(&buyer), id, "return", json!({"kind": 1, "reason_code": "defective", "reason": "r"})).await;
        wrong_type.assert_problem(422, "validation_failed");
        let huge = app.act(Some(&buyer), id, "return", json!({"kind": "return", "reason_code": "defective", "reason": "가".repeat(100_000)})).await;
        assert!(huge.status.is_client_error(), "{:#}", huge.body);
        let path = format!("/payments/{id}/return");
        app.raw(reqwest::Method::POST, &path, Some(&buyer.token), "application/json", "{").await.assert_problem(400, "malformed_json");
        assert_eq!(app.count("returns").await, 0, "nothing half-written");
        assert_eq!(app.status(id, &buyer.token).await["order_status"], "delivered");

        step(&app, &buyer, id, "return", ask("return", "changed_mind")).await;
        // A return open: no second one, no confirmation, no dispute, no receipt before it is sent.
        app.act(Some(&buyer), id, "return", ask("exchange", "defective")).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), id, "confirm", json!({})).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), id, "dispute", json!({"reason": "r"})).await.assert_problem(409, "invalid_state");
        app.act(Some(&seller), id, "return/received", json!({})).await.assert_problem(409, "invalid_state");
        app.act(Some(&seller), id, "return/accept", json!({})).await.assert_problem(409, "invalid_state");
        // Nor does the seller end it by marking the order delivered or shipping again.
        app.act(Some(&seller), id, "delivered", json!({})).await.assert_problem(409, "invalid_state");
        app.act(Some(&seller), id, "shipment", parcel("3000004")).await.assert_problem(409, "invalid_state");
        for (body, field) in [
            (json!({"courier": "FEDEX", "invoice_number": "1"}), "courier"),
            (json!({"courier": "CJGLS", "invoice_number": "12 34"}), "invoice_number"),
            (json!({"courier": "CJGLS", "invoice_number": ""}), "invoice_number"),
        ] {
            let answer = app.act(Some(&buyer), id, "return/shipment", body).await;
            answer.assert_problem(422, "validation_failed");
            assert_eq!(answer.body["errors"][0]["field"], field, "{:#}", answer.body);
        }
        step(&app, &buyer, id, "return/shipment", parcel("3000003")).await;
        app.act(Some(&seller), id, "return/reject", json!({"reason": ""})).await.assert_problem(422, "validation_failed");
        step(&app, &seller, id, "return/received", json!({})).await;
        // The fee: a won amount, within the limit and what was paid; the body JSON.
        for fee in [json!(-1), json!(6_001), json!("1000"), json!(10.5), json!(1e300)] {
            let answer = app.act(Some(&seller), id, "return/accept", json!({"return_fee": fee})).await;
            answer.assert_problem(422, "validation_failed");
        }
        let accept = format!("/payments/{id}/return/accept");
        for (body, status, code) in [("{", 400, "malformed_json"), ("[]", 422, "validation_failed"), (r#"{"return_fee": 99999999999999999999999}"#, 422, "validation_failed")] {
            let answer = app.raw(reqwest::Method::POST, &accept, Some(&seller.token), "application/json", body).await;
            answer.assert_problem(status, code);
        }
        let status = app.status(id, &buyer.token).await;
        assert_eq!((status["order_status"].as_str(), status["refunded_amount"].as_i64()), (Some("return_received"), Some(0)), "nothing half-written: {status:#}");

        // A return before delivery, of an unpaid or an undelivered order: 409.
        let shipped = app.paid_order(&buyer, &seller, 5_000, 1).await;
        app.act(Some(&buyer), shipped.payment_id, "return", ask("return", "defective")).await.assert_problem(409, "invalid_state");
        app.ship(&seller, shipped.payment_id, "4000004").await;
        app.act(Some(&buyer), shipped.payment_id, "return", ask("return", "defective")).await.assert_problem(409, "invalid_state");
        // After release: 409.
        app.deliver(&seller, shipped.payment_id).await;
        app.confirm(&buyer, shipped.payment_id).await;
        app.act(Some(&buyer), shipped.payment_id, "return", ask("return", "defective")).await.assert_problem(409, "invalid_state");
        app.assert_ledger(&admin, 17_000, 0, 12_000, 5_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;
        money_agrees(&app, &buyer, &seller, &admin, &shipped).await;
    }
}

on_both_databases_with! { on_both_apis, with_fee =>
    async fn a_changed_mind_return_keeps_a_fee(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let paid = delivered(&app, &buyer, &seller, 30_000).await;
        let id = paid.payment_id;
        received(&app, &buyer, &seller, id, ask("return", "changed_mind")).await;
        let status = step(&app, &seller, id, "return/accept", json!({"return_fee": 5_000})).await;
        assert_eq!(
            (status["order_status"].as_str(), status["escrow_status"].as_str(), status["status"].as_str()),
            (Some("returned"), Some("returned"), Some("partially_refunded")),
            "{status:#}"
        );
        assert_eq!((status["refunded_amount"].as_i64(), status["released_amount"].as_i64()), (Some(25_000), Some(5_000)));
        assert_eq!(status["return"]["return_fee"], 5_000);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 25_000);
        // The fee is released as a release is: 3 % to the platform (150) and its VAT (15).
        let settlements = app.get("/settlements", Some(&seller.token)).await;
        let line = settlements.assert_status(200)["items"][0].clone();
        assert_eq!(
            (line["payment_id"].as_i64(), line["gross_amount"].as_i64(), line["fee_amount"].as_i64(), line["net_amount"].as_i64()),
            (Some(id), Some(5_000), Some(150), Some(4_835)),
            "{line:#}"
        );
        app.assert_ledger(&admin, 30_000, 25_000, 0, 5_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;

        // No fee but for a buyer who changed their mind, and never more than what is left.
        let defective = delivered(&app, &buyer, &seller, 4_000).await;
        received(&app, &buyer, &seller, defective.payment_id, ask("return", "defective")).await;
        let answer = app.act(Some(&seller), defective.payment_id, "return/accept", json!({"return_fee": 1_000})).await;
        answer.assert_problem(422, "validation_failed");
        let small = delivered(&app, &buyer, &seller, 4_000).await;
        received(&app, &buyer, &seller, small.payment_id, ask("return", "changed_mind")).await;
        let answer = app.act(Some(&seller), small.payment_id, "return/accept", json!({"return_fee": 4_001})).await;
        answer.assert_problem(422, "validation_failed");
        // The whole of a small payment may be kept: nothing is refunded.
        step(&app, &seller, small.payment_id, "return/accept", json!({"return_fee": 4_000})).await;
        let status = app.status(small.payment_id, &buyer.token).await;
        assert_eq!((status["order_status"].as_str(), status["released_amount"].as_i64(), status["refunded_amount"].as_i64()), (Some("returned"), Some(4_000), Some(0)), "{status:#}");
        step(&app, &seller, defective.payment_id, "return/accept", json!({})).await;
        app.assert_ledger(&admin, 38_000, 29_000, 0, 9_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &defective).await;
        money_agrees(&app, &buyer, &seller, &admin, &small).await;
    }
}

on_both_databases_with! { on_both_apis, quick_lapse =>
    async fn a_return_not_sent_back_lapses_and_confirmation_resumes(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let paid = delivered(&app, &buyer, &seller, 17_000).await;
        let id = paid.payment_id;
        let due = app.status(id, &buyer.token).await["auto_confirm_at"].clone();
        let asked = step(&app, &buyer, id, "return", ask("exchange", "defective")).await;
        assert_eq!(asked["auto_confirm_at"], due, "the deadline is kept while the return is open");

        let lapsed = app.wait_for_payment(id, &buyer.token, "the return to lapse", |s| s["return"]["outcome"] == "lapsed").await;
        assert_eq!(lapsed["escrow_status"], "held", "nothing released while the return was open: {lapsed:#}");
        // Automatic confirmation resumes with what was left of the period when it stopped.
        let left = millis(&due) - millis(&asked["return"]["requested_at"]);
        assert_eq!(millis(&lapsed["auto_confirm_at"]), millis(&lapsed["return"]["closed_at"]) + left, "{lapsed:#}");
        // Too late to send it back now.
        app.act(Some(&buyer), id, "return/shipment", parcel("5000005")).await.assert_problem(409, "invalid_state");
        assert_eq!(events(&app, paid.order_id, "return.lapsed").await, 1);

        let confirmed = app.wait_for_payment(id, &buyer.token, "automatic confirmation", |s| s["order_status"] == "confirmed").await;
        let orders = moves(&confirmed, "order");
        assert_eq!(
            orders[3..].to_vec(),
            pairs(&[("delivered", "return_requested"), ("return_requested", "delivered"), ("delivered", "confirmed")]),
            "{confirmed:#}"
        );
        app.assert_ledger(&admin, 17_000, 0, 0, 17_000).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;
    }
}

on_both_databases_with! { on_both_apis, quick_inspection =>
    async fn a_silent_seller_has_accepted(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let returned = delivered(&app, &buyer, &seller, 26_000).await;
        let exchanged = delivered(&app, &buyer, &seller, 8_000).await;
        received(&app, &buyer, &seller, returned.payment_id, ask("return", "changed_mind")).await;
        received(&app, &buyer, &seller, exchanged.payment_id, ask("exchange", "defective")).await;

        let status = app.wait_for_payment(returned.payment_id, &buyer.token, "acceptance by silence", |s| s["status"] == "refunded").await;
        assert_eq!((status["order_status"].as_str(), status["return"]["return_fee"].as_i64()), (Some("returned"), Some(0)), "{status:#}");
        let accepted = status["history"].as_array().unwrap().iter().find(|h| h["to"] == "returned").cloned().unwrap();
        assert_eq!(accepted["actor"], "system", "{accepted:#}");
        let status = app.wait_for_payment(exchanged.payment_id, &buyer.token, "an exchange accepted by silence", |s| s["order_status"] == "paid").await;
        assert_eq!(status["escrow_status"], "held", "{status:#}");
        assert_eq!(app.gateway_payment(&returned.imp_uid).await["cancel_amount"], 26_000);
        app.assert_ledger(&admin, 34_000, 26_000, 8_000, 0).await;
        money_agrees(&app, &buyer, &seller, &admin, &returned).await;
        money_agrees(&app, &buyer, &seller, &admin, &exchanged).await;
    }
}

/// Gateway calls give up after 500 ms; the jobs run every 50 ms.
fn impatient_gateway(config: &mut Config) {
    config.gateway_timeout = Duration::from_millis(500);
    config.job_interval = Duration::from_millis(50);
}

on_both_databases_with! { on_both_apis, impatient_gateway =>
    async fn an_accepted_return_is_refunded_after_the_gateway_failed(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let paid = delivered(&app, &buyer, &seller, 19_000).await;
        let id = paid.payment_id;
        received(&app, &buyer, &seller, id, ask("return", "defective")).await;
        app.sandbox_fault("api", "error_500", 1).await;
        let answer = app.act(Some(&seller), id, "return/accept", json!({})).await;
        answer.assert_problem(502, "gateway_error");
        // Accepted all the same: the refund is owed, and the jobs see it through (the
        // intent the gateway never carried out is settled as failed, then asked again).
        let status = app.status(id, &buyer.token).await;
        assert_eq!(status["order_status"], "returned", "{status:#}");
        let status = app.wait_for_payment(id, &buyer.token, "the owed refund", |s| s["status"] == "refunded").await;
        let refunds: Vec<&str> = status["refunds"].as_array().unwrap().iter().filter_map(|r| r["status"].as_str()).collect();
        assert_eq!(refunds, ["failed", "succeeded"], "{status:#}");
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 19_000);
        app.assert_ledger(&admin, 19_000, 19_000, 0, 0).await;
        money_agrees(&app, &buyer, &seller, &admin, &paid).await;
    }
}
