//! Virtual-account (vbank) escrow (api.md §9), on both databases: the account issued and
//! shown, only the exact deposit paying it, expiry revoking it, the buyer's cancel before
//! the deposit, refunds to the buyer's own account, and the gateway's `ready` and `paid`
//! webhooks arriving twice, out of order or not at all.

use crate::escrow_support::*;
use crate::support::{Answer, Member, TestApp};
use escrow::config::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// A checkout paid by virtual account, and the account the gateway issued for it.
struct Account {
    checkout: Checkout,
    imp_uid: String,
}

#[allow(async_fn_in_trait)]
trait VbankApp: EscrowApp {
    /// `POST /payments {order_id, pay_method: "vbank"}`.
    async fn vbank_checkout(&self, buyer: &Member, order_id: i64) -> Checkout {
        let answer = self
            .app()
            .post(
                "/payments",
                Some(&buyer.token),
                json!({"order_id": order_id, "pay_method": "vbank"}),
            )
            .await;
        let body = answer.assert_status(201).clone();
        assert_eq!(body["status"], "ready", "{body:#}");
        assert_eq!(body["checkout"]["pay_method"], "vbank", "{body:#}");
        Checkout {
            payment_id: body["payment_id"].as_i64().unwrap(),
            order_id,
            merchant_uid: body["merchant_uid"].as_str().unwrap().to_string(),
            amount: body["amount"].as_i64().unwrap(),
            notice_url: body["checkout"]["notice_url"].as_str().unwrap().to_string(),
            body,
        }
    }

    /// The buyer finishing the gateway's checkout with a virtual account: issued, and the
    /// `ready` webhook sent to the service.
    async fn issue(&self, checkout: &Checkout) -> String {
        let issued = self
            .sandbox_checkout(checkout, checkout.amount, false, "vbank")
            .await;
        assert_eq!(issued["status"], "ready", "{issued:#}");
        issued["imp_uid"].as_str().unwrap().to_string()
    }

    /// A bank transfer into the account of `checkout`, as the sandbox answers it.
    async fn deposit(&self, checkout: &Checkout, imp_uid: &str, amount: i64) -> Answer {
        self.sandbox_deposit(imp_uid, &checkout.merchant_uid, amount)
            .await
    }

    /// A product of `seller` (stock 10) ordered by `buyer`, with its account issued and
    /// recorded (status `awaiting_deposit`).
    async fn awaiting(&self, buyer: &Member, seller: &Member, price: i64) -> (i64, Account) {
        let product_id = self.app().product(seller, "가상계좌 상품", price, 10).await;
        let order_id = self.order(buyer, product_id, 1).await;
        let checkout = self.vbank_checkout(buyer, order_id).await;
        let imp_uid = self.issue(&checkout).await;
        self.wait_for_payment(checkout.payment_id, &buyer.token, "the account", |s| {
            s["status"] == "awaiting_deposit"
        })
        .await;
        (product_id, Account { checkout, imp_uid })
    }

    /// Deposits the exact amount and waits for the `paid` webhook's work.
    async fn deposit_paid(&self, buyer: &Member, account: &Account) -> Value {
        let paid = self
            .deposit(&account.checkout, &account.imp_uid, account.checkout.amount)
            .await;
        assert_eq!(paid.assert_status(200)["status"], "paid");
        self.wait_for_payment(account.checkout.payment_id, &buyer.token, "paid", |s| {
            s["status"] == "paid"
        })
        .await
    }

    async fn events(&self, order_id: i64, event_type: &str) -> i64 {
        self.app()
            .count(&format!(
                "outbox_events WHERE order_id = {order_id} AND event_type = '{event_type}'"
            ))
            .await
    }
}

impl VbankApp for TestApp {}

fn refund_account() -> Value {
    json!({"bank_code": "088", "account_number": "110-123-456789", "holder": "구매자"})
}

fn fast_expiry(config: &mut Config) {
    config.vbank_due = Duration::from_secs(4);
    set_job_interval(config, Duration::from_millis(100));
}

on_both_databases! { on_both_apis =>
    async fn issued_then_only_the_exact_deposit_pays_it_by_webhook_alone(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "가상계좌 상품", 23_000, 10).await;
        let order_id = app.order(&buyer, product_id, 1).await;
        let checkout = app.vbank_checkout(&buyer, order_id).await;
        // The due time, ESCROW_VBANK_DUE (24h) from now, and the same time as KG Inicis's
        // SDK wants it; the order waits until then.
        let due_at = checkout.body["vbank_due_at"].as_str().unwrap().to_string();
        let due_text = checkout.body["checkout"]["vbank_due"].as_str().unwrap();
        assert_eq!(due_text.len(), 12, "{due_text}");
        assert!(due_text.bytes().all(|b| b.is_ascii_digit()), "{due_text}");
        let order = app.order_json(order_id, &buyer.token).await;
        assert_eq!(order["expires_at"], due_at.as_str(), "{order:#}");

        let imp_uid = app.issue(&checkout).await;
        let status = app
            .wait_for_payment(checkout.payment_id, &buyer.token, "the account", |s| {
                s["status"] == "awaiting_deposit"
            })
            .await;
        let vbank = &status["vbank"];
        assert_eq!(vbank["bank_code"], "004", "{status:#}");
        assert_eq!(vbank["bank_name"], "KB국민은행", "{status:#}");
        assert!(vbank["account_number"].as_str().is_some_and(|n| n.len() >= 10), "{status:#}");
        assert!(vbank["holder"].is_string() && vbank["due_at"].is_string(), "{status:#}");
        assert_eq!(status["order_status"], "pending_payment");
        assert_eq!(status["escrow_status"], "pending");
        assert_eq!(app.events(order_id, "payment.vbank_issued").await, 1);

        for wrong in [22_999, 23_001] {
            app.deposit(&checkout, &imp_uid, wrong).await.assert_status(409);
        }
        let unchanged = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(unchanged["status"], "awaiting_deposit");

        let paid = app.deposit_paid(&buyer, &Account { checkout: checkout.clone(), imp_uid }).await;
        assert_eq!(paid["escrow_status"], "held", "{paid:#}");
        assert_eq!(paid["order_status"], "paid", "{paid:#}");
        assert_eq!(paid["pay_method"], "vbank", "{paid:#}");
        assert_eq!(
            moves(&paid, "payment"),
            pairs(&[("ready", "awaiting_deposit"), ("awaiting_deposit", "paid")])
        );
        assert_eq!(app.events(order_id, "payment.paid").await, 1);
        assert_eq!(app.stock(product_id).await, 9);
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_second_payment_is_refused_while_an_account_awaits_its_deposit(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let (_, account) = app.awaiting(&buyer, &seller, 5_000).await;
        for pay_method in ["card", "vbank"] {
            app.post(
                "/payments",
                Some(&buyer.token),
                json!({"order_id": account.checkout.order_id, "pay_method": pay_method}),
            )
            .await
            .assert_problem(409, "invalid_state");
        }
        app.post(
            "/payments",
            Some(&buyer.token),
            json!({"order_id": account.checkout.order_id, "pay_method": "cash"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    }

    async fn the_buyers_cancel_before_the_deposit_revokes_the_account(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let (product_id, account) = app.awaiting(&buyer, &seller, 8_000).await;
        assert_eq!(app.stock(product_id).await, 9);
        let cancelled = app
            .post(
                &format!("/payments/{}/cancel", account.checkout.payment_id),
                Some(&buyer.token),
                json!({"reason": "다른 방법으로 결제"}),
            )
            .await;
        cancelled.assert_status(200);
        let status = app.status(account.checkout.payment_id, &buyer.token).await;
        assert_eq!(
            (status["status"].as_str(), status["order_status"].as_str()),
            (Some("cancelled"), Some("cancelled")),
            "{status:#}"
        );
        assert_eq!(app.stock(product_id).await, 10);
        let gateway = app.gateway_payment(&account.imp_uid).await;
        assert_eq!(gateway["status"], "cancelled", "{gateway:#}");
        app.deposit(&account.checkout, &account.imp_uid, 8_000).await.assert_status(409);
        let after = app.status(account.checkout.payment_id, &buyer.token).await;
        assert_eq!(after["status"], "cancelled");
    }

    async fn a_paid_vbank_refund_needs_the_buyers_account(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let (_, account) = app.awaiting(&buyer, &seller, 30_000).await;
        app.deposit_paid(&buyer, &account).await;
        let path = format!("/payments/{}/refund", account.checkout.payment_id);

        let missing = app
            .post(&path, Some(&seller.token), json!({"reason": "품절", "amount": 10_000}))
            .await;
        missing.assert_problem(422, "validation_failed");
        assert_eq!(missing.body["errors"][0]["field"], "refund_account", "{:#}", missing.body);
        let bad_bank = app
            .post(
                &path,
                Some(&seller.token),
                json!({"reason": "품절", "amount": 10_000,
                       "refund_account": {"bank_code": "88", "account_number": "110123456789", "holder": "구매자"}}),
            )
            .await;
        bad_bank.assert_problem(422, "validation_failed");
        assert_eq!(bad_bank.body["errors"][0]["field"], "refund_account.bank_code");
        let cancel_without = app
            .post(
                &format!("/payments/{}/cancel", account.checkout.payment_id),
                Some(&buyer.token),
                json!({"reason": "변심"}),
            )
            .await;
        cancel_without.assert_problem(422, "validation_failed");
        assert_eq!(app.gateway_payment(&account.imp_uid).await["cancel_amount"], 0);

        let refunded = app
            .post(
                &path,
                Some(&seller.token),
                json!({"reason": "품절", "amount": 10_000, "refund_account": refund_account()}),
            )
            .await;
        let body = refunded.assert_status(200);
        assert_eq!(body["refund"]["status"], "succeeded", "{body:#}");
        assert_eq!(body["refunded_amount"], 10_000);
        // The rest, by the buyer's cancel before shipment.
        app.post(
            &format!("/payments/{}/cancel", account.checkout.payment_id),
            Some(&buyer.token),
            json!({"reason": "변심", "refund_account": refund_account()}),
        )
        .await
        .assert_status(200);
        let gateway = app.gateway_payment(&account.imp_uid).await;
        assert_eq!(gateway["cancel_amount"], 30_000, "{gateway:#}");
        assert_eq!(gateway["status"], "cancelled");
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_dispute_refund_of_a_vbank_payment_goes_to_the_buyers_account(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let (_, account) = app.awaiting(&buyer, &seller, 20_000).await;
        app.deposit_paid(&buyer, &account).await;
        let id = account.checkout.payment_id;
        app.ship(&seller, id, "123456789").await;
        app.act(Some(&buyer), id, "dispute", json!({"reason": "파손"}))
            .await
            .assert_status(200);
        let without = app
            .act(Some(&admin), id, "resolve", json!({"outcome": "refund", "amount": 5_000}))
            .await;
        without.assert_problem(422, "validation_failed");
        assert_eq!(without.body["errors"][0]["field"], "refund_account");
        app.act(
            Some(&admin),
            id,
            "resolve",
            json!({"outcome": "refund", "amount": 5_000, "refund_account": refund_account()}),
        )
        .await
        .assert_status(200);
        let status = app.status(id, &buyer.token).await;
        assert_eq!(status["refunded_amount"], 5_000, "{status:#}");
        assert_eq!(status["order_status"], "confirmed", "{status:#}");
        assert_eq!(app.gateway_payment(&account.imp_uid).await["cancel_amount"], 5_000);
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_returned_vbank_payment_is_refunded_to_the_account_named_with_the_return(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let (_, account) = app.awaiting(&buyer, &seller, 16_000).await;
        app.deposit_paid(&buyer, &account).await;
        let id = account.checkout.payment_id;
        app.ship(&seller, id, "123456789").await;
        app.deliver(&seller, id).await;
        // The refund goes by bank transfer: the buyer names the account with the return.
        let ask = json!({"kind": "return", "reason_code": "defective", "reason": "파손"});
        let without = app.act(Some(&buyer), id, "return", ask.clone()).await;
        without.assert_problem(422, "validation_failed");
        assert_eq!(without.body["errors"][0]["field"], "refund_account");
        let mut with = ask;
        with["refund_account"] = refund_account();
        app.act(Some(&buyer), id, "return", with).await.assert_status(200);
        app.act(Some(&buyer), id, "return/shipment", json!({"courier": "EPOST", "invoice_number": "6543210"}))
            .await
            .assert_status(200);
        app.act(Some(&seller), id, "return/received", json!({})).await.assert_status(200);
        app.act(Some(&seller), id, "return/accept", json!({})).await.assert_status(200);
        let status = app.status(id, &buyer.token).await;
        assert_eq!((status["order_status"].as_str(), status["refunded_amount"].as_i64()), (Some("returned"), Some(16_000)), "{status:#}");
        assert_eq!(app.gateway_payment(&account.imp_uid).await["cancel_amount"], 16_000);
        app.assert_ledger(&admin, 16_000, 16_000, 0, 0).await;
    }

    async fn ready_and_paid_webhooks_twice_or_out_of_order_change_nothing_more(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "가상계좌 상품", 12_000, 10).await;
        let order_id = app.order(&buyer, product_id, 1).await;
        let checkout = app.vbank_checkout(&buyer, order_id).await;
        // The `ready` webhook is lost; the `paid` one arrives first.
        app.sandbox_fault("webhook", "drop", 1).await;
        let imp_uid = app.issue(&checkout).await;
        app.wait_for_webhooks(0).await;
        let before = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(before["status"], "ready");
        app.sandbox_fault("webhook", "duplicate", 1).await;
        app.deposit(&checkout, &imp_uid, 12_000).await.assert_status(200);
        let paid = app
            .wait_for_payment(checkout.payment_id, &buyer.token, "paid", |s| s["status"] == "paid")
            .await;
        app.wait_for_webhooks(2).await;
        // Now the late `ready` notice, twice: the gateway says paid, nothing changes.
        let ready = json!({"imp_uid": imp_uid, "merchant_uid": checkout.merchant_uid, "status": "ready"});
        for _ in 0..2 {
            app.webhook(ready.clone()).await.assert_status(200);
        }
        let after = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(moves(&after, "payment"), moves(&paid, "payment"));
        assert_eq!(moves(&after, "payment"), pairs(&[("ready", "paid")]));
        assert_eq!(app.events(order_id, "payment.paid").await, 1);
        assert_eq!(app.stock(product_id).await, 9);
        app.assert_ledger_balanced(&admin).await;
    }

    async fn reconciliation_heals_lost_ready_and_paid_webhooks(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "가상계좌 상품", 9_000, 10).await;
        let order_id = app.order(&buyer, product_id, 1).await;
        let checkout = app.vbank_checkout(&buyer, order_id).await;
        app.sandbox_fault("webhook", "drop", 2).await;
        let imp_uid = app.issue(&checkout).await;
        app.post("/admin/reconcile", Some(&admin.token), json!({}))
            .await
            .assert_status(200);
        let awaiting = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(awaiting["status"], "awaiting_deposit", "{awaiting:#}");
        assert_eq!(awaiting["imp_uid"], imp_uid.as_str());
        assert!(awaiting["vbank"]["account_number"].is_string(), "{awaiting:#}");

        app.deposit(&checkout, &imp_uid, 9_000).await.assert_status(200);
        assert_eq!(app.status(checkout.payment_id, &buyer.token).await["status"], "awaiting_deposit");
        app.post("/admin/reconcile", Some(&admin.token), json!({}))
            .await
            .assert_status(200);
        let paid = app.status(checkout.payment_id, &buyer.token).await;
        assert_eq!(
            (paid["status"].as_str(), paid["escrow_status"].as_str()),
            (Some("paid"), Some("held")),
            "{paid:#}"
        );
        app.assert_ledger_balanced(&admin).await;
    }

    async fn the_bank_list_is_kftc_codes(app: TestApp) {
        let banks = app.get("/banks", None).await;
        let items = banks.assert_status(200)["items"].as_array().unwrap().clone();
        let find = |code: &str| items.iter().find(|b| b["code"] == code).map(|b| b["name"].clone());
        assert_eq!(find("004"), Some(json!("KB국민은행")));
        assert_eq!(find("088"), Some(json!("신한은행")));
        assert_eq!(find("090"), Some(json!("카카오뱅크")));
        assert!(items.iter().all(|b| b["code"].as_str().is_some_and(|c| c.len() == 3)));
    }
}

on_both_databases_with! { on_both_apis, fast_expiry =>
    async fn no_deposit_by_the_due_time_expires_and_revokes_the_account(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let (product_id, account) = app.awaiting(&buyer, &seller, 7_000).await;
        assert_eq!(app.stock(product_id).await, 9);
        let expired = app
            .wait_for_payment(account.checkout.payment_id, &buyer.token, "expiry", |s| {
                s["order_status"] == "expired"
            })
            .await;
        assert_eq!(expired["status"], "cancelled", "{expired:#}");
        assert_eq!(app.stock(product_id).await, 10);
        assert_eq!(app.events(account.checkout.order_id, "payment.vbank_expired").await, 1);
        let gateway = app.gateway_payment(&account.imp_uid).await;
        assert_eq!(gateway["status"], "cancelled", "{gateway:#}");
        // The late transfer is refused by the bank: nothing changes.
        app.deposit(&account.checkout, &account.imp_uid, 7_000).await.assert_status(409);
        let after = app.status(account.checkout.payment_id, &buyer.token).await;
        assert_eq!(after["status"], "cancelled");
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_deposit_the_expiry_finds_completes_the_payment(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "가상계좌 상품", 6_000, 10).await;
        let order_id = app.order(&buyer, product_id, 1).await;
        let checkout = app.vbank_checkout(&buyer, order_id).await;
        // Neither webhook arrives: the expiry is the first to ask the gateway.
        app.sandbox_fault("webhook", "drop", 2).await;
        let imp_uid = app.issue(&checkout).await;
        app.deposit(&checkout, &imp_uid, 6_000).await.assert_status(200);
        let paid = app
            .wait_for_payment(checkout.payment_id, &buyer.token, "paid by the expiry's look-up", |s| {
                s["status"] == "paid"
            })
            .await;
        assert_eq!(paid["order_status"], "paid", "{paid:#}");
        assert_eq!(app.stock(product_id).await, 9);
        app.assert_ledger_balanced(&admin).await;
    }
}
