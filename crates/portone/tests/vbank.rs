//! Virtual accounts against the sandbox over real HTTP: issued at checkout or by REST,
//! the `ready` and `paid` webhooks, the deposit control call's refusals, revoking, and a
//! cancel of a paid one needing the refund account in the PG's bank-code format.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::Router;
use portone::{CancelRequest, PaymentStatus, PortOne, PortOneError, VbankRequest};
use serde_json::{json, Value};

mod support;
use support::{serve, Env};

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A notice URL that records every JSON body it receives.
async fn receiver() -> (Arc<Mutex<Vec<Value>>>, String) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let recorded = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let addr = serve(app).await;
    (hits, format!("http://{addr}/hook"))
}

async fn deposit(env: &Env, imp_uid: &str, amount: i64) -> (u16, Value) {
    let r = env
        .http
        .post(format!("{}/_sandbox/vbanks/{imp_uid}/deposit", env.base))
        .json(&json!({ "amount": amount }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// An account issued at checkout; returns its imp_uid.
async fn issue(env: &Env, merchant_uid: &str, amount: i64, extra: Value) -> String {
    let mut body = json!({ "merchant_uid": merchant_uid, "amount": amount, "pay_method": "vbank" });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, answer) = env.control_pay(body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ready")),
        "{answer}"
    );
    answer["imp_uid"].as_str().unwrap().to_owned()
}

fn refused(err: &PortOneError) -> (u16, i64) {
    match err {
        PortOneError::Refused { status, code, .. } => (*status, *code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn issued_at_checkout_only_the_exact_deposit_pays_it() {
    let env = Env::start().await;
    let (hits, hook) = receiver().await;
    let client = env.client();
    let before = now();
    let imp_uid = issue(&env, "vb-1", 25000, json!({ "notice_url": hook })).await;

    let p = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Ready);
    assert_eq!(p.pay_method.as_deref(), Some("vbank"));
    assert_eq!(
        (p.vbank_code.as_deref(), p.vbank_name.as_deref()),
        (Some("004"), Some("KB국민은행"))
    );
    assert!(p.vbank_num.as_deref().is_some_and(|n| n.len() >= 10));
    assert!(p.vbank_holder.is_some());
    assert!(p.vbank_issued_at >= before && p.vbank_issued_at <= now());
    assert_eq!(p.vbank_date - p.vbank_issued_at, 24 * 60 * 60);
    assert_eq!(p.paid_at, 0);

    for wrong in [24999, 25001, 0] {
        let (status, answer) = deposit(&env, &imp_uid, wrong).await;
        assert_eq!(status, 409, "{wrong}: {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    assert_eq!(client.get_payment(&imp_uid).await.unwrap(), p);

    let (status, answer) = deposit(&env, &imp_uid, 25000).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("paid")),
        "{answer}"
    );
    let paid = client.get_payment(&imp_uid).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert!(paid.paid_at >= before);
    // A second transfer finds the account paid.
    assert_eq!(deposit(&env, &imp_uid, 25000).await.0, 409);
    assert_eq!(deposit(&env, "imp_nothing", 25000).await.0, 404);

    env.webhooks().await;
    let statuses: Vec<_> = hits
        .lock()
        .unwrap()
        .iter()
        .map(|b| (b["imp_uid"].clone(), b["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (json!(imp_uid), json!("ready")),
            (json!(imp_uid), json!("paid"))
        ]
    );
}

#[tokio::test]
async fn a_deposit_after_the_due_time_is_refused() {
    let env = Env::start().await;
    let client = env.client();
    let at = now() - 3600;
    let imp_uid = issue(
        &env,
        "vb-late",
        9000,
        json!({ "at": at, "vbank_due": now() - 60 }),
    )
    .await;
    let (status, answer) = deposit(&env, &imp_uid, 9000).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        client.get_payment(&imp_uid).await.unwrap().status,
        PaymentStatus::Ready
    );
    // A due time already past at the checkout is no account at all.
    let (status, _) = env
        .control_pay(json!({ "merchant_uid": "vb-past", "amount": 1000, "pay_method": "vbank", "vbank_due": now() - 1 }))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_revoked_account_is_cancelled_and_refuses_transfers() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = issue(&env, "vb-revoke", 12000, json!({})).await;

    let p = client.revoke_vbank(&imp_uid).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Cancelled);
    assert!(p.cancelled_at > 0);
    let (status, answer) = deposit(&env, &imp_uid, 12000).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(client.get_payment(&imp_uid).await.unwrap(), p);

    // Revoking is for accounts waiting for a deposit only.
    let again = client.revoke_vbank(&imp_uid).await.unwrap_err();
    assert_eq!(refused(&again).0, 400);
    let paid = issue(&env, "vb-paid", 5000, json!({})).await;
    assert_eq!(deposit(&env, &paid, 5000).await.0, 200);
    assert_eq!(
        refused(&client.revoke_vbank(&paid).await.unwrap_err()).0,
        400
    );
    let card = env.pay("card-1", 5000, json!({})).await;
    assert_eq!(
        refused(&client.revoke_vbank(&card).await.unwrap_err()).0,
        400
    );
    assert!(matches!(
        client.revoke_vbank("imp_unknown").await,
        Err(PortOneError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_paid_vbank_cancel_needs_the_refund_account_in_the_pgs_format() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = issue(&env, "vb-refund", 30000, json!({})).await;
    // An account still waiting is revoked, not cancelled.
    let unpaid = client
        .cancel(&CancelRequest::full(&imp_uid, 30000, "early"))
        .await
        .unwrap_err();
    assert_eq!(refused(&unpaid), (200, 1));
    assert_eq!(deposit(&env, &imp_uid, 30000).await.0, 200);

    let with = |bank: &str, account: &str, holder: &str| CancelRequest {
        refund_bank: Some(bank.into()),
        refund_account: Some(account.into()),
        refund_holder: Some(holder.into()),
        ..CancelRequest::partial(&imp_uid, 10000, 30000, "refund")
    };
    let refusals = [
        CancelRequest::partial(&imp_uid, 10000, 30000, "no account"),
        with("004", "1234567890", "홍길동"),
        with("99", "1234567890", "홍길동"),
        with("04", "12-34", "홍길동"),
        with("04", "1234567890", " "),
    ];
    for request in refusals {
        let err = client.cancel(&request).await.unwrap_err();
        assert_eq!(refused(&err), (200, 1), "{request:?}");
    }
    assert_eq!(client.get_payment(&imp_uid).await.unwrap().cancel_amount, 0);

    let p = client
        .cancel(&with("04", "123-456-789012", "홍길동"))
        .await
        .unwrap();
    assert_eq!((p.status, p.cancel_amount), (PaymentStatus::Paid, 10000));
    let p = client
        .cancel(&CancelRequest {
            amount: None,
            checksum: Some(20000),
            ..with("88", "110123456789", "홍길동")
        })
        .await
        .unwrap();
    assert_eq!(
        (p.status, p.cancel_amount),
        (PaymentStatus::Cancelled, 30000)
    );
}

#[tokio::test]
async fn issued_by_rest_with_the_pgs_bank_code() {
    let env = Env::start().await;
    let (hits, hook) = receiver().await;
    let client = env.client();
    let due = now() + 3 * 24 * 60 * 60;
    let request = VbankRequest {
        merchant_uid: "vb-rest".into(),
        amount: 44000,
        vbank_code: "88".into(),
        vbank_due: due,
        vbank_holder: Some("에스크로상점".into()),
        buyer_name: Some("구매자".into()),
        notice_url: Some(hook),
        ..VbankRequest::default()
    };
    let p = client.issue_vbank(&request).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Ready);
    assert_eq!(
        (
            p.vbank_code.as_deref(),
            p.vbank_name.as_deref(),
            p.vbank_date
        ),
        (Some("088"), Some("신한은행"), due)
    );
    assert_eq!(p.vbank_holder.as_deref(), Some("에스크로상점"));
    assert_eq!(client.get_payment(&p.imp_uid).await.unwrap(), p);

    let bad = [
        VbankRequest {
            vbank_code: "088".into(),
            ..request.clone()
        },
        VbankRequest {
            vbank_holder: None,
            ..request.clone()
        },
        VbankRequest {
            vbank_due: now() - 10,
            ..request.clone()
        },
    ];
    for request in bad {
        let err = client.issue_vbank(&request).await.unwrap_err();
        assert_eq!(refused(&err).0, 400, "{request:?}");
    }
    env.webhooks().await;
    let bodies = hits.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["status"], "ready");
}

#[tokio::test]
async fn the_checkout_page_issues_with_the_pgs_due_format() {
    let env = Env::start().await;
    let call = |params: Value| {
        let env = &env;
        async move {
            let imp_code = env.sandbox.config().imp_code.clone();
            let r = env
                .http
                .post(format!("{}/_sandbox/checkout", env.base))
                .json(&json!({ "imp_code": imp_code, "params": params, "action": "pay" }))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let answer = call(json!({
        "merchant_uid": "vb-page", "amount": 7000, "pay_method": "vbank",
        "escrow": true, "vbank_due": "209912312359"
    }))
    .await;
    assert_eq!(
        (answer["success"].as_bool(), answer["status"].as_str()),
        (Some(true), Some("ready")),
        "{answer}"
    );
    // 2099-12-31 23:59 in Korean time.
    assert_eq!(answer["vbank_date"], 4_102_412_340i64);
    assert!(answer["vbank_num"].is_string() && answer["vbank_name"].is_string());
    let p = env
        .client()
        .get_payment(answer["imp_uid"].as_str().unwrap())
        .await
        .unwrap();
    assert!(p.escrow);
    assert_eq!(p.vbank_date, 4_102_412_340);

    let bad = call(json!({
        "merchant_uid": "vb-page-2", "amount": 7000, "pay_method": "vbank", "vbank_due": "tomorrow"
    }))
    .await;
    assert_eq!(bad["success"], false, "{bad}");
}
