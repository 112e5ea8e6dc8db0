//! Reading many payments at once, client against the sandbox over real HTTP: the status
//! list with its time window and paging, the batch look-up by imp_uid, their refusals, and
//! the cancel history reconciliation matches refunds by.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use portone::{
    CancelRequest, PaymentListQuery, PaymentStatus, PortOne, PortOneError, Sorting, StatusFilter,
};
use serde_json::{json, Value};

mod support;
use support::Env;

fn now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// The imp_uids of a list, as a set.
fn ids(payments: &[portone::Payment]) -> HashSet<String> {
    payments.iter().map(|p| p.imp_uid.clone()).collect()
}

fn set(items: &[&String]) -> HashSet<String> {
    items.iter().map(|s| (*s).clone()).collect()
}

/// (HTTP status, envelope code) of a refusal.
fn refusal(result: Result<impl std::fmt::Debug, PortOneError>) -> (u16, i64) {
    match result {
        Err(PortOneError::Refused { status, code, .. }) => (status, code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

impl Env {
    /// A raw authorized GET of a V1 path; returns (HTTP status, body).
    async fn raw_get(&self, path_and_query: &str) -> (u16, Value) {
        let token: Value = self
            .http
            .post(format!("{}/users/getToken", self.base))
            .json(&json!({
                "imp_key": self.sandbox.config().imp_key,
                "imp_secret": self.sandbox.config().imp_secret,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["response"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .header("Authorization", token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn stats(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/_sandbox/stats", self.base))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

#[tokio::test]
async fn status_list_windows_each_payment_on_the_time_of_its_status() {
    let env = Env::start().await;
    let gateway: Arc<dyn PortOne> = Arc::new(env.client());
    let hour_ago = now() - 3600;
    let old = json!({ "at": hour_ago });
    let unchanged = env.pay("old-unchanged", 1000, old.clone()).await;
    let cancelled = env.pay("old-cancelled", 2000, old.clone()).await;
    let partial = env.pay("old-partial", 3000, old.clone()).await;
    let (status, failed) = env
        .control_pay(json!({ "merchant_uid": "old-failed", "amount": 500, "outcome": "failed", "at": hour_ago }))
        .await;
    assert_eq!((status, failed["status"].as_str()), (200, Some("failed")));
    let failed = failed["imp_uid"].as_str().unwrap().to_owned();

    // T: every change below happens at or after it.
    let t = now() - 1;
    let fresh = env.pay("fresh", 4000, json!({})).await;
    gateway
        .cancel(&CancelRequest::full(&cancelled, 2000, "buyer changed mind"))
        .await
        .unwrap();
    let after_partial = gateway
        .cancel(&CancelRequest::partial(&partial, 1000, 3000, "part"))
        .await
        .unwrap();
    assert_eq!(after_partial.status, PaymentStatus::Paid);

    let since_t = |status| PaymentListQuery::new(status).between(t, now() + 60);
    let list = |q: PaymentListQuery| {
        let gateway = gateway.clone();
        async move { gateway.list_payments(&q).await.unwrap() }
    };
    // Cancelled in full after T: found by cancelled_at although paid long before.
    let page = list(since_t(StatusFilter::Cancelled)).await;
    assert_eq!((page.total, ids(&page.list)), (1, set(&[&cancelled])));
    assert_eq!(page.list[0].status, PaymentStatus::Cancelled);
    // Paid after T: only the fresh one; the partial cancel keeps its old paid_at.
    let page = list(since_t(StatusFilter::Paid)).await;
    assert_eq!(ids(&page.list), set(&[&fresh]));
    // `all` applies each payment's own status time.
    let page = list(since_t(StatusFilter::All)).await;
    assert_eq!(ids(&page.list), set(&[&fresh, &cancelled]));
    assert_eq!(list(since_t(StatusFilter::Failed)).await.total, 0);
    assert_eq!(list(since_t(StatusFilter::Ready)).await.total, 0);

    // Before T: the unchanged and the partially cancelled paid ones, and the failure.
    let before_t = |status| PaymentListQuery::new(status).between(hour_ago - 60, t - 1);
    let page = list(before_t(StatusFilter::Paid)).await;
    assert_eq!(ids(&page.list), set(&[&unchanged, &partial]));
    let page = list(before_t(StatusFilter::All)).await;
    assert_eq!(ids(&page.list), set(&[&unchanged, &partial, &failed]));
    let page = list(before_t(StatusFilter::Failed)).await;
    assert_eq!(ids(&page.list), set(&[&failed]));
    assert_eq!(list(before_t(StatusFilter::Cancelled)).await.total, 0);

    // Both ends are inclusive, to the second.
    let at_hour_ago = PaymentListQuery::new(StatusFilter::Paid).between(hour_ago, hour_ago);
    assert_eq!(
        ids(&list(at_hour_ago).await.list),
        set(&[&unchanged, &partial])
    );
    // Without from/to: the last 90 days up to now.
    assert_eq!(
        list(PaymentListQuery::new(StatusFilter::All)).await.total,
        5
    );
    assert_eq!(env.stats().await["status_list_requests"], 11);
}

#[tokio::test]
async fn status_list_pages_and_sorts() {
    let env = Env::start().await;
    let client = env.client();
    let base = now() - 10_000;
    let mut by_start = Vec::new();
    for i in 0..45 {
        let at = json!({ "at": base + i * 10 });
        by_start.push(env.pay(&format!("page-{i}"), 1000 + i, at).await);
    }
    let query = PaymentListQuery::new(StatusFilter::Paid);

    // Default order: newest checkout first, 20 a page.
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut page_no = Some(1);
    while let Some(n) = page_no {
        let page = client.list_payments(&query.clone().page(n)).await.unwrap();
        assert_eq!(page.total, 45);
        pages.push((page.previous, page.next, page.list.len()));
        seen.extend(page.list.iter().map(|p| p.imp_uid.clone()));
        page_no = page.next_page();
    }
    assert_eq!(pages, [(0, 2, 20), (1, 3, 20), (2, 0, 5)]);
    let newest_first: Vec<String> = by_start.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // Past the last page: the gateway refuses.
    assert_eq!(
        refusal(client.list_payments(&query.clone().page(4)).await),
        (400, -1)
    );

    // Oldest first, a page of 1 000.
    let asc = client
        .list_payments(&query.clone().limit(1000).sorted(Sorting::StartedAsc))
        .await
        .unwrap();
    let oldest_first: Vec<String> = asc.list.iter().map(|p| p.imp_uid.clone()).collect();
    assert_eq!((oldest_first, asc.next), (by_start.clone(), 0));

    // Last modified first: a cancel moves the oldest payment to the front.
    client
        .cancel(&CancelRequest::partial(&by_start[0], 100, 1000, "moved"))
        .await
        .unwrap();
    let updated = client
        .list_payments(&query.clone().limit(3).sorted(Sorting::UpdatedDesc))
        .await
        .unwrap();
    let firsts: Vec<&str> = updated.list.iter().map(|p| p.imp_uid.as_str()).collect();
    assert_eq!(firsts, [&by_start[0], &by_start[44], &by_start[43]]);
    let paid_asc = client
        .list_payments(&query.limit(1).sorted(Sorting::PaidAsc))
        .await
        .unwrap();
    assert_eq!(paid_asc.list[0].imp_uid, by_start[0]);
}

#[tokio::test]
async fn status_list_refuses_what_the_gateway_refuses() {
    let env = Env::start().await;
    let client = env.client();
    let t = now();
    let paid = PaymentListQuery::new(StatusFilter::Paid);
    let refused = [
        paid.clone().page(0),
        paid.clone().limit(0),
        paid.clone().limit(PaymentListQuery::MAX_LIMIT + 1),
        paid.clone().between(t, t - 1),
        paid.clone()
            .between(t - PaymentListQuery::MAX_WINDOW_SECS - 1, t),
        // An empty list has one (empty) page, not two.
        paid.clone().page(2),
    ];
    for query in refused {
        assert_eq!(
            refusal(client.list_payments(&query).await),
            (400, -1),
            "{query:?}"
        );
    }
    let widest = paid
        .clone()
        .limit(PaymentListQuery::MAX_LIMIT)
        .between(t - PaymentListQuery::MAX_WINDOW_SECS, t);
    let empty = client.list_payments(&widest).await.unwrap();
    assert_eq!((empty.total, empty.previous, empty.next), (0, 0, 0));

    // What the typed client cannot send, over raw HTTP.
    for path in [
        "/payments/status/done",
        "/payments/status/PAID",
        "/payments/status/paid?sorting=-cancelled",
        "/payments/status/paid?from=yesterday",
        "/payments/status/paid?limit=ten",
    ] {
        let (status, body) = env.raw_get(path).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(-1)),
            "{path}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let r = env
        .http
        .get(format!("{}/payments/status/paid", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn batch_look_up_many_and_unknown_ids() {
    let env = Env::start().await;
    let gateway: Arc<dyn PortOne> = Arc::new(env.client());
    let mut known = Vec::new();
    for i in 0..150 {
        known.push(env.pay(&format!("batch-{i}"), 1000, json!({})).await);
    }
    let mut asked = known.clone();
    asked.push("imp_000000000000".to_owned());
    asked.push(known[7].clone());
    asked.push("imp_999999999999".to_owned());

    // 151 distinct ids: two requests of at most 100; every known one, once.
    let found = gateway.get_payments(&asked).await.unwrap();
    assert_eq!(found.len(), 150);
    assert_eq!(ids(&found), known.iter().cloned().collect());
    assert_eq!(env.stats().await["batch_lookup_requests"], 2);

    // Nothing known: an empty answer, not an error; no ids: no request.
    let unknown = vec!["imp_000000000000".to_owned(), "nope".to_owned()];
    assert!(gateway.get_payments(&unknown).await.unwrap().is_empty());
    assert!(gateway.get_payments(&[]).await.unwrap().is_empty());
    assert_eq!(env.stats().await["batch_lookup_requests"], 3);

    // The wire: 200 all found, 207 some (the found ones), 404 none, 400 none asked or > 100.
    let (a, b) = (&known[0], &known[1]);
    let (status, body) = env
        .raw_get(&format!("/payments?imp_uid[]={a}&imp_uid%5B%5D={b}"))
        .await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(0)), "{body}");
    assert_eq!(body["response"].as_array().unwrap().len(), 2);
    // The PHP client's indexed form, and merchant_uid[].
    let (status, body) = env
        .raw_get(&format!(
            "/payments?imp_uid%5B0%5D={a}&imp_uid%5B1%5D=imp_000000000000&merchant_uid[]=batch-2"
        ))
        .await;
    assert_eq!((status, body["code"].as_i64()), (207, Some(0)), "{body}");
    let answered: Vec<&str> = body["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["imp_uid"].as_str().unwrap())
        .collect();
    assert_eq!(answered, [a.as_str(), known[2].as_str()]);
    let (status, body) = env.raw_get("/payments?imp_uid[]=imp_000000000000").await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(-1)), "{body}");
    let (status, body) = env.raw_get("/payments").await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-1)), "{body}");
    let too_many: String = known[..101]
        .iter()
        .map(|id| format!("imp_uid[]={id}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _) = env.raw_get(&format!("/payments?{too_many}")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn cancel_history_keeps_each_reason_verbatim_without_checksum() {
    let env = Env::start().await;
    let client = env.client();
    let imp_uid = env.pay("reasons", 10_000, json!({})).await;
    let first = "[refund:01JF3Z8Q] 부분 환불 & \"파손\" 50%";
    let second = "[refund:01JF3Z9R] rest + tax/fee = 0?";
    let no_checksum = |amount, reason: &str| CancelRequest {
        imp_uid: Some(imp_uid.clone()),
        amount,
        reason: Some(reason.to_owned()),
        ..CancelRequest::default()
    };
    let after = client
        .cancel(&no_checksum(Some(4000), first))
        .await
        .unwrap();
    assert_eq!(
        (after.status, after.cancel_amount),
        (PaymentStatus::Paid, 4000)
    );
    let after = client.cancel(&no_checksum(None, second)).await.unwrap();
    assert_eq!(
        (after.status, after.cancel_amount),
        (PaymentStatus::Cancelled, 10_000)
    );

    // Read back as reconciliation would: by the batch look-up.
    let read = client
        .get_payments(std::slice::from_ref(&imp_uid))
        .await
        .unwrap();
    let history = &read[0].cancel_history;
    let entries: Vec<(i64, Option<&str>)> = history
        .iter()
        .map(|h| (h.amount, h.reason.as_deref()))
        .collect();
    assert_eq!(entries, [(4000, Some(first)), (6000, Some(second))]);
    for h in history {
        assert!(h.pg_tid.as_deref().is_some_and(|t| !t.is_empty()), "{h:?}");
        assert!(
            h.receipt_url.as_deref().is_some_and(|u| !u.is_empty()),
            "{h:?}"
        );
        assert!(
            h.cancelled_at > 0 && h.cancelled_at >= read[0].paid_at,
            "{h:?}"
        );
    }
    assert_eq!(read[0].cancelled_at, history[1].cancelled_at);
    assert_eq!(read[0].cancel_reason.as_deref(), Some(second));
}

#[tokio::test]
async fn backdated_checkout_must_be_in_the_past() {
    let env = Env::start().await;
    for at in [json!(now() + 3600), json!(0), json!(-5)] {
        let (status, body) = env
            .control_pay(json!({ "merchant_uid": "future", "amount": 1000, "at": at }))
            .await;
        assert_eq!(status, 400, "{at}: {body}");
    }
    let at = now() - 86_400;
    let imp_uid = env.pay("yesterday", 1000, json!({ "at": at })).await;
    let p = env.client().get_payment(&imp_uid).await.unwrap();
    assert_eq!((p.started_at, p.paid_at), (at, at));
}
