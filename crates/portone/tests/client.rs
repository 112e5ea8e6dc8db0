//! The PortOne client against the sandbox over real HTTP (and a few hand-made servers):
//! tokens, payments, cancels, escrow deliveries, every fault mode, webhooks, and parsing
//! of recorded V1 answers.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use portone::{
    CancelRequest, ClientConfig, Envelope, EscrowLogis, EscrowLogisInfo, EscrowReceiver,
    EscrowSender, Payment, PaymentStatus, PortOne, PortOneClient, PortOneError, Prepared,
};
use portone_sandbox::{SandboxConfig, WebhookEncoding};
use serde_json::{json, Value};

mod support;
use support::{serve, Env};

/// A webhook receiver recording (content-type, body); answers 500 to the first `fail` hits.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(String, String)>>>,
    fail: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(fail: usize) -> (Self, String) {
        let receiver = Self {
            fail: Arc::new(Mutex::new(fail)),
            ..Self::default()
        };
        let r = receiver.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    r.hits.lock().unwrap().push((ct, body));
                    let mut fail = r.fail.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let addr = serve(app).await;
        (receiver, format!("http://{addr}/hook"))
    }

    fn bodies(&self) -> Vec<Value> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

fn logis(company: &str, invoice: &str) -> EscrowLogis {
    EscrowLogis {
        sender: EscrowSender {
            name: Some("판매자".into()),
            tel: Some("010-1111-2222".into()),
            addr: Some("서울시 중구".into()),
            postcode: Some("04500".into()),
            relationship: Some("본인".into()),
        },
        receiver: EscrowReceiver {
            name: Some("구매자".into()),
            tel: Some("010-3333-4444".into()),
            addr: Some("부산시 해운대구".into()),
            postcode: Some("48000".into()),
        },
        logis: EscrowLogisInfo {
            company: company.into(),
            invoice: invoice.into(),
            sent_at: 1_700_000_000,
            receiving_at: Some("20231120".into()),
            address: Some("부산시 해운대구".into()),
        },
    }
}

fn refused_status(err: &PortOneError) -> Option<u16> {
    match err {
        PortOneError::Refused { status, .. } => Some(*status),
        _ => None,
    }
}

// ---- tokens ---------------------------------------------------------------------------

#[tokio::test]
async fn token_is_cached_shared_and_extended_in_its_last_window() {
    let env = Env::with(SandboxConfig {
        token_ttl: Duration::from_secs(4),
        token_renew_window: Duration::from_secs(2),
        token_extension: Duration::from_secs(4),
        ..SandboxConfig::default()
    })
    .await;
    let mut config = env.config();
    config.token_refresh_margin = Duration::from_secs(2);
    let client = PortOneClient::new(config).unwrap();

    // Many concurrent first calls: exactly one token request.
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.ping().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(env.sandbox.token_stats(), (1, 1));
    client.ping().await.unwrap();
    assert_eq!(env.sandbox.token_stats(), (1, 1));

    // Past the client's margin: it asks again, inside the gateway's renew window, and
    // gets the same token extended.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    client.ping().await.unwrap();
    assert_eq!(env.sandbox.token_stats(), (2, 1));
}

#[tokio::test]
async fn sandbox_token_rules_over_the_wire() {
    let env = Env::with(SandboxConfig {
        token_ttl: Duration::from_millis(1200),
        token_renew_window: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await;
    let url = format!("{}/users/getToken", env.base);
    let token = |v: Value| v["response"]["access_token"].as_str().unwrap().to_owned();
    let json_body = json!({ "imp_key": "sandbox_imp_key", "imp_secret": "sandbox_imp_secret" });
    let t1: Value = env
        .http
        .post(&url)
        .json(&json_body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t1["code"], 0);
    let t1_expiry = t1["response"]["expired_at"].as_i64().unwrap();
    assert!(t1_expiry >= t1["response"]["now"].as_i64().unwrap());
    // Form-encoded works too and returns the same token while it is valid.
    let again: Value = env
        .http
        .post(&url)
        .form(&[
            ("imp_key", "sandbox_imp_key"),
            ("imp_secret", "sandbox_imp_secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token(again.clone()), token(t1.clone()));
    assert_eq!(again["response"]["expired_at"].as_i64().unwrap(), t1_expiry);

    let get = |header: &'static str, value: String| {
        env.http
            .get(format!("{}/payments/imp_000000000000", env.base))
            .header(header, value)
            .send()
    };
    // All three header forms are accepted (404: authorized, no such payment).
    let t1s = token(t1.clone());
    assert_eq!(
        get("Authorization", t1s.clone()).await.unwrap().status(),
        404
    );
    assert_eq!(
        get("Authorization", format!("Bearer {t1s}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get("X-ImpTokenHeader", t1s.clone()).await.unwrap().status(),
        404
    );
    assert_eq!(
        get("Authorization", "nope".into()).await.unwrap().status(),
        401
    );
    let missing = env
        .http
        .get(format!("{}/payments/imp_000000000000", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], -1);
    assert!(body["response"].is_null());

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        get("Authorization", t1s.clone()).await.unwrap().status(),
        401
    );
    let t2: Value = env
        .http
        .post(&url)
        .json(&json_body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(token(t2.clone()), t1s);
    assert_eq!(get("Authorization", token(t2)).await.unwrap().status(), 404);

    let bad = env
        .http
        .post(&url)
        .json(&json!({ "imp_key": "sandbox_imp_key", "imp_secret": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("order-401", 1000, json!({})).await;
    client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(env.sandbox.token_stats(), (1, 1));
    env.http
        .post(format!("{}/_sandbox/tokens/expire", env.base))
        .send()
        .await
        .unwrap();
    let payment = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(payment.imp_uid, imp_uid);
    assert_eq!(env.sandbox.token_stats(), (2, 2));
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    let env = Env::start().await;
    let mut config = env.config();
    config.imp_secret = "wrong".into();
    let err = PortOneClient::new(config)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.kind(), "unauthorized");
    assert!(err.outcome_known());
    let debug = format!("{:?}", env.config());
    assert!(!debug.contains("sandbox_imp_secret"), "{debug}");
}

// ---- payments -------------------------------------------------------------------------

#[tokio::test]
async fn prepare_pay_get_and_find() {
    let env = Env::start().await;
    // The service holds the client as a trait object.
    let client: Arc<dyn PortOne> = Arc::new(env.client());
    let prepared = client.prepare("order/1 #a", 15000).await.unwrap();
    assert_eq!(
        prepared,
        Prepared {
            merchant_uid: "order/1 #a".into(),
            amount: 15000
        }
    );
    assert_eq!(client.get_prepared("order/1 #a").await.unwrap(), prepared);
    let dup = client.prepare("order/1 #a", 15000).await.unwrap_err();
    assert_eq!(refused_status(&dup), Some(400), "{dup:?}");
    assert!(dup.outcome_known());
    assert!(matches!(
        client.get_prepared("never-prepared").await.unwrap_err(),
        PortOneError::NotFound { .. }
    ));

    let imp_uid = env
        .pay(
            "order/1 #a",
            15000,
            json!({ "name": "의자", "buyer_name": "홍길동", "buyer_email": "a@b.c", "custom_data": {"k": 1} }),
        )
        .await;
    assert!(
        imp_uid.starts_with("imp_") && imp_uid.len() == 16,
        "{imp_uid}"
    );
    assert!(imp_uid[4..].chars().all(|c| c.is_ascii_digit()));

    let p = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(p.merchant_uid, "order/1 #a");
    assert_eq!(p.amount, 15000);
    assert_eq!(p.cancel_amount, 0);
    assert_eq!(p.status, PaymentStatus::Paid);
    assert_eq!(p.currency, "KRW");
    assert!(p.escrow);
    assert_eq!(p.pay_method.as_deref(), Some("card"));
    assert_eq!(p.pg_provider.as_deref(), Some("html5_inicis"));
    assert!(p.pg_tid.is_some() && p.apply_num.is_some() && p.receipt_url.is_some());
    assert_eq!(p.card_number.as_deref(), Some("424242******4242"));
    assert_eq!(p.name.as_deref(), Some("의자"));
    assert_eq!(p.custom_data.as_deref(), Some(r#"{"k":1}"#));
    assert!(p.paid_at > 0 && p.started_at > 0);
    assert_eq!((p.cancelled_at, p.failed_at), (0, 0));
    assert!(p.cancel_history.is_empty());

    let found = client.find_payment("order/1 #a").await.unwrap();
    assert_eq!(found, p);
    let missing = client.find_payment("nobody").await.unwrap_err();
    assert!(matches!(missing, PortOneError::NotFound { .. }));

    // Paying an order twice is refused by the control call.
    let (status, _) = env
        .control_pay(json!({ "merchant_uid": "order/1 #a", "amount": 15000 }))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_imp_uid_is_not_found() {
    let env = Env::start().await;
    let err = env
        .client()
        .get_payment("imp_999999999999")
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::NotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), "not_found");
    assert!(err.outcome_known());
}

#[tokio::test]
async fn prepared_amount_mismatch_fails_without_webhook() {
    let env = Env::start().await;
    let (receiver, hook) = Receiver::start(0).await;
    let client = env.client();
    client.prepare("order-mm", 10000).await.unwrap();
    let (status, answer) = env
        .control_pay(json!({ "merchant_uid": "order-mm", "amount": 9000, "notice_url": hook }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "failed");
    let failed = client
        .get_payment(answer["imp_uid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert!(failed.failed_at > 0 && failed.paid_at == 0);
    assert!(failed.fail_reason.is_some());
    // A declined checkout fails the same way.
    let (_, declined) = env
        .control_pay(json!({ "merchant_uid": "order-mm", "amount": 10000, "outcome": "failed", "notice_url": hook }))
        .await;
    assert_eq!(declined["status"], "failed");
    assert!(env.webhooks().await.is_empty());
    assert!(receiver.bodies().is_empty());

    // skip_prepare_check lets a tampered amount through, for the service's own check.
    let imp_uid = env
        .pay("order-mm", 9000, json!({ "skip_prepare_check": true }))
        .await;
    let latest = client.find_payment("order-mm").await.unwrap();
    assert_eq!(
        (latest.imp_uid.as_str(), latest.amount),
        (imp_uid.as_str(), 9000)
    );
}

#[tokio::test]
async fn partial_and_full_cancels_with_checksum() {
    let env = Env::start().await;
    let (receiver, hook) = Receiver::start(0).await;
    let client = env.client();
    let imp_uid = env
        .pay("order-cancel", 30000, json!({ "notice_url": hook }))
        .await;

    let p = client
        .cancel(&CancelRequest::partial(&imp_uid, 10000, 30000, "first"))
        .await
        .unwrap();
    assert_eq!((p.status, p.cancel_amount), (PaymentStatus::Paid, 10000));
    let p = client
        .cancel(&CancelRequest::partial(&imp_uid, 5000, 20000, "second"))
        .await
        .unwrap();
    assert_eq!((p.status, p.cancel_amount), (PaymentStatus::Paid, 15000));
    assert_eq!(p.cancellable_amount(), 15000);

    // A stale checksum (e.g. a repeated request) is refused and changes nothing.
    let stale = client
        .cancel(&CancelRequest::partial(&imp_uid, 5000, 20000, "again"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&stale), Some(200), "{stale:?}");
    assert!(stale.outcome_known());
    let over = client
        .cancel(&CancelRequest::partial(&imp_uid, 15001, 15000, "too much"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&over), Some(200), "{over:?}");
    assert_eq!(
        client.get_payment(&imp_uid).await.unwrap().cancel_amount,
        15000
    );

    // The rest, addressed by merchant_uid, amount omitted.
    let p = client
        .cancel(&CancelRequest {
            merchant_uid: Some("order-cancel".into()),
            checksum: Some(15000),
            reason: Some("rest".into()),
            ..CancelRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Cancelled);
    assert_eq!(p.cancel_amount, 30000);
    assert!(p.cancelled_at > 0);
    assert_eq!(
        p.cancel_history
            .iter()
            .map(|h| h.amount)
            .collect::<Vec<_>>(),
        vec![10000, 5000, 15000]
    );
    assert_eq!(
        p.cancel_history.iter().map(|h| h.amount).sum::<i64>(),
        p.amount
    );
    assert_eq!(p.cancel_history[1].reason.as_deref(), Some("second"));
    assert!(p.cancel_history.iter().all(|h| h.cancellation_id.is_some()));

    let again = client
        .cancel(&CancelRequest::full(&imp_uid, 0, "twice"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&again), Some(200));
    let nothing = client.cancel(&CancelRequest::default()).await.unwrap_err();
    assert_eq!(nothing.kind(), "invalid_request");

    // Webhooks: paid, then one per cancel with its cancellation_id.
    env.webhooks().await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(
        bodies[0],
        json!({ "imp_uid": imp_uid, "merchant_uid": "order-cancel", "status": "paid" })
    );
    assert_eq!(bodies[3]["status"], "cancelled");
    let ids: Vec<_> = p
        .cancel_history
        .iter()
        .map(|h| Value::from(h.cancellation_id.clone().unwrap()))
        .collect();
    assert_eq!(
        bodies[1..]
            .iter()
            .map(|b| b["cancellation_id"].clone())
            .collect::<Vec<_>>(),
        ids
    );
}

// ---- escrow deliveries ----------------------------------------------------------------

#[tokio::test]
async fn escrow_logis_register_update_get() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env
        .pay("order-logis", 20000, json!({ "escrow": true }))
        .await;

    let err = client.get_escrow_logis(&imp_uid).await.unwrap_err();
    assert_eq!(refused_status(&err), Some(409), "{err:?}");

    let rec = client
        .register_escrow_logis(&imp_uid, &logis("CJGLS", "111"))
        .await
        .unwrap();
    assert_eq!(
        (rec.company.as_str(), rec.invoice.as_str(), rec.sent_at),
        ("CJGLS", "111", 1_700_000_000)
    );
    assert!(rec.applied_at > 0);
    let twice = client
        .register_escrow_logis(&imp_uid, &logis("CJGLS", "111"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&twice), Some(409), "{twice:?}");
    assert!(twice.outcome_known());

    let rec = client
        .update_escrow_logis(&imp_uid, &logis("NOT-A-COURIER", "222"))
        .await
        .unwrap();
    assert_eq!((rec.company.as_str(), rec.invoice.as_str()), ("ETC", "222"));
    let got = client.get_escrow_logis(&imp_uid).await.unwrap();
    assert_eq!(got, rec);

    // KG Inicis needs the sender's phone.
    let other = env
        .pay("order-logis-2", 20000, json!({ "escrow": true }))
        .await;
    let mut incomplete = logis("HANJIN", "333");
    incomplete.sender.tel = None;
    let err = client
        .register_escrow_logis(&other, &incomplete)
        .await
        .unwrap_err();
    assert_eq!(refused_status(&err), Some(400), "{err:?}");
}

#[tokio::test]
async fn escrow_logis_refused_for_non_escrow_unpaid_or_unknown() {
    let env = Env::start().await;
    let client = env.client();
    let plain = env
        .pay("order-plain", 1000, json!({ "escrow": false }))
        .await;
    let err = client
        .register_escrow_logis(&plain, &logis("CJGLS", "1"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&err), Some(400), "{err:?}");

    let (_, failed) = env
        .control_pay(json!({ "merchant_uid": "order-unpaid", "amount": 1000, "outcome": "failed" }))
        .await;
    let err = client
        .register_escrow_logis(failed["imp_uid"].as_str().unwrap(), &logis("CJGLS", "1"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&err), Some(400), "{err:?}");

    let cancelled = env.pay("order-cancelled", 1000, json!({})).await;
    client
        .cancel(&CancelRequest::full(&cancelled, 1000, "x"))
        .await
        .unwrap();
    let err = client
        .register_escrow_logis(&cancelled, &logis("CJGLS", "1"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&err), Some(400), "{err:?}");

    let err = client
        .register_escrow_logis("imp_000000000001", &logis("CJGLS", "1"))
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::NotFound { .. }), "{err:?}");
}

// ---- API faults -----------------------------------------------------------------------

#[tokio::test]
async fn fault_error_500_gets_are_retried_cancels_are_not() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("order-500", 5000, json!({})).await;
    client.ping().await.unwrap();

    // One failure: the GET is retried and succeeds.
    env.fault(json!({ "target": "api", "mode": "error_500", "count": 1 }))
        .await;
    client.get_payment(&imp_uid).await.unwrap();

    // More failures than retries: the error surfaces, outcome unknown.
    env.fault(json!({ "target": "api", "mode": "error_500", "count": 3 }))
        .await;
    let err = client.get_payment(&imp_uid).await.unwrap_err();
    assert!(
        matches!(err, PortOneError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), "server_error");
    assert!(!err.outcome_known());

    // A prepare is not retried after a 500 either (only when it could not be sent).
    env.fault(json!({ "target": "api", "mode": "error_500", "count": 1 }))
        .await;
    let err = client.prepare("order-500-b", 100).await.unwrap_err();
    assert!(!err.outcome_known(), "{err:?}");
    client.prepare("order-500-b", 100).await.unwrap();

    // A cancel is tried once: one injected 500 is enough to fail it...
    env.fault(json!({ "target": "api", "mode": "error_500", "count": 1 }))
        .await;
    let err = client
        .cancel(&CancelRequest::full(&imp_uid, 5000, "x"))
        .await
        .unwrap_err();
    assert!(!err.outcome_known());
    // ...and the fault was used up by that single attempt (no hidden retry).
    let p = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(p.cancel_amount, 0);
    client
        .cancel(&CancelRequest::full(&imp_uid, 5000, "x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn fault_timeout_is_unknown_outcome_and_the_cancel_may_have_happened() {
    let env = Env::start().await;
    let client = env.client_with_timeout(Duration::from_millis(300));
    let imp_uid = env.pay("order-timeout", 8000, json!({})).await;
    client.ping().await.unwrap();

    env.fault(json!({ "target": "api", "mode": "timeout", "count": 1, "delay_ms": 1500 }))
        .await;
    let started = Instant::now();
    let err = client
        .cancel(&CancelRequest::partial(&imp_uid, 3000, 8000, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::Timeout), "{err:?}");
    assert!(!err.outcome_known());
    assert!(started.elapsed() < Duration::from_millis(1200));
    // The gateway did it: re-reading tells, and the checksum makes a blind repeat harmless.
    let p = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(p.cancel_amount, 3000);
    let repeat = client
        .cancel(&CancelRequest::partial(&imp_uid, 3000, 8000, "x"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(&repeat), Some(200));

    // A timed-out GET is retried.
    env.fault(json!({ "target": "api", "mode": "timeout", "count": 1, "delay_ms": 1500 }))
        .await;
    client.get_payment(&imp_uid).await.unwrap();
}

#[tokio::test]
async fn fault_drop_breaks_the_connection() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("order-drop", 4000, json!({})).await;
    client.ping().await.unwrap();

    env.fault(json!({ "target": "api", "mode": "drop", "count": 1 }))
        .await;
    let err = client
        .cancel(&CancelRequest::full(&imp_uid, 4000, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, PortOneError::Transport(_)), "{err:?}");
    assert_eq!(err.kind(), "transport");
    assert!(!err.outcome_known());
    assert_eq!(
        client.get_payment(&imp_uid).await.unwrap().status,
        PaymentStatus::Cancelled
    );

    env.fault(json!({ "target": "api", "mode": "drop", "count": 2 }))
        .await;
    client.get_payment(&imp_uid).await.unwrap();
}

#[tokio::test]
async fn fault_duplicate_runs_the_request_twice() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("order-dup", 10000, json!({})).await;
    client.ping().await.unwrap();

    // Without a checksum a replayed partial cancel cancels twice...
    env.fault(json!({ "target": "api", "mode": "duplicate", "count": 1 }))
        .await;
    let answer = client
        .cancel(&CancelRequest {
            imp_uid: Some(imp_uid.clone()),
            amount: Some(1000),
            ..CancelRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.cancel_amount, 1000);
    assert_eq!(
        client.get_payment(&imp_uid).await.unwrap().cancel_amount,
        2000
    );

    // ...with one, the replay is refused.
    env.fault(json!({ "target": "api", "mode": "duplicate", "count": 1 }))
        .await;
    client
        .cancel(&CancelRequest::partial(&imp_uid, 1000, 8000, "x"))
        .await
        .unwrap();
    assert_eq!(
        client.get_payment(&imp_uid).await.unwrap().cancel_amount,
        3000
    );
}

#[tokio::test]
async fn fault_delay_is_slow_but_fine() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("order-delay", 1000, json!({})).await;
    client.ping().await.unwrap();
    env.fault(json!({ "target": "api", "mode": "delay", "count": 1, "delay_ms": 200 }))
        .await;
    let started = Instant::now();
    client.get_payment(&imp_uid).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Longer than the client's timeout: a timeout.
    let short = env.client_with_timeout(Duration::from_millis(300));
    short.ping().await.unwrap();
    env.fault(json!({ "target": "api", "mode": "delay", "count": 1, "delay_ms": 1000 }))
        .await;
    let err = short.prepare("order-delay-2", 1000).await.unwrap_err();
    assert!(matches!(err, PortOneError::Timeout), "{err:?}");
}

#[tokio::test]
async fn faults_can_be_cleared_and_skip_control_calls() {
    let env = Env::start().await;
    let client = env.client();
    client.ping().await.unwrap();
    env.fault(json!({ "target": "api", "mode": "error_500", "count": 50 }))
        .await;
    // Control calls and static files are not affected.
    let imp_uid = env.pay("order-clear", 1000, json!({})).await;
    let js = env
        .http
        .get(format!("{}/iamport.js", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    let cleared = env
        .http
        .delete(format!("{}/_sandbox/faults", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    client.get_payment(&imp_uid).await.unwrap();
}

#[tokio::test]
async fn connect_failure_means_not_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = ClientConfig::new(format!("http://{addr}"), "k", "s");
    config.retry_backoff = Duration::from_millis(1);
    let client = PortOneClient::new(config).unwrap();
    let err = client.get_payment("imp_123456789012").await.unwrap_err();
    // The token request could not be sent, so neither was the call.
    assert_eq!(err.kind(), "token");
    assert!(err.outcome_known());
    assert!(
        matches!(err, PortOneError::Token(ref inner) if matches!(**inner, PortOneError::Connect(_)))
    );
}

/// A hand-made gateway answering `body` with `status` to every authenticated call.
async fn fake_gateway(status: StatusCode, body: &'static str) -> PortOneClient {
    let app = Router::new()
        .route(
            "/users/getToken",
            post(|| async {
                axum::Json(json!({"code":0,"message":null,"response":{"access_token":"t","now":1,"expired_at":1801}}))
            }),
        )
        .route("/payments/{imp_uid}", get(move || async move { (status, body) }))
        .route("/payments/cancel", post(move || async move { (status, body) }));
    let addr = serve(app).await;
    let mut config = ClientConfig::new(format!("http://{addr}"), "k", "s");
    config.retry_backoff = Duration::from_millis(1);
    PortOneClient::new(config).unwrap()
}

#[tokio::test]
async fn malformed_and_odd_answers() {
    let html = fake_gateway(StatusCode::OK, "<html>maintenance</html>").await;
    let err = html.get_payment("imp_1").await.unwrap_err();
    assert!(
        matches!(err, PortOneError::Malformed { status: 200, .. }),
        "{err:?}"
    );
    assert!(!err.outcome_known());

    let proxy = fake_gateway(StatusCode::BAD_GATEWAY, "Bad Gateway").await;
    let err = proxy
        .cancel(&CancelRequest::full("imp_1", 1, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PortOneError::Server { status: 502, .. }),
        "{err:?}"
    );

    // A refusal with HTTP 200 and code != 0 (as some V1 calls answer).
    let refused = fake_gateway(StatusCode::OK, include_str!("fixtures/cancel_refused.json")).await;
    let err = refused
        .cancel(&CancelRequest::full("imp_1", 1, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PortOneError::Refused {
                status: 200,
                code: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.gateway_message(), Some("이미 전액취소된 주문입니다."));

    // A recorded real payment through the whole client path.
    let real = fake_gateway(StatusCode::OK, include_str!("fixtures/payment_paid.json")).await;
    let p = real.get_payment("imp_347242536261").await.unwrap();
    assert_eq!((p.amount, p.status), (1004, PaymentStatus::Paid));
}

// ---- webhooks -------------------------------------------------------------------------

fn fast_webhooks() -> SandboxConfig {
    SandboxConfig {
        webhook_retry_base: Duration::from_millis(20),
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn webhook_retried_on_5xx_and_logged() {
    let env = Env::with(fast_webhooks()).await;
    let (receiver, hook) = Receiver::start(2).await;
    let imp_uid = env
        .pay("order-wh", 1000, json!({ "notice_url": hook }))
        .await;
    let log = env.webhooks().await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(
        log.iter()
            .map(|a| (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![(1, 500), (2, 500), (3, 200)]
    );
    assert_eq!(log[0]["url"], Value::from(hook));
    assert_eq!(log[0]["body"]["imp_uid"], Value::from(imp_uid));
    assert!(log[0]["at_ms"].as_i64().unwrap() > 0);
    assert_eq!(receiver.bodies().len(), 3);
    assert!(receiver.hits.lock().unwrap()[0]
        .0
        .starts_with("application/json"));
}

#[tokio::test]
async fn webhook_unreachable_gives_up_after_five_tries() {
    let env = Env::with(SandboxConfig {
        webhook_retry_base: Duration::from_millis(5),
        ..SandboxConfig::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    env.pay("order-dead", 1000, json!({ "notice_url": dead }))
        .await;
    let log = env.webhooks().await;
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(log
        .iter()
        .all(|a| a["status"].is_null() && a["error"].is_string()));
}

#[tokio::test]
async fn webhook_faults_drop_error_duplicate_delay() {
    let env = Env::with(fast_webhooks()).await;
    let (receiver, hook) = Receiver::start(0).await;

    for (i, mode) in ["drop", "error_500"].iter().enumerate() {
        env.fault(json!({ "target": "webhook", "mode": mode, "count": 1 }))
            .await;
        env.pay(
            &format!("order-lost-{i}"),
            1000,
            json!({ "notice_url": hook }),
        )
        .await;
    }
    let log = env.webhooks().await;
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|a| a["status"].is_null() && a["error"].is_string()));
    assert!(receiver.bodies().is_empty());

    env.fault(json!({ "target": "webhook", "mode": "duplicate", "count": 1 }))
        .await;
    env.pay("order-twice", 1000, json!({ "notice_url": hook }))
        .await;
    env.webhooks().await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);

    env.fault(json!({ "target": "webhook", "mode": "delay", "count": 1, "delay_ms": 300 }))
        .await;
    let started = Instant::now();
    env.pay("order-late", 1000, json!({ "notice_url": hook }))
        .await;
    env.webhooks().await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(receiver.bodies().len(), 3);
}

#[tokio::test]
async fn webhook_can_be_form_encoded() {
    let env = Env::with(SandboxConfig {
        webhook_encoding: WebhookEncoding::Form,
        ..SandboxConfig::default()
    })
    .await;
    let (receiver, hook) = Receiver::start(0).await;
    let imp_uid = env
        .pay("order-form", 1000, json!({ "notice_url": hook }))
        .await;
    env.webhooks().await;
    let hits = receiver.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].0.starts_with("application/x-www-form-urlencoded"));
    assert_eq!(
        hits[0].1,
        format!("imp_uid={imp_uid}&merchant_uid=order-form&status=paid")
    );
}

// ---- browser checkout -----------------------------------------------------------------

#[tokio::test]
async fn checkout_assets_and_pay_endpoint() {
    let env = Env::start().await;
    let (receiver, hook) = Receiver::start(0).await;
    let js = env
        .http
        .get(format!("{}/iamport.js", env.base))
        .send()
        .await
        .unwrap();
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let js = js.text().await.unwrap();
    assert!(js.contains("document.currentScript") && js.contains("request_pay"));
    let page = env
        .http
        .get(format!(
            "{}/checkout?imp_code=imp00000000&params=%7B%7D",
            env.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in ["pay-button", "decline-button", "card-number"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }

    let client = env.client();
    client.prepare("order-web", 25000).await.unwrap();
    let checkout = |action: &'static str, amount: i64, imp_code: &'static str| {
        env.http
            .post(format!("{}/_sandbox/checkout", env.base))
            .json(&json!({
                "imp_code": imp_code,
                "action": action,
                "card_number": "5428 7900 0000 0294",
                "params": {
                    "pg": "html5_inicis.INIpayTest", "pay_method": "card", "escrow": true,
                    "merchant_uid": "order-web", "name": "책상", "amount": amount,
                    "buyer_email": "b@example.com", "notice_url": hook
                }
            }))
            .send()
    };
    let wrong_code: Value = checkout("pay", 25000, "imp_other")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_code["success"], false);
    let tampered: Value = checkout("pay", 100, "imp00000000")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (tampered["success"].clone(), tampered["status"].clone()),
        (json!(false), json!("failed"))
    );
    assert!(tampered["error_msg"].is_string());
    let declined: Value = checkout("decline", 25000, "imp00000000")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(declined["success"], false);
    let paid: Value = checkout("pay", 25000, "imp00000000")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(paid["paid_amount"], 25000);
    for key in [
        "imp_uid",
        "merchant_uid",
        "status",
        "pay_method",
        "pg_provider",
        "pg_tid",
        "apply_num",
    ] {
        assert!(paid[key].is_string(), "{key}: {paid}");
    }
    let p = client
        .get_payment(paid["imp_uid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(p.card_number.as_deref(), Some("542879******0294"));
    assert!(p.escrow);
    env.webhooks().await;
    assert_eq!(receiver.bodies().len(), 1);
}

// ---- recorded answers -----------------------------------------------------------------

#[test]
fn parses_recorded_v1_answers() {
    let token: Envelope<portone::AccessToken> =
        serde_json::from_str(include_str!("fixtures/token.json")).unwrap();
    let token = token.response.unwrap();
    assert_eq!(token.expired_at - token.now, 1800);

    let paid: Envelope<Payment> =
        serde_json::from_str(include_str!("fixtures/payment_paid.json")).unwrap();
    assert_eq!(paid.code, 0);
    let paid = paid.response.unwrap();
    assert_eq!(paid.imp_uid, "imp_347242536261");
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert_eq!(
        (paid.amount, paid.cancel_amount, paid.cancelled_at),
        (1004, 0, 0)
    );
    assert!(paid.escrow);
    assert_eq!(paid.card_number.as_deref(), Some("542879*********4"));

    let partial: Envelope<Payment> =
        serde_json::from_str(include_str!("fixtures/payment_partially_cancelled.json")).unwrap();
    let partial = partial.response.unwrap();
    assert_eq!((partial.amount, partial.cancel_amount), (50000, 20000));
    assert_eq!(partial.status, PaymentStatus::Paid);
    assert_eq!(partial.cancel_history.len(), 2);
    assert_eq!(
        partial.cancel_history.iter().map(|h| h.amount).sum::<i64>(),
        20000
    );
    assert_eq!(partial.failed_at, 0);
    assert_eq!(partial.custom_data.as_deref(), Some(r#"{"order_id":42}"#));
    assert_eq!(partial.cancellable_amount(), 30000);

    let prepared: Envelope<Prepared> =
        serde_json::from_str(include_str!("fixtures/prepare.json")).unwrap();
    assert_eq!(prepared.response.unwrap().amount, 50000);
    let logis: Envelope<portone::EscrowLogisRecord> =
        serde_json::from_str(include_str!("fixtures/escrow_logis.json")).unwrap();
    assert_eq!(logis.response.unwrap().company, "CJGLS");
    let unauthorized: Envelope<Payment> =
        serde_json::from_str(include_str!("fixtures/error_unauthorized.json")).unwrap();
    assert_eq!(unauthorized.code, -1);
    assert!(unauthorized.response.is_none());
}
