//! The escrow lifecycle over HTTP: cart and orders, payments through the sandbox gateway
//! (the browser's part played by its control calls), shipment, confirmation, cancels,
//! refunds, disputes, settlements and the ledger. Every money scenario ends by checking that
//! the ledger balances: paid = refunded + held + released.

use crate::escrow_support::{
    assert_not_server_error, moves, new_key, on_both_databases_with, pairs, set_job_interval,
    shipping, transitions, EscrowApp, PaidOrder,
};
use crate::support::{Api, Member, TestApp};
use escrow::config::Config;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// A platform fee of 2.5 %.
fn with_fee(config: &mut Config) {
    config.fee_bps = 250;
}

/// Release half a second after delivery; background jobs every 100 ms.
fn fast_auto_confirm(config: &mut Config) {
    config.auto_confirm_after = Duration::from_millis(500);
    set_job_interval(config, Duration::from_millis(100));
}

/// Unpaid orders expire after 300 ms; background jobs every 100 ms.
fn fast_expiry(config: &mut Config) {
    config.order_ttl = Duration::from_millis(300);
    set_job_interval(config, Duration::from_millis(100));
}

/// The ids of a list answer's items.
fn order_ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list:#}"))
        .iter()
        .map(|o| o["order_id"].as_i64().unwrap())
        .collect()
}

/// The item of `product_id` in an order or a cart.
fn item_of(holder: &Value, product_id: i64) -> Value {
    holder["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {holder:#}"))
        .iter()
        .find(|i| i["product_id"] == product_id)
        .unwrap_or_else(|| panic!("no product {product_id} in {holder:#}"))
        .clone()
}

/// A payment of 50 000 won held in escrow, and its seller's refund of 10 000 under a new key.
struct RefundCase {
    seller: Member,
    buyer: Member,
    admin: Member,
    paid: PaidOrder,
    path: String,
    key: String,
    body: Value,
}

async fn refund_case(app: &TestApp) -> RefundCase {
    let seller = app.seller().await;
    let buyer = app.buyer().await;
    let admin = app.admin().await;
    let paid = app.paid_order(&buyer, &seller, 50_000, 1).await;
    RefundCase {
        path: format!("/payments/{}/refund", paid.payment_id),
        key: new_key(),
        body: json!({"reason": "일부 누락", "amount": 10_000}),
        seller,
        buyer,
        admin,
        paid,
    }
}

on_both_databases! { on_both_apis =>
    async fn an_order_reserves_stock_and_shows_its_details(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let other_buyer = app.buyer().await;
        let other_seller = app.seller().await;
        let bike = app.product(&seller, "자전거", 150_000, 3).await;
        let bell = app.product(&seller, "벨", 5_000, 10).await;

        let created = app.try_order(&buyer, &[(bike, 2), (bell, 1)]).await;
        let body = created.assert_status(201).clone();
        assert_eq!(body["success"], true);
        assert!(body["message"].is_string());
        let orders = body["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 1, "one seller, one order");
        let order_id = orders[0]["order_id"].as_i64().unwrap();
        assert_eq!(orders[0]["seller_id"], seller.id);
        assert_eq!(orders[0]["status"], "pending_payment");
        assert_eq!(orders[0]["total_amount"], 305_000);
        assert_eq!(orders[0]["items"].as_array().unwrap().len(), 2);
        // Reserved at once.
        assert_eq!(app.stock(bike).await, 1);
        assert_eq!(app.stock(bell).await, 9);

        let shown = app.order_json(order_id, &buyer.token).await;
        assert_eq!(shown["order_id"], order_id);
        assert_eq!(shown["buyer_id"], buyer.id);
        assert_eq!(shown["seller_id"], seller.id);
        assert_eq!(shown["status"], "pending_payment");
        assert_eq!(shown["total_amount"], 305_000);
        assert_eq!(
            item_of(&shown, bike),
            json!({"product_id": bike, "name": "자전거", "price": 150_000, "quantity": 2})
        );
        assert_eq!(
            item_of(&shown, bell),
            json!({"product_id": bell, "name": "벨", "price": 5_000, "quantity": 1})
        );
        assert_eq!(shown["shipping"], shipping());
        // Its items keep one order wherever it is shown: the order they were written in.
        assert_eq!(shown["items"], orders[0]["items"], "{shown:#}");
        let created_at = shown["created_at"].as_str().unwrap();
        let expires_at = shown["expires_at"].as_str().unwrap();
        assert!(created_at.ends_with('Z') && expires_at.ends_with('Z'), "{shown:#}");
        assert_ne!(created_at, expires_at);
        assert!(shown["payment"].is_null(), "{shown:#}");
        assert!(shown["shipment"].is_null(), "{shown:#}");

        // Its seller and an admin see it; nobody else does.
        assert_eq!(app.order_json(order_id, &seller.token).await["order_id"], order_id);
        let admin = app.admin().await;
        assert_eq!(app.order_json(order_id, &admin.token).await["order_id"], order_id);
        for stranger in [&other_buyer, &other_seller] {
            app.get(&format!("/orders/{order_id}"), Some(&stranger.token)).await.assert_problem(403, "forbidden");
        }
        app.get(&format!("/orders/{order_id}"), None).await.assert_problem(401, "unauthorized");
        app.get("/orders/987654321", Some(&buyer.token)).await.assert_problem(404, "not_found");

        // Each party's list.
        let mine = app.get("/orders?role=buyer", Some(&buyer.token)).await;
        let mine = mine.assert_status(200);
        assert_eq!(order_ids(mine), vec![order_id]);
        assert!(mine["next_cursor"].is_null());
        assert_eq!(mine["items"][0]["total_amount"], 305_000);
        assert_eq!(mine["items"][0]["items"], orders[0]["items"]);
        let sold = app.get("/orders?role=seller", Some(&seller.token)).await;
        assert_eq!(order_ids(sold.assert_status(200)), vec![order_id]);
        let none = app.get("/orders?role=seller", Some(&buyer.token)).await;
        assert!(order_ids(none.assert_status(200)).is_empty());
        let none = app.get("/orders?role=buyer", Some(&other_buyer.token)).await;
        assert!(order_ids(none.assert_status(200)).is_empty());
        app.get("/orders?role=buyer", None).await.assert_problem(401, "unauthorized");

        // Not enough of one item: nothing of the order is reserved.
        app.try_order(&buyer, &[(bell, 1), (bike, 2)]).await.assert_problem(409, "insufficient_stock");
        assert_eq!(app.stock(bell).await, 9);
        assert_eq!(app.stock(bike).await, 1);
        assert_eq!(app.count("orders").await, 1);

        // Nobody buys their own product; a seller may buy another seller's.
        let own = app.try_order(&seller, &[(bell, 1)]).await;
        assert!(own.status.is_client_error(), "{own:?}");
        assert_eq!(app.stock(bell).await, 9);
        assert_eq!(app.count("orders").await, 1);
        app.try_order(&other_seller, &[(bell, 1)]).await.assert_status(201);
        assert_eq!(app.stock(bell).await, 8);
        assert_eq!(app.count("orders").await, 2);
    }

    async fn a_failed_order_leaves_no_lock_behind(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let bell = app.product(&seller, "벨", 5_000, 10).await;
        let bike = app.product(&seller, "자전거", 150_000, 1).await;
        // The bell (the lower id) is reserved first, then the bike fails: the transaction
        // is dropped with the bell's row written.
        app.try_order(&buyer, &[(bell, 1), (bike, 2)]).await.assert_problem(409, "insufficient_stock");
        // Another connection writes the bell's row. On MySQL a rollback left queued on an
        // idle connection would keep the row locked, and this would wait and fail.
        let update = json!({"name": "벨", "description": "맑은 소리", "price": 5_000, "stock": 9});
        app.put(&format!("/products/{bell}"), Some(&seller.token), update).await.assert_status(200);
        assert_eq!(app.stock(bell).await, 9);
        assert_eq!(app.count("orders").await, 0);
    }

    async fn an_order_waits_for_another_writer_and_then_goes_through(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let lamp = app.product(&seller, "램프", 40_000, 3).await;
        let mut lock = app.lock_for_writes(lamp).await;
        let release = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
        };
        let lines = [(lamp, 1)];
        let (ordered, ()) = tokio::join!(app.try_order(&buyer, &lines), release);
        ordered.assert_status(201);
        assert_eq!(app.stock(lamp).await, 2);
        assert_eq!(app.count("orders").await, 1);
    }

    async fn a_failing_record_undoes_the_whole_transaction(app: TestApp) {
        // The outbox row is written last, just before the commit (`Tx::defer`): when it
        // fails, the order, its stock and its history must go with it.
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let lamp = app.product(&seller, "램프", 40_000, 3).await;
        app.refuse_inserts("outbox_events").await;
        let refused = app.try_order(&buyer, &[(lamp, 1)]).await;
        assert!(refused.status.is_server_error(), "{:?} {:#}", refused.status, refused.body);
        assert_eq!(app.stock(lamp).await, 3);
        assert_eq!((app.count("orders").await, app.count("state_history").await), (0, 0));

        // Nothing was left open on the writer: once the fault is gone, the next order goes through.
        app.accept_inserts("outbox_events").await;
        app.try_order(&buyer, &[(lamp, 1)]).await.assert_status(201);
        assert_eq!(app.stock(lamp).await, 2);
        assert_eq!(app.count("outbox_events").await, 1);
    }

    async fn a_cart_splits_by_seller_and_empties_as_orders_are_paid(app: TestApp) {
        let first = app.seller().await;
        let second = app.seller().await;
        let buyer = app.buyer().await;
        let token = Some(buyer.token.as_str());
        let mug = app.product(&first, "머그컵", 12_000, 5).await;
        let pen = app.product(&first, "펜", 3_000, 5).await;
        let lamp = app.product(&second, "램프", 40_000, 2).await;

        let cart = app.put(&format!("/cart/items/{mug}"), token, json!({"quantity": 1})).await;
        assert_eq!(cart.assert_status(200)["items"].as_array().unwrap().len(), 1);
        // PUT sets the quantity; it does not add to it.
        let cart = app.put(&format!("/cart/items/{mug}"), token, json!({"quantity": 2})).await;
        assert_eq!(item_of(cart.assert_status(200), mug)["quantity"], 2);
        app.put(&format!("/cart/items/{pen}"), token, json!({"quantity": 3})).await.assert_status(200);
        app.put(&format!("/cart/items/{lamp}"), token, json!({"quantity": 1})).await.assert_status(200);
        let cart = app.delete(&format!("/cart/items/{pen}"), token).await;
        assert_eq!(cart.assert_status(200)["items"].as_array().unwrap().len(), 2);

        let cart = app.cart(&buyer).await;
        assert_eq!(
            item_of(&cart, mug),
            json!({"product_id": mug, "name": "머그컵", "price": 12_000, "quantity": 2})
        );
        assert_eq!(item_of(&cart, lamp)["quantity"], 1);
        assert_eq!(cart["total_amount"], 64_000);
        // A cart reserves nothing.
        assert_eq!(app.stock(mug).await, 5);
        app.get("/cart", None).await.assert_problem(401, "unauthorized");

        let created = app.post("/orders", token, json!({"from_cart": true, "shipping": shipping()})).await;
        let body = created.assert_status(201).clone();
        let orders = body["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 2, "one order per seller: {body:#}");
        let of_seller = |seller_id: i64| {
            orders.iter().find(|o| o["seller_id"] == seller_id).unwrap_or_else(|| panic!("no order of {seller_id}: {body:#}")).clone()
        };
        let first_order = of_seller(first.id);
        let second_order = of_seller(second.id);
        assert_eq!(first_order["total_amount"], 24_000);
        assert_eq!(first_order["items"].as_array().unwrap().len(), 1);
        assert_eq!(item_of(&first_order, mug)["quantity"], 2);
        assert_eq!(second_order["total_amount"], 40_000);
        assert_eq!(app.stock(mug).await, 3);
        assert_eq!(app.stock(lamp).await, 1);
        assert_eq!(app.stock(pen).await, 5);

        // The items stay in the cart until they are paid.
        assert_eq!(app.cart(&buyer).await["items"].as_array().unwrap().len(), 2);
        let checkout = app.checkout(&buyer, first_order["order_id"].as_i64().unwrap()).await;
        app.pay(&buyer, &checkout).await;
        let cart = app.cart(&buyer).await;
        let left: Vec<i64> = cart["items"].as_array().unwrap().iter().map(|i| i["product_id"].as_i64().unwrap()).collect();
        assert_eq!(left, vec![lamp]);
        assert_eq!(cart["total_amount"], 40_000);

        let checkout = app.checkout(&buyer, second_order["order_id"].as_i64().unwrap()).await;
        app.pay(&buyer, &checkout).await;
        let cart = app.cart(&buyer).await;
        assert!(cart["items"].as_array().unwrap().is_empty(), "{cart:#}");
        assert_eq!(cart["total_amount"], 0);

        // An empty cart orders nothing.
        let empty = app.post("/orders", token, json!({"from_cart": true, "shipping": shipping()})).await;
        assert!(empty.status.is_client_error(), "{empty:?}");
        assert_eq!(app.count("orders").await, 2);
    }

    async fn the_checkout_names_the_buyer_and_what_is_bought(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.member_named("buyer", "김구매", Some("010-2222-3333")).await;
        let bike = app.product(&seller, "자전거", 150_000, 3).await;
        let bell = app.product(&seller, "벨", 5_000, 10).await;
        let created = app.try_order(&buyer, &[(bell, 1), (bike, 1)]).await;
        let order_id = created.assert_status(201)["orders"][0]["order_id"].as_i64().unwrap();

        let checkout = app.checkout(&buyer, order_id).await;
        let pay = &checkout.body["checkout"];
        // Named by its first item (the first listed, the lowest product id) and the rest.
        assert_eq!(pay["name"], "자전거 외 1건", "{pay:#}");
        assert_eq!(pay["amount"], 155_000);
        assert_eq!(pay["buyer_email"], buyer.email);
        assert_eq!(pay["buyer_name"], "김구매", "{pay:#}");
        assert_eq!(pay["buyer_tel"], "010-2222-3333", "{pay:#}");
        assert_eq!(pay["buyer_addr"], shipping()["address"]);
        assert_eq!(pay["buyer_postcode"], shipping()["postcode"]);
        // Asked again before paying, the same payment is handed out.
        let again = app.checkout(&buyer, order_id).await;
        assert_eq!(again.payment_id, checkout.payment_id);
        assert_eq!(again.merchant_uid, checkout.merchant_uid);
        assert_eq!(again.body["checkout"], *pay);
    }

    async fn paid_shipped_delivered_confirmed_and_released(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "노트북", 50_000, 5).await;
        let order_id = app.order(&buyer, product, 2).await;

        let checkout = app.checkout(&buyer, order_id).await;
        let payment_id = checkout.payment_id;
        let body = &checkout.body;
        assert!(body["message"].is_string());
        assert_eq!(body["amount"], 100_000);
        assert!(body["imp_uid"].is_null());
        assert_eq!(body["escrow"], true);
        assert!(!checkout.merchant_uid.is_empty());
        let pay = &body["checkout"];
        assert_eq!(pay["imp_code"], app.config.imp_code);
        assert_eq!(pay["merchant_uid"], checkout.merchant_uid);
        assert_eq!(pay["amount"], 100_000);
        assert_eq!(pay["escrow"], true);
        assert_eq!(pay["buyer_email"], buyer.email);
        for field in ["pg", "pay_method", "name", "buyer_name", "buyer_tel", "buyer_addr", "buyer_postcode"] {
            assert!(pay.get(field).is_some(), "no checkout.{field} in {pay:#}");
        }
        let webhook_path = match app.api() {
            Api::V1 => "/webhooks/portone",
            Api::V2 => "/webhooks/portone/v2",
        };
        assert!(checkout.notice_url.ends_with(webhook_path), "{pay:#}");

        // Not paid yet.
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "ready");
        assert_eq!(status["escrow_status"], "pending");
        assert_eq!(status["order_status"], "pending_payment");
        assert!(status["imp_uid"].is_null());

        let imp_uid = app.pay(&buyer, &checkout).await;
        let status = app.status(payment_id, &seller.token).await;
        assert_eq!(status["payment_id"], payment_id);
        assert_eq!(status["order_id"], checkout.order_id);
        assert_eq!(status["merchant_uid"], checkout.merchant_uid);
        assert_eq!(status["imp_uid"], imp_uid);
        assert_eq!(status["status"], "paid");
        assert_eq!(status["escrow"], true);
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(status["amount"], 100_000);
        assert_eq!(status["refunded_amount"], 0);
        let pg = match app.api() {
            Api::V1 => "html5_inicis",
            Api::V2 => "INICIS_V2",
        };
        assert_eq!(status["pg_provider"], pg);
        assert_eq!(status["pay_method"], "card");
        assert!(status["paid_at"].as_str().unwrap().ends_with('Z'));
        assert!(status["shipment"].is_null());
        assert_eq!(transitions(&status, "order", "pending_payment", "paid"), 1);
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1);
        assert_eq!(transitions(&status, "escrow", "pending", "held"), 1);
        for entry in status["history"].as_array().unwrap() {
            assert!(entry["at"].is_string() && entry["to"].is_string() && entry.get("actor").is_some(), "{entry:#}");
        }
        app.status(payment_id, &admin.token).await;
        app.assert_ledger(&admin, 100_000, 0, 100_000, 0).await;

        let order = app.order_json(order_id, &buyer.token).await;
        assert_eq!(order["status"], "paid");
        let payment = &order["payment"];
        assert_eq!(payment["payment_id"], payment_id);
        assert_eq!(payment["status"], "paid");
        assert_eq!(payment["escrow_status"], "held");
        assert_eq!(payment["amount"], 100_000);
        assert_eq!(payment["refunded_amount"], 0);
        assert_eq!(payment["merchant_uid"], checkout.merchant_uid);
        assert_eq!(payment["imp_uid"], imp_uid);

        // Shipment: an unknown courier is refused; then registered; then corrected.
        let unknown = app.act(Some(&seller), payment_id, "shipment", json!({"courier": "NOPE_EXPRESS", "invoice_number": "1234567890"})).await;
        unknown.assert_problem(422, "validation_failed");
        assert_eq!(app.status(payment_id, &buyer.token).await["order_status"], "paid");
        app.ship(&seller, payment_id, "1234567890").await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "shipping");
        assert_eq!(status["shipment"]["courier"], "CJGLS");
        assert_eq!(status["shipment"]["invoice_number"], "1234567890");
        assert!(status["shipment"]["sent_at"].is_string());
        app.ship(&seller, payment_id, "9876543210").await;
        let order = app.order_json(order_id, &buyer.token).await;
        assert_eq!(order["status"], "shipping");
        assert_eq!(order["shipment"]["courier"], "CJGLS");
        assert_eq!(order["shipment"]["invoice_number"], "9876543210");
        assert!(order["shipment"]["sent_at"].is_string());
        // The gateway holds the delivery as corrected, from the seller to the order's receiver.
        if app.api() == Api::V1 {
            let registered = app.get(&format!("/sandbox/portone/_sandbox/escrows/{imp_uid}"), None).await;
            let registered = registered.assert_status(200);
            assert_eq!(registered["logis"]["company"], "CJGLS");
            assert_eq!(registered["logis"]["invoice"], "9876543210");
            let to = shipping();
            assert_eq!(registered["receiver"]["name"], to["receiver_name"], "{registered:#}");
            assert_eq!(registered["receiver"]["tel"], to["receiver_phone"], "{registered:#}");
            assert_eq!(registered["receiver"]["addr"], to["address"], "{registered:#}");
            assert_eq!(registered["receiver"]["postcode"], to["postcode"], "{registered:#}");
            assert_eq!(registered["sender"]["name"], "테스트 회원", "{registered:#}");
            assert_eq!(registered["sender"]["relationship"], "판매자");
        } else {
            let escrow = &app.gateway_payment_v2(&checkout.merchant_uid).await["escrow"];
            assert_eq!(escrow["status"], "REGISTERED", "{escrow:#}");
            assert_eq!(escrow["company"], "CJ", "{escrow:#}");
            assert_eq!(escrow["invoiceNumber"], "9876543210", "{escrow:#}");
        }
        // Too late to cancel.
        app.act(Some(&buyer), payment_id, "cancel", json!({"reason": "변심"})).await.assert_problem(409, "invalid_state");

        app.deliver(&seller, payment_id).await;
        assert_eq!(app.status(payment_id, &buyer.token).await["order_status"], "delivered");
        app.confirm(&buyer, payment_id).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "confirmed");
        assert_eq!(status["escrow_status"], "released");
        assert_eq!(status["status"], "paid");
        assert_eq!(
            moves(&status, "order"),
            pairs(&[("pending_payment", "paid"), ("paid", "shipping"), ("shipping", "delivered"), ("delivered", "confirmed")])
        );
        assert_eq!(moves(&status, "escrow"), pairs(&[("pending", "held"), ("held", "released")]));
        assert_eq!(moves(&status, "payment"), pairs(&[("ready", "paid")]));
        if app.api() == Api::V2 {
            // The buyer's confirmation reached the PG (`/escrow/complete`).
            let escrow = &app.gateway_payment_v2(&checkout.merchant_uid).await["escrow"];
            assert_eq!(escrow["status"], "CONFIRMED", "{escrow:#}");
        }

        // Released money stays released.
        app.act(Some(&seller), payment_id, "refund", json!({"reason": "늦은 환불", "amount": 1_000})).await.assert_problem(409, "invalid_state");
        app.act(Some(&admin), payment_id, "refund", json!({"reason": "늦은 환불"})).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), payment_id, "cancel", json!({"reason": "변심"})).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), payment_id, "confirm", json!({})).await.assert_problem(409, "invalid_state");
        app.act(Some(&buyer), payment_id, "dispute", json!({"reason": "고장"})).await.assert_problem(409, "invalid_state");
        let gateway = app.gateway_payment(&imp_uid).await;
        assert_eq!(gateway["status"], "paid");
        assert_eq!(gateway["cancel_amount"], 0);
        app.assert_ledger(&admin, 100_000, 0, 0, 100_000).await;
    }

    async fn the_seed_payment_form_is_checked(app: TestApp) {
        let seller = app.seller().await;
        let other_seller = app.seller().await;
        let buyer = app.buyer().await;
        let other_buyer = app.buyer().await;
        let product = app.product(&seller, "키보드", 45_000, 5).await;
        let token = Some(buyer.token.as_str());
        let form = |buyer_id: i64, seller_id: i64, price: i64| {
            json!({"product_id": product, "quantity": 2, "buyer_id": buyer_id, "seller_id": seller_id, "price": price})
        };

        app.post("/payments", token, form(other_buyer.id, seller.id, 90_000)).await.assert_problem(403, "forbidden");
        app.post("/payments", token, form(buyer.id, other_seller.id, 90_000)).await.assert_problem(403, "forbidden");
        // `price` is the order's total, not the unit price.
        app.post("/payments", token, form(buyer.id, seller.id, 45_000)).await.assert_problem(409, "amount_mismatch");
        app.post("/payments", token, form(buyer.id, seller.id, 100)).await.assert_problem(409, "amount_mismatch");
        app.post("/payments", None, form(buyer.id, seller.id, 90_000)).await.assert_problem(401, "unauthorized");
        assert_eq!(app.count("orders").await, 0);
        assert_eq!(app.count("payments").await, 0);
        assert_eq!(app.stock(product).await, 5);

        let created = app.post("/payments", token, form(buyer.id, seller.id, 90_000)).await;
        let body = created.assert_status(201).clone();
        assert_eq!(body["success"], true);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["amount"], 90_000);
        assert_eq!(body["escrow"], true);
        assert!(body["imp_uid"].is_null());
        assert_eq!(body["checkout"]["amount"], 90_000);
        let order_id = body["order_id"].as_i64().unwrap();
        let order = app.order_json(order_id, &buyer.token).await;
        assert_eq!(order["status"], "pending_payment");
        assert_eq!(order["buyer_id"], buyer.id);
        assert_eq!(order["seller_id"], seller.id);
        assert_eq!(order["total_amount"], 90_000);
        assert_eq!(item_of(&order, product)["quantity"], 2);
        assert_eq!(order["payment"]["payment_id"], body["payment_id"]);
        assert_eq!(order["payment"]["status"], "ready");
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.stock(product).await, 3);
    }

    async fn a_tampered_amount_is_refused_and_cancelled(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "모니터", 30_000, 5).await;
        let order_id = app.order(&buyer, product, 1).await;
        assert_eq!(app.stock(product).await, 4);
        let checkout = app.checkout(&buyer, order_id).await;
        let payment_id = checkout.payment_id;

        if app.api() == Api::V1 {
            // V1's gateway itself refuses an amount other than the registered one (V2
            // registers none).
            let refused = app.sandbox_pay(&checkout, 1_000, false).await;
            assert_eq!(refused["status"], "failed", "{refused:#}");
            let status = app.status(payment_id, &buyer.token).await;
            assert_eq!(status["status"], "ready");
            assert_eq!(status["order_status"], "pending_payment");
        }

        // A browser that gets past it is caught by the service's own check.
        let tampered = app.sandbox_pay(&checkout, 1_000, true).await;
        assert_eq!(tampered["status"], "paid", "{tampered:#}");
        let imp_uid = tampered["imp_uid"].as_str().unwrap().to_string();
        app.complete(&buyer, payment_id, &imp_uid).await.assert_problem(409, "amount_mismatch");
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "failed", "{status:#}");
        assert_eq!(status["order_status"], "cancelled", "{status:#}");
        assert_ne!(status["escrow_status"], "held");
        assert_ne!(status["escrow_status"], "released");
        assert_eq!(transitions(&status, "payment", "ready", "failed"), 1, "{status:#}");
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 0, "{status:#}");
        assert_eq!(app.stock(product).await, 5);
        app.wait_for_gateway(&imp_uid, "the forged payment to be cancelled at the gateway", |p| p["status"] == "cancelled").await;

        // It stays refused.
        app.complete(&buyer, payment_id, &imp_uid).await.assert_problem(409, "amount_mismatch");
        // The webhooks of the payment and of its cancel change nothing more.
        app.wait_for_webhooks(2).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "failed");
        assert_eq!(transitions(&status, "payment", "ready", "failed"), 1, "{status:#}");
        assert_eq!(app.stock(product).await, 5);
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_tampered_payment_reported_many_times_at_once_is_cancelled_once(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "게임기", 48_000, 2).await;
        let order_id = app.order(&buyer, product, 1).await;
        let checkout = app.checkout(&buyer, order_id).await;
        let payment_id = checkout.payment_id;
        let tampered = app.sandbox_pay(&checkout, 4_800, true).await;
        let imp_uid = tampered["imp_uid"].as_str().unwrap().to_string();

        let hook = json!({"imp_uid": imp_uid, "merchant_uid": checkout.merchant_uid, "status": "paid"});
        let completes = join_all((0..5).map(|_| app.complete(&buyer, payment_id, &imp_uid)));
        let hooks = join_all((0..5).map(|_| app.webhook(hook.clone())));
        let (completes, hooks) = tokio::join!(completes, hooks);
        for answer in &completes {
            answer.assert_problem(409, "amount_mismatch");
        }
        for answer in &hooks {
            assert_not_server_error(answer);
        }

        app.wait_for_webhooks(2).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "failed", "{status:#}");
        assert_eq!(status["order_status"], "cancelled", "{status:#}");
        assert_eq!(transitions(&status, "payment", "ready", "failed"), 1, "{status:#}");
        assert_eq!(transitions(&status, "order", "pending_payment", "cancelled"), 1, "{status:#}");
        assert_eq!(app.stock(product).await, 2, "the stock comes back once");
        let gateway = app.gateway_payment(&imp_uid).await;
        assert_eq!(gateway["status"], "cancelled", "{gateway:#}");
        assert_eq!(gateway["cancel_amount"], 4_800, "{gateway:#}");
        assert_eq!(gateway["cancel_history"].as_array().unwrap().len(), 1, "cancelled once: {gateway:#}");
        app.assert_ledger_balanced(&admin).await;
    }

    async fn the_webhook_alone_completes_a_payment(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "스피커", 25_000, 3).await;
        let order_id = app.order(&buyer, product, 1).await;
        let checkout = app.checkout(&buyer, order_id).await;

        // The buyer pays and the browser never calls back: the gateway's webhook is enough.
        let paid = app.sandbox_pay(&checkout, checkout.amount, false).await;
        let imp_uid = paid["imp_uid"].as_str().unwrap().to_string();
        let status = app
            .wait_for_payment(checkout.payment_id, &buyer.token, "the webhook to mark the payment paid", |s| s["status"] == "paid")
            .await;
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(status["imp_uid"], imp_uid);

        // A late callback changes nothing.
        app.wait_for_webhooks(1).await;
        let late = app.complete(&buyer, checkout.payment_id, &imp_uid).await;
        assert_eq!(late.assert_status(200)["status"], "paid");
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1, "{status:#}");
        assert_eq!(transitions(&status, "order", "pending_payment", "paid"), 1, "{status:#}");
        assert_eq!(transitions(&status, "escrow", "pending", "held"), 1, "{status:#}");
        app.assert_ledger(&admin, 25_000, 0, 25_000, 0).await;
    }

    async fn a_recorded_payment_is_not_looked_up_again_for_its_paid_notice_or_callback(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let paid = app.paid_order(&buyer, &seller, 30_000, 1).await;
        app.wait_for_webhooks(1).await;
        // From here every gateway call fails, so whatever still answers did not ask it.
        app.sandbox_fault("api", "error_500", 100).await;
        let notice = json!({"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid, "status": "paid"});
        assert_eq!(app.webhook(notice).await.assert_status(200)["message"], "nothing to change");
        let again = app.complete(&buyer, paid.payment_id, &paid.imp_uid).await;
        assert_eq!(again.assert_status(200)["status"], "paid");
        // What could change the record is still looked up: a cancel, another payment.
        let cancel = json!({"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid, "status": "cancelled"});
        app.webhook(cancel).await.assert_problem(502, "gateway_error");
        let other = json!({"imp_uid": "imp_000000000001", "merchant_uid": paid.merchant_uid, "status": "paid"});
        app.webhook(other).await.assert_problem(502, "gateway_error");
        app.complete(&buyer, paid.payment_id, "imp_000000000001").await.assert_problem(502, "gateway_error");
        app.clear_sandbox_faults().await;
        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid");
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1, "{status:#}");
    }

    async fn complete_and_webhooks_at_once_make_one_transition(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "태블릿", 64_000, 3).await;
        let order_id = app.order(&buyer, product, 1).await;
        let checkout = app.checkout(&buyer, order_id).await;
        let payment_id = checkout.payment_id;
        let paid = app.sandbox_pay(&checkout, checkout.amount, false).await;
        let imp_uid = paid["imp_uid"].as_str().unwrap().to_string();

        let hook = json!({"imp_uid": imp_uid, "merchant_uid": checkout.merchant_uid, "status": "paid"});
        let completes = join_all((0..10).map(|_| app.complete(&buyer, payment_id, &imp_uid)));
        let hooks = join_all((0..5).map(|_| app.webhook(hook.clone())));
        let fields = [("imp_uid", imp_uid.as_str()), ("merchant_uid", checkout.merchant_uid.as_str()), ("status", "paid")];
        let form = app.webhook_form(&fields);
        let (completes, hooks, form) = tokio::join!(completes, hooks, form);
        for answer in &completes {
            assert_eq!(answer.assert_status(200)["status"], "paid");
        }
        for answer in hooks.iter().chain([&form]) {
            answer.assert_status(200);
        }

        app.wait_for_webhooks(1).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1, "{status:#}");
        assert_eq!(transitions(&status, "order", "pending_payment", "paid"), 1, "{status:#}");
        assert_eq!(transitions(&status, "escrow", "pending", "held"), 1, "{status:#}");
        let gateway = app.gateway_payment(&imp_uid).await;
        assert_eq!(gateway["status"], "paid");
        assert_eq!(gateway["cancel_amount"], 0);
        app.assert_ledger(&admin, 64_000, 0, 64_000, 0).await;
    }

    async fn forged_webhooks_change_nothing(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 20_000, 1).await;
        let product = app.product(&seller, "의자", 70_000, 2).await;
        let order_id = app.order(&buyer, product, 1).await;
        let unpaid = app.checkout(&buyer, order_id).await;

        let forgeries = [
            // A payment the gateway never made.
            json!({"imp_uid": "imp_000000000000", "merchant_uid": unpaid.merchant_uid, "status": "paid"}),
            // A real payment, claimed for another order.
            json!({"imp_uid": paid.imp_uid, "merchant_uid": unpaid.merchant_uid, "status": "paid"}),
            // No payment at all.
            json!({"merchant_uid": unpaid.merchant_uid, "status": "paid"}),
            // A cancel the gateway never made.
            json!({"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid, "status": "cancelled"}),
            json!({"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid, "status": "paid", "amount": 1}),
        ];
        for forged in forgeries {
            assert_not_server_error(&app.webhook(forged).await);
        }
        let form = app.webhook_form(&[("imp_uid", "imp_000000000001"), ("merchant_uid", unpaid.merchant_uid.as_str()), ("status", "paid")]).await;
        assert_not_server_error(&form);
        let garbage = app.raw(Method::POST, "/webhooks/portone", None, "application/json", "{").await;
        assert!(garbage.status.is_client_error(), "{garbage:?}");
        app.wait_for_webhooks(1).await;

        let status = app.status(unpaid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "ready", "{status:#}");
        assert_eq!(status["escrow_status"], "pending");
        assert_eq!(status["order_status"], "pending_payment");
        assert!(status["imp_uid"].is_null(), "{status:#}");
        assert_eq!(app.stock(product).await, 1);

        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid", "{status:#}");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(status["refunded_amount"], 0);
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["status"], "paid");
        app.assert_ledger(&admin, 20_000, 0, 20_000, 0).await;
    }

    async fn cancels_before_shipment_give_back_stock_and_money(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;

        // Unpaid: only the stock to give back.
        let product = app.product(&seller, "텐트", 80_000, 3).await;
        let order_id = app.order(&buyer, product, 2).await;
        let checkout = app.checkout(&buyer, order_id).await;
        assert_eq!(app.stock(product).await, 1);
        let cancelled = app.act(Some(&buyer), checkout.payment_id, "cancel", json!({"reason": "주소 오류"})).await;
        assert_eq!(cancelled.assert_status(200)["success"], true);
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "cancelled", "{status:#}");
        assert_eq!(status["order_status"], "cancelled");
        assert!(
            status["history"].as_array().unwrap().iter().any(|h| h["reason"] == "주소 오류"),
            "the reason is recorded: {status:#}"
        );
        assert_eq!(app.stock(product).await, 3);
        assert_eq!(app.order_json(order_id, &seller.token).await["status"], "cancelled");
        app.act(Some(&buyer), checkout.payment_id, "cancel", json!({"reason": "again"})).await.assert_problem(409, "invalid_state");
        assert_eq!(app.stock(product).await, 3);

        // Paid: cancelled in full at the gateway, the escrow returned to the buyer.
        let paid = app.paid_order(&buyer, &seller, 80_000, 1).await;
        assert_eq!(app.stock(paid.product_id).await, 9);
        let cancelled = app.act(Some(&seller), paid.payment_id, "cancel", json!({"reason": "품절"})).await;
        cancelled.assert_status(200);
        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "cancelled", "{status:#}");
        assert_eq!(status["escrow_status"], "returned");
        assert_eq!(status["order_status"], "cancelled");
        assert_eq!(status["refunded_amount"], 80_000);
        assert_eq!(moves(&status, "escrow"), pairs(&[("pending", "held"), ("held", "returned")]));
        assert_eq!(app.stock(paid.product_id).await, 10);
        let gateway = app.gateway_payment(&paid.imp_uid).await;
        assert_eq!(gateway["status"], "cancelled");
        assert_eq!(gateway["cancel_amount"], 80_000);

        // Shipped: too late for either side to cancel.
        let shipped = app.paid_order(&buyer, &seller, 10_000, 1).await;
        app.ship(&seller, shipped.payment_id, "5555500000").await;
        for who in [&buyer, &seller] {
            app.act(Some(who), shipped.payment_id, "cancel", json!({"reason": "늦음"})).await.assert_problem(409, "invalid_state");
        }
        let status = app.status(shipped.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "shipping");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(app.stock(shipped.product_id).await, 9);

        // The gateway's webhooks (two payments, one cancel) change nothing more.
        app.wait_for_webhooks(3).await;
        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["refunded_amount"], 80_000);
        assert_eq!(transitions(&status, "escrow", "held", "returned"), 1);
        assert_eq!(app.stock(paid.product_id).await, 10);
        app.assert_ledger(&admin, 90_000, 80_000, 10_000, 0).await;
    }

    async fn a_reply_shows_a_refund_that_committed_while_it_waited(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let paid = app.paid_order(&buyer, &seller, 50_000, 1).await;
        let payment_id = paid.payment_id;
        // The shipment's registration at the gateway is held for a second; a partial refund
        // commits meanwhile. The shipment's answer is the payment as it is after both.
        let fault = json!({"target": "api", "mode": "delay", "count": 1, "delay_ms": 1_000});
        app.post("/sandbox/portone/_sandbox/faults", None, fault).await.assert_status(200);
        let shipment = app.act(Some(&seller), payment_id, "shipment", json!({"courier": "CJGLS", "invoice_number": "2718281828"}));
        let refund = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.act(Some(&seller), payment_id, "refund", json!({"reason": "부분 환불", "amount": 10_000})).await
        };
        let (shipment, refund) = tokio::join!(shipment, refund);
        assert_eq!(refund.assert_status(200)["refunded_amount"], 10_000);
        let shipped = shipment.assert_status(200);
        assert_eq!(shipped["order_status"], "shipping", "{shipped:#}");
        assert_eq!(shipped["status"], "partially_refunded", "{shipped:#}");
        assert_eq!(shipped["refunded_amount"], 10_000, "{shipped:#}");
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["refunded_amount"], 10_000);
        assert_eq!(status["order_status"], "shipping");
    }

    async fn seller_partial_refunds_add_up(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 50_000, 2).await;
        let payment_id = paid.payment_id;
        let refund = |amount: i64| json!({"reason": "부분 환불", "amount": amount});

        let first = app.act(Some(&seller), payment_id, "refund", refund(10_000)).await;
        let body = first.assert_status(200);
        assert_eq!(body["success"], true);
        assert_eq!(body["refunded_amount"], 10_000);
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "partially_refunded");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(status["refunded_amount"], 10_000);
        app.assert_ledger(&admin, 100_000, 10_000, 90_000, 0).await;

        // Still the seller's to give after shipment, before release.
        app.ship(&seller, payment_id, "3141592653").await;
        let second = app.act(Some(&seller), payment_id, "refund", refund(30_000)).await;
        assert_eq!(second.assert_status(200)["refunded_amount"], 40_000);
        app.act(Some(&seller), payment_id, "refund", refund(60_001)).await.assert_problem(409, "refund_exceeds_balance");
        app.act(Some(&seller), payment_id, "refund", refund(-5_000)).await.assert_problem(422, "validation_failed");
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "partially_refunded");
        assert_eq!(status["order_status"], "shipping");
        assert_eq!(status["refunded_amount"], 40_000);
        let gateway = app.gateway_payment(&paid.imp_uid).await;
        assert_eq!(gateway["status"], "paid");
        assert_eq!(gateway["cancel_amount"], 40_000);
        app.assert_ledger(&admin, 100_000, 40_000, 60_000, 0).await;

        // The rest: no amount means all that is left.
        let last = app.act(Some(&seller), payment_id, "refund", json!({"reason": "전액 환불"})).await;
        assert_eq!(last.assert_status(200)["refunded_amount"], 100_000);
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "refunded");
        assert_eq!(status["order_status"], "refunded");
        assert_eq!(status["escrow_status"], "returned");
        assert_eq!(status["refunded_amount"], 100_000);
        assert_eq!(
            moves(&status, "payment"),
            pairs(&[("ready", "paid"), ("paid", "partially_refunded"), ("partially_refunded", "refunded")])
        );
        let gateway = app.gateway_payment(&paid.imp_uid).await;
        assert_eq!(gateway["status"], "cancelled");
        assert_eq!(gateway["cancel_amount"], 100_000);

        // Nothing is left to refund.
        let more = app.act(Some(&seller), payment_id, "refund", refund(1_000)).await;
        assert_eq!(more.status, 409, "{more:?}");

        // The gateway's webhooks (one payment, three cancels) change nothing more.
        app.wait_for_webhooks(4).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["refunded_amount"], 100_000);
        assert_eq!(status["status"], "refunded");
        app.assert_ledger(&admin, 100_000, 100_000, 0, 0).await;
    }

    async fn buyers_refund_in_full_before_shipment_only(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;

        // Before shipment a buyer's refund is a full one (the same as a cancel).
        let early = app.paid_order(&buyer, &seller, 30_000, 1).await;
        let refunded = app.act(Some(&buyer), early.payment_id, "refund", json!({"reason": "단순 변심"})).await;
        assert_eq!(refunded.assert_status(200)["refunded_amount"], 30_000);
        let status = app.status(early.payment_id, &buyer.token).await;
        assert_eq!(status["escrow_status"], "returned", "{status:#}");
        assert_eq!(status["refunded_amount"], 30_000);
        let payment_status = status["status"].as_str().unwrap();
        assert!(["refunded", "cancelled"].contains(&payment_status), "{status:#}");
        let order_status = status["order_status"].as_str().unwrap();
        assert!(["refunded", "cancelled"].contains(&order_status), "{status:#}");
        assert_eq!(app.gateway_payment(&early.imp_uid).await["status"], "cancelled");

        // After shipment the buyer disputes instead.
        let shipped = app.paid_order(&buyer, &seller, 40_000, 1).await;
        app.ship(&seller, shipped.payment_id, "2718281828").await;
        app.act(Some(&buyer), shipped.payment_id, "refund", json!({"reason": "마음이 바뀜"})).await.assert_problem(409, "invalid_state");
        let status = app.status(shipped.payment_id, &buyer.token).await;
        assert_eq!(status["refunded_amount"], 0);
        assert_eq!(status["order_status"], "shipping");
        assert_eq!(status["escrow_status"], "held");

        // After release nobody refunds.
        app.deliver(&seller, shipped.payment_id).await;
        app.confirm(&buyer, shipped.payment_id).await;
        for who in [&buyer, &seller, &admin] {
            app.act(Some(who), shipped.payment_id, "refund", json!({"reason": "너무 늦음"})).await.assert_problem(409, "invalid_state");
        }
        assert_eq!(app.gateway_payment(&shipped.imp_uid).await["cancel_amount"], 0);
        app.wait_for_webhooks(3).await;
        assert_eq!(app.status(early.payment_id, &buyer.token).await["refunded_amount"], 30_000);
        app.assert_ledger(&admin, 70_000, 30_000, 0, 40_000).await;
    }

    async fn a_gateway_failure_leaves_the_refund_undone(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 60_000, 1).await;
        let body = json!({"reason": "파손", "amount": 10_000});

        // A few failures in a row, so that whichever gateway call the refund makes first
        // fails (a background job may use one up); cleared before the retry.
        app.sandbox_fault("api", "error_500", 3).await;
        let failed = app.act(Some(&seller), paid.payment_id, "refund", body.clone()).await;
        app.clear_sandbox_faults().await;
        failed.assert_problem(502, "gateway_error");
        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid", "{status:#}");
        assert_eq!(status["refunded_amount"], 0);
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 0);
        app.assert_ledger(&admin, 60_000, 0, 60_000, 0).await;

        let retried = app.act(Some(&seller), paid.payment_id, "refund", body).await;
        assert_eq!(retried.assert_status(200)["refunded_amount"], 10_000);
        let status = app.status(paid.payment_id, &buyer.token).await;
        assert_eq!(status["status"], "partially_refunded");
        assert_eq!(status["refunded_amount"], 10_000);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 10_000);
        app.wait_for_webhooks(2).await;
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 10_000);
        app.assert_ledger(&admin, 60_000, 10_000, 50_000, 0).await;
        app.clear_sandbox_faults().await;
    }

    async fn disputes_wait_for_an_admin(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;

        // Settled for the seller.
        let released = app.paid_order(&buyer, &seller, 45_000, 1).await;
        let payment_id = released.payment_id;
        app.act(Some(&buyer), payment_id, "dispute", json!({"reason": "아직 안 옴"})).await.assert_problem(409, "invalid_state");
        app.ship(&seller, payment_id, "1212121212").await;
        app.act(Some(&seller), payment_id, "dispute", json!({"reason": "판매자"})).await.assert_problem(403, "forbidden");
        let opened = app.act(Some(&buyer), payment_id, "dispute", json!({"reason": "상품이 설명과 다름"})).await;
        opened.assert_status(200);
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "disputed");
        assert_eq!(status["escrow_status"], "held");
        for party in [&buyer, &seller] {
            app.act(Some(party), payment_id, "resolve", json!({"outcome": "release"})).await.assert_problem(403, "forbidden");
        }
        app.act(Some(&admin), payment_id, "resolve", json!({"outcome": "split"})).await.assert_problem(422, "validation_failed");
        assert_eq!(app.status(payment_id, &buyer.token).await["order_status"], "disputed");
        app.act(Some(&admin), payment_id, "resolve", json!({"outcome": "release"})).await.assert_status(200);
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "confirmed");
        assert_eq!(status["escrow_status"], "released");
        assert_eq!(transitions(&status, "order", "shipping", "disputed"), 1);
        assert_eq!(transitions(&status, "order", "disputed", "confirmed"), 1);
        app.act(Some(&admin), payment_id, "resolve", json!({"outcome": "refund"})).await.assert_problem(409, "invalid_state");

        // Given back to the buyer, after delivery (which an admin may record).
        let returned = app.paid_order(&buyer, &seller, 55_000, 1).await;
        let payment_id = returned.payment_id;
        app.ship(&seller, payment_id, "3434343434").await;
        app.deliver(&admin, payment_id).await;
        app.act(Some(&buyer), payment_id, "dispute", json!({"reason": "파손되어 도착"})).await.assert_status(200);
        app.act(Some(&admin), payment_id, "resolve", json!({"outcome": "refund"})).await.assert_status(200);
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "refunded");
        assert_eq!(status["escrow_status"], "returned");
        assert_eq!(status["status"], "refunded");
        assert_eq!(status["refunded_amount"], 55_000);
        assert_eq!(transitions(&status, "order", "delivered", "disputed"), 1);
        let gateway = app.gateway_payment(&returned.imp_uid).await;
        assert_eq!(gateway["status"], "cancelled");
        assert_eq!(gateway["cancel_amount"], 55_000);

        app.wait_for_webhooks(3).await;
        assert_eq!(app.status(payment_id, &buyer.token).await["refunded_amount"], 55_000);
        app.assert_ledger(&admin, 100_000, 55_000, 0, 45_000).await;
    }

    async fn order_lists_page_without_repeats_or_gaps(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let product = app.product(&seller, "양말", 2_000, 50).await;
        let mut placed = Vec::new();
        for _ in 0..5 {
            placed.push(app.order(&buyer, product, 1).await);
        }
        placed.sort_unstable();
        for (member, role) in [(&buyer, "buyer"), (&seller, "seller")] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut path = format!("/orders?role={role}&limit=2");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let body = app.get(&path, Some(&member.token)).await.assert_status(200).clone();
                let ids = order_ids(&body);
                assert!(ids.len() <= 2, "{body:#}");
                seen.extend(ids);
                pages += 1;
                assert!(pages <= 5, "paging does not end: {seen:?}");
                match body["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => break,
                }
            }
            assert_eq!(pages, 3, "{role}: 2 + 2 + 1");
            seen.sort_unstable();
            assert_eq!(seen, placed, "{role}: every order once");
        }
    }

    async fn concurrent_calls_each_load_their_own_payment(app: TestApp) {
        // On MySQL, look-ups of payments that arrive together go as one IN list: each call
        // must act on its own payment. The seller ships twenty at once, each its own invoice.
        let seller = app.seller().await;
        let mut paid = Vec::new();
        for _ in 0..20 {
            let buyer = app.buyer().await;
            paid.push((app.paid_order(&buyer, &seller, 10_000, 1).await, buyer));
        }
        let shipments = join_all(paid.iter().map(|(order, _)| {
            app.act(
                Some(&seller),
                order.payment_id,
                "shipment",
                json!({"courier": "CJGLS", "invoice_number": format!("INV-{}", order.payment_id)}),
            )
        }))
        .await;
        // And marks them delivered, all at once again.
        let deliveries =
            join_all(paid.iter().map(|(order, _)| app.act(Some(&seller), order.payment_id, "delivered", json!({})))).await;
        for delivered in deliveries {
            delivered.assert_status(200);
        }
        for ((order, buyer), shipped) in paid.iter().zip(shipments) {
            shipped.assert_status(200);
            let status = app.status(order.payment_id, &buyer.token).await;
            assert_eq!(status["shipment"]["invoice_number"], format!("INV-{}", order.payment_id), "{status:#}");
            assert_eq!(status["order_id"], order.order_id, "{status:#}");
        }
    }

    async fn concurrent_buyers_never_oversell(app: TestApp) {
        let seller = app.seller().await;
        let product = app.product(&seller, "한정판 운동화", 199_000, 4).await;
        let buyers = join_all((0..12).map(|_| app.buyer())).await;
        let one = [(product, 1)];
        let answers = join_all(buyers.iter().map(|buyer| app.try_order(buyer, &one))).await;
        let mut created = 0;
        for answer in &answers {
            if answer.status == 201 {
                created += 1;
            } else {
                answer.assert_problem(409, "insufficient_stock");
            }
        }
        assert_eq!(created, 4);
        assert_eq!(app.stock(product).await, 0);
        assert_eq!(app.count("orders").await, 4);
        assert_eq!(app.count("order_items").await, 4);
    }

    async fn an_order_is_created_once_per_idempotency_key(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let other_buyer = app.buyer().await;
        let product = app.product(&seller, "커피 원두", 10_000, 5).await;
        let key = new_key();
        let body = json!({"items": [{"product_id": product, "quantity": 2}], "shipping": shipping()});

        let first = app.post_with_key("/orders", &buyer.token, &key, body.clone()).await;
        first.assert_status(201);
        let again = app.post_with_key("/orders", &buyer.token, &key, body.clone()).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body);
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.stock(product).await, 3);

        let changed = json!({"items": [{"product_id": product, "quantity": 1}], "shipping": shipping()});
        app.post_with_key("/orders", &buyer.token, &key, changed).await.assert_problem(422, "idempotency_key_reused");
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.stock(product).await, 3);

        // Keys belong to their user.
        let theirs = app.post_with_key("/orders", &other_buyer.token, &key, body).await;
        let theirs = theirs.assert_status(201);
        assert_ne!(theirs["orders"][0]["order_id"], first.body["orders"][0]["order_id"]);
        assert_eq!(app.count("orders").await, 2);
        assert_eq!(app.stock(product).await, 1);
    }

    async fn a_refund_is_made_once_per_idempotency_key(app: TestApp) {
        let RefundCase { seller, buyer, admin, paid, path, key, body } = refund_case(&app).await;

        let first = app.post_with_key(&path, &seller.token, &key, body.clone()).await;
        assert_eq!(first.assert_status(200)["refunded_amount"], 10_000);
        let again = app.post_with_key(&path, &seller.token, &key, body.clone()).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body);
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 10_000);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 10_000);

        let changed = json!({"reason": "일부 누락", "amount": 20_000});
        app.post_with_key(&path, &seller.token, &key, changed).await.assert_problem(422, "idempotency_key_reused");
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 10_000);

        let next = app.post_with_key(&path, &seller.token, &new_key(), body).await;
        assert_eq!(next.assert_status(200)["refunded_amount"], 20_000);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 20_000);
        app.wait_for_webhooks(3).await;
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 20_000);
        app.assert_ledger(&admin, 50_000, 20_000, 30_000, 0).await;
    }

    async fn a_refund_whose_recording_failed_is_not_made_again_under_its_key(app: TestApp) {
        let RefundCase { seller, buyer, admin, paid, path, key, body } = refund_case(&app).await;
        // The gateway refunds; recording it fails (the ledger refuses its row).
        app.refuse_inserts("ledger_postings").await;
        let first = app.post_with_key(&path, &seller.token, &key, body.clone()).await;
        assert!(first.status.is_server_error(), "{:?} {:#}", first.status, first.body);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 10_000);
        // Reconciliation then records what the gateway did.
        app.accept_inserts("ledger_postings").await;
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_status(200);
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 10_000);

        // The same key again answers as the first time and refunds nothing more.
        let again = app.post_with_key(&path, &seller.token, &key, body).await;
        assert_eq!((again.status, &again.body), (first.status, &first.body));
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 10_000);
        assert_eq!(app.status(paid.payment_id, &buyer.token).await["refunded_amount"], 10_000);
        app.assert_ledger(&admin, 50_000, 10_000, 40_000, 0).await;
    }

    async fn only_the_parties_touch_a_payment(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let other_buyer = app.buyer().await;
        let other_seller = app.seller().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 33_000, 1).await;
        let payment_id = paid.payment_id;
        let status_path = format!("/payments/{payment_id}/status");
        let order_path = format!("/orders/{}", paid.order_id);
        let calls = [
            ("complete", json!({"imp_uid": paid.imp_uid})),
            ("shipment", json!({"courier": "CJGLS", "invoice_number": "1234567890"})),
            ("delivered", json!({})),
            ("confirm", json!({})),
            ("cancel", json!({"reason": "남의 주문"})),
            ("refund", json!({"reason": "남의 주문", "amount": 1_000})),
            ("dispute", json!({"reason": "남의 주문"})),
            ("resolve", json!({"outcome": "refund"})),
        ];

        for stranger in [&other_buyer, &other_seller] {
            app.get(&status_path, Some(&stranger.token)).await.assert_problem(403, "forbidden");
            app.get(&order_path, Some(&stranger.token)).await.assert_problem(403, "forbidden");
            for (action, body) in &calls {
                let answer = app.act(Some(stranger), payment_id, action, body.clone()).await;
                assert_eq!(answer.status, 403, "{action} by a stranger: {answer:?}");
                answer.assert_problem(403, "forbidden");
            }
            let pay = app.post("/payments", Some(&stranger.token), json!({"order_id": paid.order_id})).await;
            pay.assert_problem(403, "forbidden");
        }
        app.get(&status_path, None).await.assert_problem(401, "unauthorized");
        app.get(&order_path, None).await.assert_problem(401, "unauthorized");
        for (action, body) in &calls {
            let answer = app.act(None, payment_id, action, body.clone()).await;
            assert_eq!(answer.status, 401, "{action} anonymously: {answer:?}");
            answer.assert_problem(401, "unauthorized");
        }
        app.post("/payments", None, json!({"order_id": paid.order_id})).await.assert_problem(401, "unauthorized");

        // Each party only does its own part.
        for (action, body) in &calls {
            if ["shipment", "delivered", "resolve"].contains(action) {
                let answer = app.act(Some(&buyer), payment_id, action, body.clone()).await;
                assert_eq!(answer.status, 403, "{action} by the buyer: {answer:?}");
            }
            if ["complete", "confirm", "dispute", "resolve"].contains(action) {
                let answer = app.act(Some(&seller), payment_id, action, body.clone()).await;
                assert_eq!(answer.status, 403, "{action} by the seller: {answer:?}");
            }
        }
        app.get("/payments/987654321/status", Some(&admin.token)).await.assert_problem(404, "not_found");

        // Nothing moved.
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["status"], "paid");
        assert_eq!(status["escrow_status"], "held");
        assert_eq!(status["order_status"], "paid");
        assert_eq!(status["refunded_amount"], 0);
        assert!(status["shipment"].is_null());
        assert_eq!(moves(&status, "order"), pairs(&[("pending_payment", "paid")]));
        assert_eq!(app.status(payment_id, &seller.token).await["payment_id"], payment_id);
        assert_eq!(app.status(payment_id, &admin.token).await["payment_id"], payment_id);
        assert_eq!(app.gateway_payment(&paid.imp_uid).await["cancel_amount"], 0);
        let theirs = app.get("/orders?role=buyer", Some(&other_buyer.token)).await;
        assert!(order_ids(theirs.assert_status(200)).is_empty());
        let theirs = app.get("/orders?role=seller", Some(&other_seller.token)).await;
        assert!(order_ids(theirs.assert_status(200)).is_empty());
        app.assert_ledger(&admin, 33_000, 0, 33_000, 0).await;
    }
}

// V2 only: V1 reports nothing of what the buyer does at the PG.
on_both_databases! { on_v2_only =>
    async fn what_the_buyer_does_at_the_pg_is_applied_by_reconciliation(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let at_pg = |merchant_uid: String, status: &'static str| {
            let app = &app;
            async move {
                let path = format!("/sandbox/portone-v2/_sandbox/payments/{merchant_uid}/escrow");
                app.post(&path, None, json!({"status": status})).await.assert_status(200);
            }
        };
        let confirmed = app.paid_order(&buyer, &seller, 40_000, 1).await;
        app.ship(&seller, confirmed.payment_id, "1111111111").await;
        app.deliver(&seller, confirmed.payment_id).await;
        at_pg(confirmed.merchant_uid.clone(), "CONFIRMED").await;
        let rejected = app.paid_order(&buyer, &seller, 15_000, 1).await;
        app.ship(&seller, rejected.payment_id, "2222222222").await;
        at_pg(rejected.merchant_uid.clone(), "REJECTED").await;

        let report = app.post("/admin/reconcile", Some(&admin.token), json!({})).await;
        report.assert_status(200);
        let status = app.status(confirmed.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "confirmed", "{status:#}");
        assert_eq!(status["escrow_status"], "released", "{status:#}");
        let status = app.status(rejected.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "disputed", "{status:#}");
        assert_eq!(status["escrow_status"], "held", "{status:#}");
        // Once applied, another round finds nothing more to do.
        app.post("/admin/reconcile", Some(&admin.token), json!({})).await.assert_status(200);
        let status = app.status(confirmed.payment_id, &buyer.token).await;
        assert_eq!(transitions(&status, "order", "delivered", "confirmed"), 1, "{status:#}");
        let status = app.status(rejected.payment_id, &buyer.token).await;
        assert_eq!(transitions(&status, "order", "shipping", "disputed"), 1, "{status:#}");
        app.assert_ledger(&admin, 55_000, 0, 15_000, 40_000).await;
    }
}

// V1 only: the sandbox counts its V1 face's payment look-ups, not V2's.
on_both_databases! {
    async fn the_completion_and_the_webhook_of_a_payment_ask_the_gateway_once(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let product_id = app.product(&seller, "경쟁", 21_000, 5).await;
        let order_id = app.order(&buyer, product_id, 1).await;
        let checkout = app.checkout(&buyer, order_id).await;
        let lookups = || async {
            app.get("/sandbox/portone/_sandbox/stats", None).await.assert_status(200)["payment_lookups"]
                .as_u64()
                .unwrap()
        };
        let before = lookups().await;
        // Whichever asks the gateway first is held half a second: the other arrives meanwhile.
        let fault = json!({"target": "api", "mode": "delay", "count": 1, "delay_ms": 500});
        app.post("/sandbox/portone/_sandbox/faults", None, fault).await.assert_status(200);
        let paid = app.sandbox_pay(&checkout, checkout.amount, false).await;
        let imp_uid = paid["imp_uid"].as_str().unwrap();
        let completed = app.complete(&buyer, checkout.payment_id, imp_uid).await;
        assert_eq!(completed.assert_status(200)["status"], "paid");
        app.wait_for_webhooks(1).await;
        assert_eq!(lookups().await - before, 1, "the second found it verified");
        let status = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(transitions(&status, "payment", "ready", "paid"), 1);
        assert_eq!(status["escrow_status"], "held");
    }
}

on_both_databases_with! { on_both_apis, with_fee =>
    async fn settlements_take_the_fee_after_refunds(app: TestApp) {
        let seller = app.seller().await;
        let other_seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;

        let whole = app.paid_order(&buyer, &seller, 100_000, 1).await;
        app.ship(&seller, whole.payment_id, "1000000001").await;
        app.deliver(&seller, whole.payment_id).await;
        app.confirm(&buyer, whole.payment_id).await;

        let partial = app.paid_order(&buyer, &seller, 50_000, 2).await;
        let refund = app.act(Some(&seller), partial.payment_id, "refund", json!({"reason": "하나 불량", "amount": 10_000})).await;
        assert_eq!(refund.assert_status(200)["refunded_amount"], 10_000);
        app.ship(&seller, partial.payment_id, "1000000002").await;
        app.deliver(&seller, partial.payment_id).await;
        app.confirm(&buyer, partial.payment_id).await;

        // Paid but not released: not settled.
        let held = app.paid_order(&buyer, &seller, 7_000, 1).await;

        let settlements = app.get("/settlements", Some(&seller.token)).await;
        let settlements = settlements.assert_status(200).clone();
        let items = settlements["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{settlements:#}");
        let of = |payment_id: i64| {
            items.iter().find(|s| s["payment_id"] == payment_id).unwrap_or_else(|| panic!("no settlement of {payment_id}: {settlements:#}"))
        };
        let first = of(whole.payment_id);
        assert_eq!(first["order_id"], whole.order_id);
        assert_eq!(first["gross_amount"], 100_000);
        assert_eq!(first["fee_amount"], 2_500);
        // VAT on the fee (10 % by default) is charged to the seller too.
        assert_eq!(first["fee_vat_amount"], 250);
        assert_eq!(first["net_amount"], 97_250);
        assert!(first["released_at"].as_str().unwrap().ends_with('Z'));
        let second = of(partial.payment_id);
        assert_eq!(second["order_id"], partial.order_id);
        assert_eq!(second["gross_amount"], 90_000);
        assert_eq!(second["fee_amount"], 2_250);
        assert_eq!(second["fee_vat_amount"], 225);
        assert_eq!(second["net_amount"], 87_525);
        assert!(items.iter().all(|s| s["payment_id"] != held.payment_id));
        assert_eq!(settlements["total_gross"], 190_000);
        assert_eq!(settlements["total_fee"], 4_750);
        assert_eq!(settlements["total_fee_vat"], 475);
        assert_eq!(settlements["total_net"], 184_775);

        let nothing = app.get("/settlements", Some(&other_seller.token)).await;
        let nothing = nothing.assert_status(200);
        assert!(nothing["items"].as_array().unwrap().is_empty());
        assert_eq!(nothing["total_gross"], 0);
        assert_eq!(nothing["total_net"], 0);
        app.get("/settlements", Some(&buyer.token)).await.assert_problem(403, "forbidden");
        app.get("/settlements", None).await.assert_problem(401, "unauthorized");

        // The ledger is the admin's.
        for member in [&buyer, &seller] {
            app.get("/admin/ledger", Some(&member.token)).await.assert_problem(403, "forbidden");
        }
        app.get("/admin/ledger", None).await.assert_problem(401, "unauthorized");
        app.wait_for_webhooks(4).await;
        app.assert_ledger(&admin, 207_000, 10_000, 7_000, 190_000).await;
    }
}

on_both_databases_with! { on_both_apis, fast_auto_confirm =>
    async fn delivery_is_confirmed_automatically(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 27_000, 1).await;
        app.ship(&seller, paid.payment_id, "4040404040").await;
        app.deliver(&seller, paid.payment_id).await;

        let status = app
            .wait_for_payment(paid.payment_id, &buyer.token, "automatic confirmation", |s| s["order_status"] == "confirmed")
            .await;
        assert_eq!(status["escrow_status"], "released", "{status:#}");
        assert_eq!(transitions(&status, "order", "delivered", "confirmed"), 1);
        assert_eq!(transitions(&status, "escrow", "held", "released"), 1);
        let settlements = app.get("/settlements", Some(&seller.token)).await;
        let settlements = settlements.assert_status(200);
        assert_eq!(settlements["items"][0]["payment_id"], paid.payment_id);
        assert_eq!(settlements["total_gross"], paid.amount);
        app.assert_ledger(&admin, paid.amount, 0, 0, paid.amount).await;
    }

    async fn a_dispute_stops_automatic_confirmation(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let disputed = app.paid_order(&buyer, &seller, 31_000, 1).await;
        let in_transit = app.paid_order(&buyer, &seller, 12_000, 1).await;
        app.ship(&seller, disputed.payment_id, "5050505050").await;
        app.ship(&seller, in_transit.payment_id, "6060606060").await;
        app.deliver(&seller, disputed.payment_id).await;
        app.act(Some(&buyer), disputed.payment_id, "dispute", json!({"reason": "빈 상자"})).await.assert_status(200);

        // Three times the confirmation period: neither the disputed order nor the one not
        // yet delivered is released.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let status = app.status(disputed.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "disputed", "{status:#}");
        assert_eq!(status["escrow_status"], "held");
        let status = app.status(in_transit.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "shipping", "{status:#}");
        assert_eq!(status["escrow_status"], "held");

        app.act(Some(&admin), disputed.payment_id, "resolve", json!({"outcome": "release"})).await.assert_status(200);
        let status = app.status(disputed.payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "confirmed");
        assert_eq!(status["escrow_status"], "released");
        app.assert_ledger(&admin, 43_000, 0, 12_000, 31_000).await;
    }
}

on_both_databases_with! { on_both_apis, fast_expiry =>
    async fn unpaid_orders_expire_and_give_back_stock(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let product = app.product(&seller, "한정판 음반", 99_000, 2).await;
        let order_id = app.order(&buyer, product, 2).await;

        let order = app
            .wait_for_order(order_id, &buyer.token, "the unpaid order to expire", |o| o["status"] == "expired")
            .await;
        assert!(order["payment"].is_null(), "{order:#}");
        assert_eq!(app.stock(product).await, 2);
        // An expired order cannot be paid.
        app.post("/payments", Some(&buyer.token), json!({"order_id": order_id})).await.assert_problem(409, "invalid_state");
        // Its stock is anyone's again.
        let other = app.buyer().await;
        app.try_order(&other, &[(product, 2)]).await.assert_status(201);
    }

    async fn a_payment_made_after_expiry_is_given_back(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product = app.product(&seller, "마감 임박", 15_000, 3).await;
        // The checkout must start within the 300 ms the order lives; on a slow machine the
        // order may expire first, then another one is tried.
        let mut started = None;
        for _ in 0..3 {
            let order_id = app.order(&buyer, product, 1).await;
            let answer = app.post("/payments", Some(&buyer.token), json!({"order_id": order_id})).await;
            if answer.status == 201 {
                started = Some((order_id, answer.body));
                break;
            }
            answer.assert_problem(409, "invalid_state");
        }
        let (order_id, body) = started.expect("a checkout started before its order expired");
        let payment_id = body["payment_id"].as_i64().unwrap();
        app.wait_for_order(order_id, &buyer.token, "the unpaid order to expire", |o| o["status"] == "expired").await;

        // The buyer's checkout page was still open: the gateway takes the money anyway.
        let paid = app
            .post(
                "/sandbox/portone/_sandbox/payments",
                None,
                json!({"merchant_uid": body["merchant_uid"], "amount": body["amount"], "notice_url": body["checkout"]["notice_url"]}),
            )
            .await;
        let paid = paid.assert_status(200).clone();
        assert_eq!(paid["status"], "paid", "{paid:#}");
        let imp_uid = paid["imp_uid"].as_str().unwrap().to_string();
        let late = app.complete(&buyer, payment_id, &imp_uid).await;
        assert_not_server_error(&late);
        if late.status == 200 {
            assert_ne!(late.body["status"], "paid", "{:#}", late.body);
        }

        // Nothing is sold from an expired order: the money goes back.
        app.wait_for_gateway(&imp_uid, "the late payment to be cancelled", |p| p["status"] == "cancelled").await;
        app.wait_for_webhooks(2).await;
        let status = app.status(payment_id, &buyer.token).await;
        assert_eq!(status["order_status"], "expired", "{status:#}");
        assert_ne!(status["status"], "paid", "{status:#}");
        assert_ne!(status["escrow_status"], "held", "{status:#}");
        assert_ne!(status["escrow_status"], "released", "{status:#}");
        app.poll(&format!("/products/{product}"), None, "every reserved unit back in stock", |p| p["stock"] == 3).await;
        app.assert_ledger_balanced(&admin).await;
    }
}
