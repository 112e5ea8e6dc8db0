//! Helpers for the escrow lifecycle scenarios: buying, paying through the sandbox the way a
//! browser does, polling for background work, and reading the ledger. Kept apart from
//! `support.rs` (the general harness) as an extension trait on `TestApp`.

use crate::support::{Answer, Api, Backend, Member, TestApp, TestDatabase};
use escrow::config::Config;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Runs each scenario on SQLite and on MySQL/MariaDB, with a configuration changed by
/// `$configure` (a `fn(&mut Config)`), e.g. a platform fee or fast background jobs; headed
/// `on_both_apis,`, with PortOne V1 and V2 (as `on_both_databases!`).
macro_rules! on_both_databases_with {
    (@each $apis:ident, $configure:path => $(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body

                scenario_tests!($apis, |backend, api| $crate::escrow_support::spawn_custom_api(backend, api, $configure));
            }
        )*
    };
    (on_both_apis, $configure:path => $($rest:tt)*) => {
        on_both_databases_with!(@each both, $configure => $($rest)*);
    };
    ($configure:path => $($rest:tt)*) => {
        on_both_databases_with!(@each v1, $configure => $($rest)*);
    };
}
pub(crate) use on_both_databases_with;

/// Boots the service on a fresh database with a configuration of the test's own.
pub async fn spawn_custom(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_custom_api(backend, Api::V1, configure).await
}

/// The same, speaking `api`.
pub async fn spawn_custom_api(
    backend: Backend,
    api: Api,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let mut config = Config::for_database(&database.url);
    config.api_version = api;
    configure(&mut config);
    TestApp::spawn_with(config, database).await
}

/// How often the background jobs (expiry, auto-confirmation, reconciliation) run.
pub fn set_job_interval(config: &mut Config, every: Duration) {
    config.job_interval = every;
}

/// The longest a scenario waits for something asynchronous (a webhook, a background job).
pub const PATIENCE: Duration = Duration::from_secs(10);
const POLL_STEP: Duration = Duration::from_millis(50);

/// The shipping block of every test order.
pub fn shipping() -> Value {
    json!({
        "receiver_name": "홍길동",
        "receiver_phone": "010-1234-5678",
        "address": "서울특별시 중구 세종대로 110",
        "postcode": "04524"
    })
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What `POST /payments` answered: what the browser needs to pay.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub payment_id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub amount: i64,
    pub notice_url: String,
    /// The whole answer.
    pub body: Value,
}

/// An order paid in escrow (status `paid`, escrow `held`).
#[derive(Debug, Clone)]
pub struct PaidOrder {
    pub order_id: i64,
    pub payment_id: i64,
    pub imp_uid: String,
    pub merchant_uid: String,
    pub product_id: i64,
    pub amount: i64,
}

/// `(from, to)` of the history entries of one entity (`order`, `payment` or `escrow`) that
/// are real moves: the creation entry (no `from`) and updates in place are left out.
pub fn moves(status: &Value, entity: &str) -> Vec<(String, String)> {
    status["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history in {status:#}"))
        .iter()
        .filter(|h| h["entity"] == entity)
        .filter_map(|h| {
            let from = h["from"].as_str()?;
            let to = h["to"].as_str()?;
            (from != to).then(|| (from.to_string(), to.to_string()))
        })
        .collect()
}

/// How many times the history records `entity` going `from` → `to`.
pub fn transitions(status: &Value, entity: &str, from: &str, to: &str) -> usize {
    moves(status, entity)
        .iter()
        .filter(|(f, t)| f == from && t == to)
        .count()
}

/// Helps to turn `[("a", "b")]` into what `moves` returns.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Asserts an answer is not a server error (for hostile input whose status is free).
#[track_caller]
pub fn assert_not_server_error(answer: &Answer) {
    assert!(
        answer.status.as_u16() < 500,
        "a server error: {} {:#}",
        answer.status,
        answer.body
    );
}

#[allow(async_fn_in_trait)]
pub trait EscrowApp {
    fn app(&self) -> &TestApp;

    /// An admin, made the only way admins are made (`escrow admin create`), logged in.
    async fn admin(&self) -> Member {
        let app = self.app();
        let email = format!("admin-{}@example.kr", uuid::Uuid::new_v4().simple());
        let password = "admin-password-123".to_string();
        let id = escrow::create_admin(&app.config, &email, &password, "Admin")
            .await
            .expect("an admin is created");
        app.logged_in(id, email, password).await
    }

    /// Sends a JSON request with an `Idempotency-Key`.
    async fn post_with_key(&self, path: &str, token: &str, key: &str, body: Value) -> Answer {
        let app = self.app();
        let response = app
            .client
            .request(Method::POST, format!("{}{path}", app.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        TestApp::answer(response).await
    }

    /// `POST /orders` for these `(product_id, quantity)` items, as it answers.
    async fn try_order(&self, buyer: &Member, items: &[(i64, i64)]) -> Answer {
        let items: Vec<Value> = items
            .iter()
            .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
            .collect();
        self.app()
            .post(
                "/orders",
                Some(&buyer.token),
                json!({"items": items, "shipping": shipping()}),
            )
            .await
    }

    /// Orders `quantity` of one product; returns the order id.
    async fn order(&self, buyer: &Member, product_id: i64, quantity: i64) -> i64 {
        let answer = self.try_order(buyer, &[(product_id, quantity)]).await;
        let body = answer.assert_status(201);
        assert_eq!(body["success"], true);
        let orders = body["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 1, "{body:#}");
        orders[0]["order_id"].as_i64().unwrap()
    }

    /// `GET /orders/{id}` as `token`, asserting 200.
    async fn order_json(&self, order_id: i64, token: &str) -> Value {
        let answer = self
            .app()
            .get(&format!("/orders/{order_id}"), Some(token))
            .await;
        answer.assert_status(200).clone()
    }

    /// `GET /cart`.
    async fn cart(&self, buyer: &Member) -> Value {
        let answer = self.app().get("/cart", Some(&buyer.token)).await;
        answer.assert_status(200).clone()
    }

    /// The product's stock as the catalogue shows it.
    async fn stock(&self, product_id: i64) -> i64 {
        let answer = self
            .app()
            .get(&format!("/products/{product_id}"), None)
            .await;
        answer.assert_status(200)["stock"].as_i64().unwrap()
    }

    /// `POST /payments {order_id}`: the payment is `ready` and the amount pre-registered.
    async fn checkout(&self, buyer: &Member, order_id: i64) -> Checkout {
        let answer = self
            .app()
            .post(
                "/payments",
                Some(&buyer.token),
                json!({"order_id": order_id}),
            )
            .await;
        let body = answer.assert_status(201).clone();
        assert_eq!(body["success"], true);
        assert_eq!(body["order_id"], order_id);
        assert_eq!(body["status"], "ready");
        Checkout {
            payment_id: body["payment_id"].as_i64().unwrap(),
            order_id,
            merchant_uid: body["merchant_uid"].as_str().unwrap().to_string(),
            amount: body["amount"].as_i64().unwrap(),
            notice_url: body["checkout"]["notice_url"].as_str().unwrap().to_string(),
            body,
        }
    }

    /// What the buyer's browser does on the sandbox's checkout page: the gateway payment is
    /// made (or refused) and, when paid, the webhook goes to `notice_url`. Answers
    /// `{imp_uid, status}` in V1's words whichever API the service speaks (V2 pre-registers
    /// no amount, so `skip_prepare_check` is V1's alone).
    async fn sandbox_pay(
        &self,
        checkout: &Checkout,
        amount: i64,
        skip_prepare_check: bool,
    ) -> Value {
        self.sandbox_checkout(checkout, amount, skip_prepare_check, "card")
            .await
    }

    /// `sandbox_pay` by `pay_method` (`card`, or `vbank`: an account is issued).
    async fn sandbox_checkout(
        &self,
        checkout: &Checkout,
        amount: i64,
        skip_prepare_check: bool,
        pay_method: &str,
    ) -> Value {
        let app = self.app();
        if app.api() == Api::V2 {
            let method = if pay_method == "vbank" {
                "VIRTUAL_ACCOUNT"
            } else {
                "CARD"
            };
            let answer = app
                .post(
                    "/sandbox/portone-v2/_sandbox/payments",
                    None,
                    json!({
                        "payment_id": checkout.merchant_uid,
                        "amount": amount,
                        "pay_method": method,
                        "is_escrow": checkout.body["escrow"].as_bool().unwrap_or(true),
                        "notice_urls": [checkout.notice_url],
                    }),
                )
                .await;
            let paid = answer.assert_status(200);
            let status = match paid["status"].as_str() {
                Some("VIRTUAL_ACCOUNT_ISSUED" | "READY") => "ready",
                Some(other) => &other.to_ascii_lowercase(),
                None => "",
            };
            return json!({"imp_uid": paid["transaction_id"], "status": status});
        }
        let answer = app
            .post(
                "/sandbox/portone/_sandbox/payments",
                None,
                json!({
                    "merchant_uid": checkout.merchant_uid,
                    "amount": amount,
                    "notice_url": checkout.notice_url,
                    "skip_prepare_check": skip_prepare_check,
                    "pay_method": pay_method,
                }),
            )
            .await;
        answer.assert_status(200).clone()
    }

    /// The buyer's bank transfer into a virtual account (`imp_uid`, or V2's `paymentId`
    /// `merchant_uid`), as the sandbox answers it.
    async fn sandbox_deposit(&self, imp_uid: &str, merchant_uid: &str, amount: i64) -> Answer {
        let app = self.app();
        let path = match app.api() {
            Api::V1 => format!("/sandbox/portone/_sandbox/vbanks/{imp_uid}/deposit"),
            Api::V2 => format!("/sandbox/portone-v2/_sandbox/payments/{merchant_uid}/deposit"),
        };
        let mut answer = app.post(&path, None, json!({"amount": amount})).await;
        if let Some(status) = answer.body["status"].as_str() {
            // V1's status words, as `sandbox_checkout` answers.
            answer.body["status"] = json!(status.to_ascii_lowercase());
        }
        answer
    }

    /// `POST /payments/{id}/complete {imp_uid}`, as it answers.
    async fn complete(&self, buyer: &Member, payment_id: i64, imp_uid: &str) -> Answer {
        self.app()
            .post(
                &format!("/payments/{payment_id}/complete"),
                Some(&buyer.token),
                json!({"imp_uid": imp_uid}),
            )
            .await
    }

    /// Pays a checkout in full and tells the service (the browser's callback); returns
    /// the gateway's `imp_uid`.
    async fn pay(&self, buyer: &Member, checkout: &Checkout) -> String {
        let paid = self.sandbox_pay(checkout, checkout.amount, false).await;
        assert_eq!(paid["status"], "paid", "{paid:#}");
        let imp_uid = paid["imp_uid"].as_str().unwrap().to_string();
        let completed = self.complete(buyer, checkout.payment_id, &imp_uid).await;
        let status = completed.assert_status(200);
        assert_eq!(status["status"], "paid", "{status:#}");
        assert_eq!(status["escrow_status"], "held", "{status:#}");
        assert_eq!(status["order_status"], "paid", "{status:#}");
        imp_uid
    }

    /// A new product of `seller` (stock 10), ordered by `buyer` and paid in escrow.
    async fn paid_order(
        &self,
        buyer: &Member,
        seller: &Member,
        price: i64,
        quantity: i64,
    ) -> PaidOrder {
        let product_id = self.app().product(seller, "에스크로 상품", price, 10).await;
        let order_id = self.order(buyer, product_id, quantity).await;
        let checkout = self.checkout(buyer, order_id).await;
        assert_eq!(checkout.amount, price * quantity);
        let imp_uid = self.pay(buyer, &checkout).await;
        PaidOrder {
            order_id,
            payment_id: checkout.payment_id,
            imp_uid,
            merchant_uid: checkout.merchant_uid,
            product_id,
            amount: checkout.amount,
        }
    }

    /// `POST /payments/{id}/{action}` as `member` (or anonymously), as it answers.
    async fn act(
        &self,
        member: Option<&Member>,
        payment_id: i64,
        action: &str,
        body: Value,
    ) -> Answer {
        self.app()
            .post(
                &format!("/payments/{payment_id}/{action}"),
                member.map(|m| m.token.as_str()),
                body,
            )
            .await
    }

    /// `GET /payments/{id}/status` as `token`, asserting 200.
    async fn status(&self, payment_id: i64, token: &str) -> Value {
        let answer = self
            .app()
            .get(&format!("/payments/{payment_id}/status"), Some(token))
            .await;
        answer.assert_status(200).clone()
    }

    /// Registers the delivery (`CJGLS`, `invoice`) as the seller.
    async fn ship(&self, seller: &Member, payment_id: i64, invoice: &str) {
        let answer = self
            .act(
                Some(seller),
                payment_id,
                "shipment",
                json!({"courier": "CJGLS", "invoice_number": invoice}),
            )
            .await;
        answer.assert_status(200);
    }

    /// Marks the order delivered, as its seller or an admin.
    async fn deliver(&self, by: &Member, payment_id: i64) {
        let answer = self.act(Some(by), payment_id, "delivered", json!({})).await;
        answer.assert_status(200);
    }

    /// The buyer confirms the purchase: the escrow is released.
    async fn confirm(&self, buyer: &Member, payment_id: i64) {
        let answer = self
            .act(Some(buyer), payment_id, "confirm", json!({}))
            .await;
        assert_eq!(answer.assert_status(200)["success"], true);
    }

    /// Counts `table` (a table, optionally with a `WHERE`) in the database directly until
    /// it is `expected`, for at most `PATIENCE`; returns the last count.
    async fn count_reaches(&self, table: &str, expected: i64) -> i64 {
        let started = std::time::Instant::now();
        loop {
            let count = self.app().count(table).await;
            if count == expected || started.elapsed() >= PATIENCE {
                return count;
            }
            tokio::time::sleep(POLL_STEP).await;
        }
    }

    /// Polls `GET path` (200 expected) until `done` holds, for at most `PATIENCE`.
    async fn poll(
        &self,
        path: &str,
        token: Option<&str>,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let app = self.app();
        let started = std::time::Instant::now();
        loop {
            let answer = app.get(path, token).await;
            let body = answer.assert_status(200).clone();
            if done(&body) {
                return body;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "gave up waiting for {what} after {PATIENCE:?}; last {path}: {body:#}"
            );
            tokio::time::sleep(POLL_STEP).await;
        }
    }

    /// Polls the payment status until `done` holds.
    async fn wait_for_payment(
        &self,
        payment_id: i64,
        token: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.poll(
            &format!("/payments/{payment_id}/status"),
            Some(token),
            what,
            done,
        )
        .await
    }

    /// Polls the order until `done` holds.
    async fn wait_for_order(
        &self,
        order_id: i64,
        token: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.poll(&format!("/orders/{order_id}"), Some(token), what, done)
            .await
    }

    /// A token for the sandbox gateway's V1 API.
    async fn gateway_token(&self) -> String {
        let app = self.app();
        let answer = app
            .post(
                "/sandbox/portone/users/getToken",
                None,
                json!({"imp_key": app.config.imp_key, "imp_secret": app.config.imp_secret}),
            )
            .await;
        answer.assert_status(200)["response"]["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The gateway's own record of a payment (`GET /payments/{imp_uid}` at the sandbox).
    async fn gateway_payment(&self, imp_uid: &str) -> Value {
        let token = self.gateway_token().await;
        let answer = self
            .app()
            .get(
                &format!("/sandbox/portone/payments/{imp_uid}"),
                Some(&token),
            )
            .await;
        let body = answer.assert_status(200);
        assert_eq!(body["code"], 0, "{body:#}");
        body["response"].clone()
    }

    /// The V2 face's record of a payment (`GET /payments/{paymentId}` at the sandbox).
    async fn gateway_payment_v2(&self, merchant_uid: &str) -> Value {
        let app = self.app();
        let response = app
            .client
            .get(format!(
                "{}/sandbox/portone-v2/payments/{merchant_uid}",
                app.base
            ))
            .header(
                "authorization",
                format!("PortOne {}", app.config.api_secret),
            )
            .send()
            .await
            .unwrap();
        TestApp::answer(response).await.assert_status(200).clone()
    }

    /// Polls the gateway's record until `done` holds.
    async fn wait_for_gateway(
        &self,
        imp_uid: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let token = self.gateway_token().await;
        let envelope = self
            .poll(
                &format!("/sandbox/portone/payments/{imp_uid}"),
                Some(&token),
                what,
                |body| done(&body["response"]),
            )
            .await;
        envelope["response"].clone()
    }

    /// Waits until the service has answered at least `count` of the sandbox's webhook
    /// deliveries, so that what they do (nothing, when the service already knew) has
    /// happened before the scenario looks again. No delivery may get a 5xx.
    async fn wait_for_webhooks(&self, count: usize) -> Vec<Value> {
        let log = self
            .poll(
                "/sandbox/portone/_sandbox/webhooks",
                None,
                &format!("{count} webhook deliveries"),
                |log| {
                    let attempts = log.as_array().map(Vec::as_slice).unwrap_or_default();
                    for attempt in attempts {
                        let status = attempt["status"].as_u64().unwrap_or_default();
                        assert!(status < 500, "the service failed a webhook: {log:#}");
                    }
                    attempts.iter().filter(|a| a["status"].is_u64()).count() >= count
                },
            )
            .await;
        log.as_array().cloned().unwrap_or_default()
    }

    /// Makes the sandbox fail its next `count` calls (`target`: `api` or `webhook`).
    async fn sandbox_fault(&self, target: &str, mode: &str, count: u32) {
        let answer = self
            .app()
            .post(
                "/sandbox/portone/_sandbox/faults",
                None,
                json!({"target": target, "mode": mode, "count": count}),
            )
            .await;
        answer.assert_status(200);
    }

    async fn clear_sandbox_faults(&self) {
        let answer = self
            .app()
            .delete("/sandbox/portone/_sandbox/faults", None)
            .await;
        answer.assert_status(200);
    }

    /// Sends a webhook as the gateway would (no auth), JSON.
    async fn webhook(&self, body: Value) -> Answer {
        self.app().post("/webhooks/portone", None, body).await
    }

    /// Sends a webhook form-encoded, as the gateway also does.
    async fn webhook_form(&self, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(name, value)| format!("{}={}", form_escape(name), form_escape(value)))
            .collect::<Vec<_>>()
            .join("&");
        self.app()
            .raw(
                Method::POST,
                "/webhooks/portone",
                None,
                "application/x-www-form-urlencoded",
                body,
            )
            .await
    }

    /// Asserts the books balance: every journal sums to zero (so the accounts do), the
    /// escrow account holds what the payments table says is held, and nothing diverges.
    async fn assert_ledger_balanced(&self, admin: &Member) -> Value {
        let answer = self.app().get("/admin/ledger", Some(&admin.token)).await;
        let ledger = answer.assert_status(200).clone();
        assert_eq!(ledger["balanced"], true, "{ledger:#}");
        assert_eq!(ledger["divergences"], serde_json::json!([]), "{ledger:#}");
        let accounts = ledger["accounts"]
            .as_object()
            .unwrap_or_else(|| panic!("no accounts in {ledger:#}"));
        let sum: i64 = accounts.values().filter_map(Value::as_i64).sum();
        assert_eq!(sum, 0, "the accounts must sum to zero: {ledger:#}");
        let escrow = accounts.get("escrow").and_then(Value::as_i64).unwrap_or(0);
        assert_eq!(Some(escrow), ledger["held"].as_i64(), "{ledger:#}");
        ledger
    }

    /// Asserts the ledger's totals (and that they balance).
    async fn assert_ledger(
        &self,
        admin: &Member,
        paid: i64,
        refunded: i64,
        held: i64,
        released: i64,
    ) {
        let ledger = self.assert_ledger_balanced(admin).await;
        assert_eq!(
            (
                ledger["paid"].as_i64(),
                ledger["refunded"].as_i64(),
                ledger["held"].as_i64(),
                ledger["released"].as_i64()
            ),
            (Some(paid), Some(refunded), Some(held), Some(released)),
            "(paid, refunded, held, released) in {ledger:#}"
        );
    }
}

impl EscrowApp for TestApp {
    fn app(&self) -> &TestApp {
        self
    }
}

/// `application/x-www-form-urlencoded` escaping of one name or value.
fn form_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
