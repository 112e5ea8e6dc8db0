//! The V2 client against the sandbox's V2 face over real HTTP: every call, each typed
//! error, faults, signed webhooks, and the store the V2 and V1 faces share.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::http::HeaderMap;
use portone::v2::{
    CancelRequest, CancellationStatus, CursorQuery, EscrowLogisticsRequest, EscrowParty,
    EscrowStatus, Logistics, PaymentMethod, PaymentStatus, PaymentsQuery, PortOneV2,
    PortOneV2Client, RefundAccount, V2Config, V2Error, VirtualAccountRefundStatus,
};
use portone::{ClientConfig, PortOne, PortOneClient};
use portone_sandbox::{FaultMode, FaultTarget};
use serde_json::{json, Value};
use time::OffsetDateTime;

mod v2_support;
use v2_support::{Env, Receiver, V1, V2};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn delivery(invoice: &str) -> EscrowLogisticsRequest {
    EscrowLogisticsRequest::new(Logistics::new("CJ", invoice, now())).with_parties(
        EscrowParty::new("판매자", "010-1111-2222"),
        EscrowParty::new("구매자", "010-3333-4444"),
    )
}

fn refund_account() -> RefundAccount {
    RefundAccount {
        bank: "KOOKMIN".into(),
        number: "12345678901234".into(),
        holder_name: "홍길동".into(),
        holder_phone_number: None,
    }
}

#[tokio::test]
async fn a_paid_card_payment_reads_as_v2_shows_it() {
    let env = Env::start().await;
    env.card("order-1", 15_000).await;
    let payment = env.client().get_payment("order-1").await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Paid);
    assert_eq!(payment.id, "order-1");
    assert_eq!(payment.store_id, env.sandbox.config().store_id);
    assert_eq!(
        (payment.amount.total, payment.amount.paid),
        (15_000, 15_000)
    );
    assert_eq!(payment.cancellable_amount(), 15_000);
    assert!(matches!(payment.method, Some(PaymentMethod::Card(_))));
    assert!(payment.paid_at.is_some() && payment.cancellations.is_empty());
    assert_eq!(
        payment.escrow.map(|e| e.status),
        Some(EscrowStatus::BeforeRegistered)
    );
}

#[tokio::test]
async fn cancels_partly_then_fully_with_the_cancellable_amount_checked() {
    let env = Env::start().await;
    let client = env.client();
    env.card("order-2", 10_000).await;
    let first = client
        .cancel(
            "order-2",
            &CancelRequest::new(Some(3_000), "부분 환불").with_current_cancellable_amount(10_000),
        )
        .await
        .unwrap();
    assert_eq!(first.cancellation.status, CancellationStatus::Succeeded);
    assert_eq!(first.cancellation.total_amount, 3_000);
    let payment = client.get_payment("order-2").await.unwrap();
    assert_eq!(payment.status, PaymentStatus::PartialCancelled);
    assert_eq!(payment.cancellable_amount(), 7_000);

    // A retry of the first cancel, still believing 10 000 is cancellable, is refused.
    let stale = client
        .cancel(
            "order-2",
            &CancelRequest::new(Some(3_000), "부분 환불").with_current_cancellable_amount(10_000),
        )
        .await;
    assert!(
        matches!(
            stale,
            Err(V2Error::CancellableAmountConsistencyBroken { .. })
        ),
        "{stale:?}"
    );
    let over = client
        .cancel("order-2", &CancelRequest::new(Some(7_001), "초과"))
        .await;
    assert!(
        matches!(over, Err(V2Error::CancelAmountExceeds { .. })),
        "{over:?}"
    );

    let rest = client
        .cancel(
            "order-2",
            &CancelRequest::new(None, "전액").with_current_cancellable_amount(7_000),
        )
        .await
        .unwrap();
    assert_eq!(rest.cancellation.total_amount, 7_000);
    let payment = client.get_payment("order-2").await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Cancelled);
    assert_eq!(payment.cancellations.len(), 2);
    assert!(payment.cancelled_at.is_some());
    let again = client
        .cancel("order-2", &CancelRequest::new(None, "again"))
        .await;
    assert!(
        matches!(again, Err(V2Error::AlreadyCancelled { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn each_refusal_is_its_typed_error() {
    let env = Env::start().await;
    let client = env.client();
    env.card("order-3", 5_000).await;

    let unknown = client.get_payment("no-such-payment").await;
    assert!(
        matches!(unknown, Err(V2Error::NotFound { .. })),
        "{unknown:?}"
    );

    let wrong =
        PortOneV2Client::new(V2Config::new(format!("{}{V2}", env.origin), "wrong")).unwrap();
    let err = wrong.get_payment("order-3").await.unwrap_err();
    assert!(
        matches!(err, V2Error::Unauthorized { .. }) && err.outcome_known(),
        "{err:?}"
    );

    let other_store = PortOneV2Client::new(env.config().with_store_id("store-other")).unwrap();
    let forbidden = other_store.get_payment("order-3").await;
    assert!(
        matches!(forbidden, Err(V2Error::Forbidden { .. })),
        "{forbidden:?}"
    );
    // The right store id is accepted wherever V2 takes it.
    let same_store =
        PortOneV2Client::new(env.config().with_store_id(&env.sandbox.config().store_id)).unwrap();
    assert!(same_store.get_payment("order-3").await.is_ok());
    assert!(same_store
        .cancel("order-3", &CancelRequest::new(Some(1), "store"))
        .await
        .is_ok());

    let blank = client
        .cancel("order-3", &CancelRequest::new(None, " "))
        .await;
    assert!(
        matches!(blank, Err(V2Error::InvalidRequest { .. })),
        "{blank:?}"
    );

    let issued = env
        .pay(json!({ "payment_id": "vbank-3", "amount": 5_000, "pay_method": "VIRTUAL_ACCOUNT" }))
        .await;
    assert_eq!(issued["status"], "VIRTUAL_ACCOUNT_ISSUED");
    let unpaid = client
        .cancel("vbank-3", &CancelRequest::new(None, "x"))
        .await;
    assert!(matches!(unpaid, Err(V2Error::NotPaid { .. })), "{unpaid:?}");
    let logistics = client
        .register_escrow_logistics("vbank-3", &delivery("1"))
        .await;
    assert!(
        matches!(logistics, Err(V2Error::NotPaid { .. })),
        "{logistics:?}"
    );
}

/// Poll the gateway until `done` holds (a refund arrives in its own time).
async fn until<F: Fn(&portone::v2::Payment) -> bool>(
    client: &PortOneV2Client,
    id: &str,
    done: F,
) -> portone::v2::Payment {
    for _ in 0..500 {
        let payment = client.get_payment(id).await.unwrap();
        if done(&payment) {
            return payment;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never reached the expected state");
}

#[tokio::test]
async fn a_virtual_account_is_issued_paid_and_refunded_in_steps() {
    let env = Env::start().await;
    let client = env.client();
    env.pay(json!({ "payment_id": "vbank-4", "amount": 20_000, "pay_method": "VIRTUAL_ACCOUNT" }))
        .await;
    let issued = client.get_payment("vbank-4").await.unwrap();
    assert_eq!(issued.status, PaymentStatus::VirtualAccountIssued);
    let account = issued.virtual_account().unwrap();
    assert_eq!(account.bank.as_deref(), Some("KOOKMIN"));
    assert!(!account.account_number.is_empty() && account.expired_at.is_some());

    let (status, answer) = env.control("payments/vbank-4/deposit", json!({})).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("PAID")),
        "{answer}"
    );

    let without = client
        .cancel("vbank-4", &CancelRequest::new(Some(5_000), "환불"))
        .await;
    assert!(
        matches!(without, Err(V2Error::InvalidRequest { .. })),
        "{without:?}"
    );
    let cancel = client
        .cancel(
            "vbank-4",
            &CancelRequest::new(Some(5_000), "환불").with_refund_account(refund_account()),
        )
        .await
        .unwrap();
    // The cancel is accepted; the money reaches the buyer's account later.
    assert_eq!(cancel.cancellation.status, CancellationStatus::Requested);
    assert_eq!(cancel.cancellation.cancelled_at, None);
    let refunded = until(&client, "vbank-4", |p| {
        p.cancellations
            .iter()
            .all(|c| c.status == CancellationStatus::Succeeded)
    })
    .await;
    assert_eq!(refunded.status, PaymentStatus::PartialCancelled);
    assert_eq!(
        refunded.virtual_account().unwrap().refund_status,
        Some(VirtualAccountRefundStatus::Completed)
    );
}

#[tokio::test]
async fn an_unpaid_virtual_account_closes_once() {
    let env = Env::start().await;
    let client = env.client();
    env.pay(json!({ "payment_id": "vbank-5", "amount": 9_000, "pay_method": "VIRTUAL_ACCOUNT" }))
        .await;
    let closed = client.close_virtual_account("vbank-5").await.unwrap();
    assert!(closed.closed_at <= now());
    assert_eq!(
        client.get_payment("vbank-5").await.unwrap().status,
        PaymentStatus::Cancelled
    );
    let again = client.close_virtual_account("vbank-5").await;
    assert!(
        matches!(again, Err(V2Error::NotWaitingForDeposit { .. })),
        "{again:?}"
    );
    // A late transfer is refused.
    let (status, _) = env.control("payments/vbank-5/deposit", json!({})).await;
    assert_eq!(status, 409);
    env.card("card-5", 1_000).await;
    let card = client.close_virtual_account("card-5").await;
    assert!(
        matches!(card, Err(V2Error::NotWaitingForDeposit { .. })),
        "{card:?}"
    );
}

#[tokio::test]
async fn escrow_delivery_is_registered_modified_and_completed() {
    let env = Env::start().await;
    let client = env.client();
    env.card("escrow-6", 30_000).await;
    let applied = client
        .register_escrow_logistics("escrow-6", &delivery("111"))
        .await
        .unwrap();
    assert_eq!(applied.invoice_number, "111");
    assert!(applied.applied_at.is_some());
    let twice = client
        .register_escrow_logistics("escrow-6", &delivery("111"))
        .await;
    assert!(
        matches!(twice, Err(V2Error::InvalidRequest { .. })),
        "{twice:?}"
    );
    let modified = client
        .modify_escrow_logistics("escrow-6", &delivery("222"))
        .await
        .unwrap();
    assert_eq!(modified.invoice_number, "222");
    assert!(modified.modified_at.is_some());
    let escrow = client
        .get_payment("escrow-6")
        .await
        .unwrap()
        .escrow
        .unwrap();
    assert_eq!(escrow.status, EscrowStatus::Registered);
    assert_eq!(escrow.invoice_number.as_deref(), Some("222"));

    client.complete_escrow("escrow-6", true).await.unwrap();
    let escrow = client
        .get_payment("escrow-6")
        .await
        .unwrap()
        .escrow
        .unwrap();
    assert_eq!(escrow.status, EscrowStatus::Confirmed);
    assert_eq!(escrow.is_automatically_confirmed, Some(false));
    let late = client
        .modify_escrow_logistics("escrow-6", &delivery("333"))
        .await;
    assert!(
        matches!(late, Err(V2Error::InvalidRequest { .. })),
        "{late:?}"
    );

    // A buyer's rejection at the PG shows only in the escrow's status.
    env.card("escrow-6b", 30_000).await;
    client
        .register_escrow_logistics("escrow-6b", &delivery("444"))
        .await
        .unwrap();
    let (status, _) = env
        .control("payments/escrow-6b/escrow", json!({ "status": "REJECTED" }))
        .await;
    assert_eq!(status, 200);
    let escrow = client
        .get_payment("escrow-6b")
        .await
        .unwrap()
        .escrow
        .unwrap();
    assert_eq!(escrow.status, EscrowStatus::Rejected);
    let complete = client.complete_escrow("escrow-6b", true).await;
    assert!(
        matches!(complete, Err(V2Error::InvalidRequest { .. })),
        "{complete:?}"
    );
    let unknown = client.complete_escrow("nobody", true).await;
    assert!(
        matches!(unknown, Err(V2Error::NotFound { .. })),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn payments_are_listed_by_page_and_by_cursor() {
    let env = Env::start().await;
    let client = env.client();
    let from = now() - time::Duration::minutes(1);
    for id in ["list-a", "list-b", "list-c"] {
        env.card(id, 1_000).await;
    }
    let until = now() + time::Duration::minutes(1);
    let page = client
        .list_payments(&PaymentsQuery::status_changed(from, until, 0, 2))
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.page.total_count), (2, 3));
    let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["list-c", "list-b"]);
    let mut cancelled_only = PaymentsQuery::status_changed(from, until, 0, 10);
    cancelled_only.status = vec![PaymentStatus::Cancelled];
    assert!(client
        .list_payments(&cancelled_only)
        .await
        .unwrap()
        .items
        .is_empty());

    let first = client
        .payments_by_cursor(&CursorQuery::new(from, until, 2))
        .await
        .unwrap();
    let ids: Vec<&str> = first.items.iter().map(|i| i.payment.id.as_str()).collect();
    assert_eq!(ids, ["list-a", "list-b"]);
    let last = &first.items[1].cursor;
    let second = client
        .payments_by_cursor(&CursorQuery::new(from, until, 2).after(last.clone()))
        .await
        .unwrap();
    let ids: Vec<&str> = second.items.iter().map(|i| i.payment.id.as_str()).collect();
    assert_eq!(ids, ["list-c"]);
    let end = client
        .payments_by_cursor(&CursorQuery::new(from, until, 2).after(second.items[0].cursor.clone()))
        .await
        .unwrap();
    assert!(end.items.is_empty());
    client.ping().await.unwrap();
}

#[tokio::test]
async fn faults_are_unknown_outcomes_and_reads_are_retried() {
    let env = Env::start().await;
    let client = env.client();
    env.card("fault-7", 4_000).await;
    let fault = |mode, count| portone_sandbox::Fault {
        target: FaultTarget::Api,
        mode,
        count,
        delay_ms: Some(300),
    };
    // One failed read is retried.
    env.sandbox.set_fault(fault(FaultMode::Error500, 1));
    assert!(client.get_payment("fault-7").await.is_ok());
    // A cancel is never retried: a 500 leaves its outcome unknown.
    env.sandbox.set_fault(fault(FaultMode::Error500, 1));
    let err = client
        .cancel("fault-7", &CancelRequest::new(Some(1_000), "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, V2Error::Server { status: 500, .. }) && !err.outcome_known());
    // Done, but the answer never came: the next read shows it.
    env.sandbox.set_fault(fault(FaultMode::Timeout, 1));
    let slow = PortOneV2Client::new(env.config().with_timeout(Duration::from_millis(100))).unwrap();
    let err = slow
        .cancel("fault-7", &CancelRequest::new(Some(1_000), "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, V2Error::Timeout) && !err.outcome_known(),
        "{err:?}"
    );
    assert_eq!(
        client
            .get_payment("fault-7")
            .await
            .unwrap()
            .amount
            .cancelled,
        1_000
    );
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_until_answered() {
    let env = Env::start().await;
    let (receiver, url) = Receiver::start(2).await;
    env.pay(json!({ "payment_id": "hook-8", "amount": 2_000, "pay_method": "CARD", "notice_urls": [url] }))
        .await;
    env.sandbox.webhooks_idle().await;
    env.client()
        .cancel("hook-8", &CancelRequest::new(Some(500), "부분"))
        .await
        .unwrap();
    env.sandbox.webhooks_idle().await;
    let hits = receiver.hits.lock().unwrap().clone();
    // Paid: two 500s then accepted; the partial cancel at once.
    assert_eq!(hits.len(), 4);
    let secret = &env.sandbox.config().webhook_secret;
    let header = |h: &HeaderMap, name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    for (headers, body) in &hits {
        let verified = webhook_signing::verify(
            secret,
            header(headers, "webhook-id").as_deref(),
            header(headers, "webhook-timestamp").as_deref(),
            header(headers, "webhook-signature").as_deref(),
            body.as_bytes(),
            now().unix_timestamp(),
        );
        assert_eq!(verified, Ok(()), "{body}");
    }
    // One id for every attempt of one webhook.
    assert_eq!(
        header(&hits[0].0, "webhook-id"),
        header(&hits[2].0, "webhook-id")
    );
    let bodies: Vec<Value> = hits
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(bodies[2]["type"], "Transaction.Paid");
    assert_eq!(bodies[2]["data"]["paymentId"], "hook-8");
    assert_eq!(bodies[3]["type"], "Transaction.PartialCancelled");
    assert!(bodies[3]["data"]["cancellationId"].is_string());
}

#[tokio::test]
async fn the_v1_face_sees_the_same_payments() {
    let env = Env::start().await;
    env.card("shared-9", 8_000).await;
    let secret = env.sandbox.config().imp_secret.clone();
    let key = env.sandbox.config().imp_key.clone();
    let mut config = ClientConfig::new(format!("{}{V1}", env.origin), key, secret);
    config.retry_backoff = Duration::from_millis(5);
    let v1 = PortOneClient::new(config).unwrap();
    let payment = v1.find_payment("shared-9").await.unwrap();
    assert_eq!(payment.amount, 8_000);
    env.client()
        .cancel("shared-9", &CancelRequest::new(Some(3_000), "v2"))
        .await
        .unwrap();
    let payment = v1.get_payment(&payment.imp_uid).await.unwrap();
    assert_eq!(payment.cancel_amount, 3_000);
}

/// The official JS SDK sends its JSON without a Content-Type: read as JSON all the same.
#[tokio::test]
async fn bodies_without_a_content_type_are_read_as_json() {
    let env = Env::start().await;
    env.card("raw-10", 3_000).await;
    let r = env
        .http
        .post(format!("{}{V2}/payments/raw-10/cancel", env.origin))
        .header(
            "authorization",
            format!("PortOne {}", env.sandbox.config().api_secret),
        )
        .body(r#"{"reason":"no content type","amount":1000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["cancellation"]["totalAmount"], 1000);
    let bad = env
        .http
        .post(format!("{}{V2}/payments/raw-10/cancel", env.origin))
        .header(
            "authorization",
            format!("PortOne {}", env.sandbox.config().api_secret),
        )
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let answer: Value = bad.json().await.unwrap();
    assert_eq!(answer["type"], "INVALID_REQUEST");
}
