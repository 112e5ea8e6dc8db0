//! Virtual accounts under concurrency, on both databases, a fresh order each round: the
//! browser's completion, the gateway's `ready` webhook and reconciliation recording one
//! issued account at once; the buyer's cancel and the bank transfer landing together; a
//! refund to the buyer's bank account and the buyer's confirmation landing together.
//! Whichever wins, our record agrees with the gateway's and the ledger balances.

use crate::escrow_support::*;
use crate::money::{answered, money_disagreements, Payment, Surface, Viewers};
use crate::support::{Member, TestApp};
use serde_json::json;

const ROUNDS: usize = 6;
const PRICE: i64 = 11_000;

struct Round {
    order_id: i64,
    payment_id: i64,
    merchant_uid: String,
    imp_uid: String,
}

/// An order paid by virtual account whose account the gateway issued, its `ready`
/// webhook lost, so that the racers below are the first to learn of it.
async fn issued(app: &TestApp, buyer: &Member, product_id: i64) -> Round {
    let order_id = app.order(buyer, product_id, 1).await;
    let created = app
        .post(
            "/payments",
            Some(&buyer.token),
            json!({"order_id": order_id, "pay_method": "vbank"}),
        )
        .await;
    let body = created.assert_status(201).clone();
    let merchant_uid = body["merchant_uid"].as_str().unwrap().to_string();
    app.sandbox_fault("webhook", "drop", 1).await;
    let checkout = Checkout {
        payment_id: body["payment_id"].as_i64().unwrap(),
        order_id,
        merchant_uid: merchant_uid.clone(),
        amount: PRICE,
        notice_url: body["checkout"]["notice_url"].as_str().unwrap().to_string(),
        body: body.clone(),
    };
    let issued = app.sandbox_checkout(&checkout, PRICE, false, "vbank").await;
    let imp_uid = issued["imp_uid"].as_str().unwrap().to_string();
    Round {
        order_id,
        payment_id: body["payment_id"].as_i64().unwrap(),
        merchant_uid,
        imp_uid,
    }
}

on_both_databases! { on_both_apis =>
    async fn completion_webhook_and_reconciliation_record_one_account(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "경합 가상계좌", PRICE, 100).await;
        let mut wrong = Vec::new();
        for round in 0..ROUNDS {
            let r = issued(&app, &buyer, product_id).await;
            let notice = json!({"imp_uid": r.imp_uid, "merchant_uid": r.merchant_uid, "status": "ready"});
            let (completed, first, second, reconciled) = tokio::join!(
                app.complete(&buyer, r.payment_id, &r.imp_uid),
                app.webhook(notice.clone()),
                app.webhook(notice.clone()),
                app.post("/admin/reconcile", Some(&admin.token), json!({})),
            );
            for answer in [&completed, &first, &second, &reconciled] {
                assert_not_server_error(answer);
            }
            let status = app.status(r.payment_id, &buyer.token).await;
            let issued_moves = transitions(&status, "payment", "ready", "awaiting_deposit");
            let accounts = app
                .app()
                .count(&format!("vbank_accounts WHERE payment_id = {}", r.payment_id))
                .await;
            let events = app
                .app()
                .count(&format!(
                    "outbox_events WHERE order_id = {} AND event_type = 'payment.vbank_issued'",
                    r.order_id
                ))
                .await;
            if status["status"] != "awaiting_deposit" || issued_moves != 1 || accounts != 1 || events != 1 {
                wrong.push(format!(
                    "round {round}: status {}, {issued_moves} moves, {accounts} accounts, {events} events",
                    status["status"]
                ));
            }
        }
        assert!(wrong.is_empty(), "{} of {ROUNDS} rounds went wrong: {wrong:#?}", wrong.len());
        app.assert_ledger_balanced(&admin).await;
    }

    async fn the_buyers_cancel_and_the_deposit_land_together(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "경합 가상계좌", PRICE, 100).await;
        let mut wrong = Vec::new();
        let mut outcomes = std::collections::BTreeMap::new();
        for round in 0..ROUNDS {
            let r = issued(&app, &buyer, product_id).await;
            app.complete(&buyer, r.payment_id, &r.imp_uid).await.assert_status(200);
            let cancel_path = format!("/payments/{}/cancel", r.payment_id);
            let (cancelled, deposited) = tokio::join!(
                app.post(
                    &cancel_path,
                    Some(&buyer.token),
                    json!({"reason": "마음이 바뀜"}),
                ),
                app.sandbox_deposit(&r.imp_uid, &r.merchant_uid, PRICE),
            );
            assert_not_server_error(&cancelled);
            let gateway = app.gateway_payment(&r.imp_uid).await;
            // The paid webhook, if the transfer went through, may still be on its way.
            let ours = app
                .wait_for_payment(r.payment_id, &buyer.token, "the payment to settle", |s| {
                    s["status"] != "awaiting_deposit"
                        && (gateway["status"] != "paid" || s["status"] == "paid")
                })
                .await;
            let agrees = match gateway["status"].as_str() {
                // The transfer won: paid and held; the cancel was asked for a refund account.
                Some("paid") => {
                    deposited.status.as_u16() == 200
                        && ours["escrow_status"] == "held"
                        && ours["order_status"] == "paid"
                        && cancelled.status.as_u16() == 422
                }
                // The revoke won: the transfer was refused and nothing was paid.
                Some("cancelled") => {
                    deposited.status.as_u16() == 409
                        && ours["status"] == "cancelled"
                        && ours["order_status"] == "cancelled"
                        && gateway["amount"] == PRICE
                        && gateway["paid_at"] == 0
                }
                _ => false,
            };
            *outcomes.entry(gateway["status"].to_string()).or_insert(0) += 1;
            if !agrees {
                wrong.push(format!(
                    "round {round}: gateway {}, ours {} / {}, cancel {}, deposit {}",
                    gateway["status"], ours["status"], ours["order_status"], cancelled.status, deposited.status
                ));
            }
        }
        assert!(wrong.is_empty(), "{} of {ROUNDS} rounds went wrong ({outcomes:?}): {wrong:#?}", wrong.len());
        app.assert_ledger_balanced(&admin).await;
    }

    async fn a_refund_to_the_buyers_account_and_the_confirmation_land_together(app: TestApp) {
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        let admin = app.admin().await;
        let product_id = app.product(&seller, "경합 가상계좌", PRICE, 100).await;
        let viewers = Viewers { buyer: &buyer.token, seller: &seller.token, admin: &admin.token };
        let mut wrong = Vec::new();
        let mut outcomes = std::collections::BTreeMap::new();
        for round in 0..ROUNDS {
            let r = issued(&app, &buyer, product_id).await;
            app.complete(&buyer, r.payment_id, &r.imp_uid).await.assert_status(200);
            app.sandbox_deposit(&r.imp_uid, &r.merchant_uid, PRICE).await.assert_status(200);
            app.wait_for_payment(r.payment_id, &buyer.token, "the deposit", |s| s["status"] == "paid").await;
            app.ship(&seller, r.payment_id, "5550002").await;
            app.deliver(&seller, r.payment_id).await;
            let refund = json!({"reason": "일부 환불", "amount": 4_000,
                                "refund_account": {"bank_code": "088", "account_number": "110-123-456789", "holder": "구매자"}});
            let (refunded, confirmed) = tokio::join!(
                app.act(Some(&seller), r.payment_id, "refund", refund),
                app.act(Some(&buyer), r.payment_id, "confirm", json!({})),
            );
            let outcome = format!("refund {}, confirm {}", answered(&refunded), answered(&confirmed));
            *outcomes.entry(outcome).or_insert(0) += 1;
            let payment = Payment { id: r.payment_id, imp_uid: r.imp_uid.clone(), amount: PRICE };
            let answers = [("refund", &refunded), ("confirm", &confirmed)];
            for finding in money_disagreements(&Surface::of(&app), &viewers, &payment, &answers).await {
                wrong.push(format!("round {round}: {}: {}", finding.what, finding.evidence));
            }
        }
        assert!(wrong.is_empty(), "{} findings over {ROUNDS} rounds ({outcomes:?}): {wrong:#?}", wrong.len());
        eprintln!("vbank refund × confirm, {ROUNDS} rounds: {outcomes:?}");
        app.assert_ledger_balanced(&admin).await;
    }
}
