//! The authorization matrix: every route of the router table × every kind of caller.
//! Generated from `escrow_http::router::ROUTES`, so a new route without a declared policy
//! fails here, and a route missing from the OpenAPI document fails too.

use crate::escrow_support::{shipping, EscrowApp};
use crate::support::Answer;
use escrow_http::router::ROUTES;
use reqwest::Method;
use serde_json::{json, Value};

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Anonymous,
    Buyer,
    OtherBuyer,
    Seller,
    OtherSeller,
    Admin,
}

use Who::*;
const EVERYONE: &[Who] = &[Anonymous, Buyer, OtherBuyer, Seller, OtherSeller, Admin];
const SIGNED_IN: &[Who] = &[Buyer, OtherBuyer, Seller, OtherSeller, Admin];

/// Routes no member calls: their caller proves itself by signature (`webhooks.rs` tests it).
const SIGNED_BY_THE_GATEWAY: &[&str] = &["/webhooks/portone/v2"];

/// Who may call each route (on the buyer's order of the seller's product).
fn policy(method: &str, path: &str) -> Option<&'static [Who]> {
    Some(match (method, path) {
        ("post", "/auth/signup" | "/auth/login" | "/webhooks/portone") => EVERYONE,
        (
            "get",
            "/products" | "/products/{product_id}" | "/banks" | "/healthz" | "/readyz" | "/metrics",
        ) => EVERYONE,
        ("get", "/auth/me" | "/cart" | "/orders") => SIGNED_IN,
        ("post", "/auth/logout") => SIGNED_IN,
        ("put" | "delete", "/cart/items/{product_id}") => SIGNED_IN,
        ("post", "/orders") => SIGNED_IN,
        ("post", "/products") => &[Seller, OtherSeller],
        ("get", "/settlements") => &[Seller, OtherSeller],
        ("get" | "put", "/sellers/me/bank-account") => &[Seller, OtherSeller],
        ("post", "/payments/{payment_id}/chargeback") => &[Admin],
        (
            "get",
            "/admin/payouts"
            | "/admin/payouts/{payout_id}"
            | "/admin/payouts/{payout_id}/transfer.csv"
            | "/admin/settlements/overdue",
        ) => &[Admin],
        (
            "post",
            "/admin/payouts"
            | "/admin/payouts/{payout_id}/items/{seller_id}/paid"
            | "/admin/payouts/{payout_id}/items/{seller_id}/failed",
        ) => &[Admin],
        ("put" | "delete", "/products/{product_id}") => &[Seller],
        (
            "get",
            "/orders/{order_id}"
            | "/payments/{payment_id}/status"
            | "/payments/{payment_id}/refunds",
        ) => &[Buyer, Seller, Admin],
        (
            "post",
            "/payments" | "/payments/{payment_id}/complete" | "/payments/{payment_id}/confirm",
        ) => &[Buyer],
        ("post", "/payments/{payment_id}/dispute") => &[Buyer],
        ("post", "/payments/{payment_id}/return" | "/payments/{payment_id}/return/shipment") => {
            &[Buyer]
        }
        (
            "post",
            "/payments/{payment_id}/return/received"
            | "/payments/{payment_id}/return/accept"
            | "/payments/{payment_id}/return/reject",
        ) => &[Seller],
        ("post", "/payments/{payment_id}/shipment") => &[Seller],
        ("post", "/payments/{payment_id}/delivered") => &[Seller, Admin],
        ("post", "/payments/{payment_id}/cancel") => &[Buyer, Seller],
        ("post", "/payments/{payment_id}/refund") => &[Buyer, Seller, Admin],
        ("post", "/payments/{payment_id}/resolve") => &[Admin],
        ("get", "/admin/ledger" | "/admin/disputes") | ("post", "/admin/reconcile") => &[Admin],
        ("get" | "post", "/admin/webhook-endpoints")
        | ("delete", "/admin/webhook-endpoints/{endpoint_id}")
        | ("get", "/admin/webhook-endpoints/{endpoint_id}/deliveries")
        | ("post", "/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend") => {
            &[Admin]
        }
        _ => return None,
    })
}

on_both_databases! {
    async fn every_route_refuses_whoever_it_should(app: TestApp) {
        let buyer = app.buyer().await;
        let other_buyer = app.buyer().await;
        let seller = app.seller().await;
        let other_seller = app.seller().await;
        let admin = app.admin().await;
        let paid = app.paid_order(&buyer, &seller, 10_000, 1).await;
        let unpaid_order = app.order(&buyer, paid.product_id, 1).await;

        let member = |who: Who| match who {
            Anonymous => None,
            Buyer => Some(&buyer),
            OtherBuyer => Some(&other_buyer),
            Seller => Some(&seller),
            OtherSeller => Some(&other_seller),
            Admin => Some(&admin),
        };
        // Logging out revokes a caller's tokens: the matrix then signs them in again.
        let tokens = std::cell::RefCell::new(std::collections::HashMap::new());
        let token = |who: Who| -> Option<String> {
            let current = tokens.borrow().get(&who).cloned();
            current.or_else(|| member(who).map(|m| m.token.clone()))
        };
        // A body each route accepts, so that a refusal is the policy's and not validation's.
        let body = |method: &str, path: &str| -> Option<Value> {
            Some(match (method, path) {
                ("post", "/auth/signup") => json!({"email": format!("m-{}@example.kr", uuid::Uuid::new_v4().simple()), "password": "password-123", "name": "N"}),
                ("post", "/auth/login") => json!({"email": "nobody@example.kr", "password": "wrong-password"}),
                ("post" | "put", "/products" | "/products/{product_id}") => json!({"name": "n", "description": "", "price": 1000, "stock": 5}),
                ("put", "/cart/items/{product_id}") => json!({"quantity": 1}),
                ("post", "/orders") => json!({"items": [{"product_id": paid.product_id, "quantity": 1}], "shipping": shipping()}),
                ("post", "/payments") => json!({"order_id": unpaid_order}),
                ("post", "/payments/{payment_id}/complete") => json!({"imp_uid": paid.imp_uid}),
                ("post", "/payments/{payment_id}/shipment") => json!({"courier": "CJGLS", "invoice_number": "12345"}),
                ("post", "/payments/{payment_id}/refund") => json!({"reason": "r", "amount": 100}),
                ("post", "/payments/{payment_id}/dispute" | "/payments/{payment_id}/cancel" | "/payments/{payment_id}/return/reject") => json!({"reason": "r"}),
                ("post", "/payments/{payment_id}/return") => json!({"kind": "return", "reason_code": "defective", "reason": "r"}),
                ("post", "/payments/{payment_id}/return/shipment") => json!({"courier": "CJGLS", "invoice_number": "12345"}),
                ("post", "/payments/{payment_id}/resolve") => json!({"outcome": "release"}),
                ("post", "/admin/webhook-endpoints") => json!({"url": "http://127.0.0.1:9/hook"}),
                ("post", "/payments/{payment_id}/chargeback") => json!({"amount": 100, "reason": "r"}),
                ("put", "/sellers/me/bank-account") => json!({"bank_code": "004", "account_number": "123456789012", "holder": "김판매"}),
                ("post", "/admin/payouts/{payout_id}/items/{seller_id}/failed") => json!({"reason": "r"}),
                ("post", "/webhooks/portone") => json!({"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid}),
                ("post", _) | ("put", _) => json!({}),
                _ => return None,
            })
        };

        let mut unpoliced = Vec::new();
        let mut checked = 0;
        for (method, template) in ROUTES {
            if SIGNED_BY_THE_GATEWAY.contains(template) {
                continue;
            }
            let Some(allowed) = policy(method, template) else {
                unpoliced.push(format!("{method} {template}"));
                continue;
            };
            let path = template
                .replace("{product_id}", &paid.product_id.to_string())
                .replace("{order_id}", &paid.order_id.to_string())
                .replace("{payment_id}", &paid.payment_id.to_string())
                .replace("{endpoint_id}", "1")
                .replace("{delivery_id}", "1")
                .replace("{payout_id}", "1")
                .replace("{seller_id}", &seller.id.to_string());
            let method_value = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Refusals first: an allowed call may change the state the others see.
            let mut order: Vec<Who> = EVERYONE.iter().copied().filter(|w| !allowed.contains(w)).collect();
            order.extend(allowed.iter().copied());
            for who in order {
                let answer: Answer = app
                    .request(method_value.clone(), &path, token(who).as_deref(), body(method, template))
                    .await;
                let status = answer.status.as_u16();
                assert!(status < 500, "{method} {path} as {who:?}: {status} {:#}", answer.body);
                if allowed.contains(&who) {
                    let refused = answer.body["code"] == "unauthorized" || answer.body["code"] == "forbidden";
                    assert!(!refused, "{method} {path} as {who:?} was refused: {:#}", answer.body);
                } else if who == Anonymous {
                    answer.assert_problem(401, "unauthorized");
                } else {
                    answer.assert_problem(403, "forbidden");
                }
                if allowed.contains(&who) && *template == "/auth/logout" {
                    let signed_out = member(who).unwrap();
                    let again = app.logged_in(signed_out.id, signed_out.email.clone(), signed_out.password.clone()).await;
                    tokens.borrow_mut().insert(who, again.token);
                }
                checked += 1;
            }
        }
        assert!(unpoliced.is_empty(), "routes with no declared policy: {unpoliced:?}");
        assert_eq!(checked, (ROUTES.len() - SIGNED_BY_THE_GATEWAY.len()) * EVERYONE.len());
    }

    async fn every_route_is_in_the_openapi_document(app: TestApp) {
        let doc = app.get("/openapi.json", None).await;
        let paths = &doc.assert_status(200)["paths"];
        for (method, template) in ROUTES {
            assert!(paths[*template].get(*method).is_some(), "{method} {template} is missing from /openapi.json");
        }
        let documented: usize = paths.as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, ROUTES.len(), "/openapi.json documents a route the router does not have");
    }
}
