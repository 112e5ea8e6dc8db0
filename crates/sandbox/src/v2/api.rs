//! The V2 REST handlers: `Authorization: PortOne <secret>`, JSON bodies whatever their
//! Content-Type, list filters in the `requestBody` query parameter, `{type, message}` errors.

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::wire::{self, V2Error};
use super::Notice;
use crate::clock::now_ms;
use crate::state::{V2Cancel, V2Refusal};
use crate::Sandbox;

type V2Result = Result<Response, V2Error>;

/// A JSON body read as JSON whatever the Content-Type says: the official JS SDK sends
/// its bodies without one (fetch labels them text/plain). An empty body is `{}`.
pub(crate) struct V2Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for V2Json<T> {
    type Rejection = V2Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| V2Refusal::invalid(e.body_text()))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(V2Json)
            .map_err(|e| V2Refusal::invalid(format!("잘못된 요청입니다: {e}")).into())
    }
}

/// Exactly the configured secret, as `PortOne <secret>`.
fn authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), V2Error> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("PortOne "))
        .map(str::trim);
    match given {
        Some(secret) if secret == sandbox.inner.config.api_secret => Ok(()),
        _ => Err(V2Refusal::new(401, "UNAUTHORIZED", "인증 정보가 올바르지 않습니다.").into()),
    }
}

/// A `storeId` other than the secret's store is forbidden.
fn check_store(sandbox: &Sandbox, store_id: Option<&str>) -> Result<(), V2Error> {
    match store_id {
        Some(store) if store != sandbox.inner.config.store_id => Err(V2Refusal::new(
            403,
            "FORBIDDEN",
            format!("상점 {store}에 대한 권한이 없습니다."),
        )
        .into()),
        _ => Ok(()),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreQuery {
    store_id: Option<String>,
}

fn parse_time(text: &str) -> Result<OffsetDateTime, V2Error> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| V2Refusal::invalid(format!("RFC 3339 시각이 아닙니다: {text}")).into())
}

/// `GET /payments/{paymentId}`.
pub(crate) async fn get_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    Query(query): Query<StoreQuery>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    check_store(&sandbox, query.store_id.as_deref())?;
    let (payment, extra) = sandbox.inner.state().v2_payment(&payment_id)?;
    Ok(Json(wire::payment(&sandbox.inner.config, &payment, &extra)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefundAccountBody {
    bank: String,
    number: String,
    holder_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelBody {
    store_id: Option<String>,
    amount: Option<i64>,
    reason: Option<String>,
    current_cancellable_amount: Option<i64>,
    refund_account: Option<RefundAccountBody>,
    #[serde(default)]
    skip_webhook: bool,
}

/// `POST /payments/{paymentId}/cancel`. A card's cancel succeeds at once; a virtual
/// account's is `REQUESTED` until its refund reaches the buyer's account (the refund delay).
pub(crate) async fn cancel(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<CancelBody>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    check_store(&sandbox, body.store_id.as_deref())?;
    let Some(reason) = body.reason.filter(|r| !r.trim().is_empty()) else {
        return Err(V2Refusal::invalid("reason은 필수입니다.").into());
    };
    let ask = V2Cancel {
        amount: body.amount,
        current_cancellable_amount: body.current_cancellable_amount,
        reason,
        refund_account: body
            .refund_account
            .map(|a| (a.bank, a.number, a.holder_name)),
    };
    let (answer, cancelled) = {
        let mut state = sandbox.inner.state();
        let cancelled = state.v2_cancel(&payment_id, ask)?;
        let (payment, extra) = state.v2_payment(&payment_id)?;
        let answer = wire::cancellation_of(&payment, &extra, &cancelled.cancellation_id);
        (answer, cancelled)
    };
    let notice = if cancelled.payment.cancel_amount == cancelled.payment.amount {
        "Transaction.Cancelled"
    } else {
        "Transaction.PartialCancelled"
    };
    if cancelled.refunding {
        // The refund reaches the buyer's account later; then the cancellation succeeds.
        let sandbox = sandbox.clone();
        let delay = sandbox.inner.config.vbank_refund_delay;
        let (imp_uid, id) = (
            cancelled.payment.imp_uid.clone(),
            cancelled.cancellation_id.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sandbox.inner.state().v2_refund_done(&imp_uid, &id);
        });
    }
    if !body.skip_webhook {
        sandbox.notify_v2(
            &cancelled.payment,
            Notice::new(notice).cancellation(&cancelled.cancellation_id),
        );
    }
    Ok(Json(json!({ "cancellation": answer })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogisticsInput {
    company: String,
    invoice_number: String,
    sent_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogisticsBody {
    store_id: Option<String>,
    logistics: Option<LogisticsInput>,
}

/// The V2 `PaymentLogisticsCompany` names.
const COMPANIES: &[&str] = &[
    "LOTTE",
    "LOGEN",
    "DONGWON",
    "POST",
    "CJ",
    "HANJIN",
    "DAESIN",
    "ILYANG",
    "KYUNGDONG",
    "CHUNIL",
    "POST_REGISTERED",
    "GS",
    "WOORI",
    "HAPDONG",
    "FEDEX",
    "UPS",
    "GSM_NTON",
    "SUNGWON",
    "LX_PANTOS",
    "ACI",
    "CJ_INTL",
    "USPS",
    "EMS",
    "DHL",
    "KGL",
    "GOODSTOLUCK",
    "KUNYOUNG",
    "SLX",
    "SF",
    "ETC",
];

async fn logistics(
    sandbox: Sandbox,
    headers: HeaderMap,
    payment_id: String,
    body: LogisticsBody,
    modify: bool,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    check_store(&sandbox, body.store_id.as_deref())?;
    let Some(input) = body.logistics else {
        return Err(V2Refusal::invalid("logistics는 필수입니다.").into());
    };
    if !COMPANIES.contains(&input.company.as_str()) {
        return Err(
            V2Refusal::invalid(format!("알 수 없는 택배사입니다: {}", input.company)).into(),
        );
    }
    if input.invoice_number.trim().is_empty() {
        return Err(V2Refusal::invalid("invoiceNumber는 필수입니다.").into());
    }
    parse_time(&input.sent_at)?;
    let escrow = sandbox.inner.state().v2_logistics(
        &payment_id,
        input.company,
        input.invoice_number,
        input.sent_at,
        modify,
    )?;
    let at = wire::rfc3339_ms(escrow.applied_at_ms);
    let stamp = if modify { "modifiedAt" } else { "appliedAt" };
    Ok(
        Json(
            json!({ "invoiceNumber": escrow.invoice_number, "sentAt": escrow.sent_at, stamp: at }),
        )
        .into_response(),
    )
}

/// `POST /payments/{paymentId}/escrow/logistics`.
pub(crate) async fn register_logistics(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<LogisticsBody>,
) -> V2Result {
    logistics(sandbox, headers, payment_id, body, false).await
}

/// `PATCH /payments/{paymentId}/escrow/logistics`.
pub(crate) async fn modify_logistics(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<LogisticsBody>,
) -> V2Result {
    logistics(sandbox, headers, payment_id, body, true).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteBody {
    store_id: Option<String>,
}

/// `POST /payments/{paymentId}/escrow/complete`: the store confirms the purchase.
pub(crate) async fn complete_escrow(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<CompleteBody>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    check_store(&sandbox, body.store_id.as_deref())?;
    sandbox
        .inner
        .state()
        .v2_escrow_to(&payment_id, "CONFIRMED", false)?;
    Ok(Json(json!({ "completedAt": wire::rfc3339_ms(now_ms()) })).into_response())
}

/// `POST /payments/{paymentId}/virtual-account/close`.
pub(crate) async fn close_virtual_account(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    Query(query): Query<StoreQuery>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    check_store(&sandbox, query.store_id.as_deref())?;
    let payment = sandbox.inner.state().v2_close(&payment_id)?;
    Ok(Json(json!({ "closedAt": wire::rfc3339_ms(payment.updated_at) })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    request_body: Option<String>,
}

/// The filter a list call carries as `requestBody=<JSON>`.
fn list_body<T: DeserializeOwned + Default>(query: ListQuery) -> Result<T, V2Error> {
    match query.request_body {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| V2Refusal::invalid(format!("requestBody: {e}")).into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInput {
    number: Option<u32>,
    size: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentFilter {
    store_id: Option<String>,
    timestamp_type: Option<String>,
    from: Option<String>,
    until: Option<String>,
    status: Option<Vec<String>>,
    is_escrow: Option<bool>,
}

#[derive(Deserialize, Default)]
pub(crate) struct PaymentsBody {
    page: Option<PageInput>,
    filter: Option<PaymentFilter>,
}

/// `from..until` as unix milliseconds; the gateway's defaults when unset.
fn window(from: Option<&str>, until: Option<&str>) -> Result<(i64, i64), V2Error> {
    let until = match until {
        Some(text) => unix_ms(parse_time(text)?),
        None => now_ms(),
    };
    let from = match from {
        Some(text) => unix_ms(parse_time(text)?),
        None => until - 90 * 24 * 60 * 60 * 1000,
    };
    Ok((from, until))
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `GET /payments`: the filter's payments, newest first, one page.
pub(crate) async fn list_payments(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    let body: PaymentsBody = list_body(query)?;
    let filter = body.filter.unwrap_or_default();
    check_store(&sandbox, filter.store_id.as_deref())?;
    let (from, until) = window(filter.from.as_deref(), filter.until.as_deref())?;
    let by_status_change = match filter.timestamp_type.as_deref() {
        None | Some("CREATED_AT") => false,
        Some("STATUS_CHANGED_AT") => true,
        Some(other) => return Err(V2Refusal::invalid(format!("timestampType: {other}")).into()),
    };
    let page = body.page.unwrap_or_default();
    let (number, size) = (
        page.number.unwrap_or(0),
        page.size.unwrap_or(10).clamp(1, 1000),
    );
    let cfg = &sandbox.inner.config;
    let mut items: Vec<_> = sandbox
        .inner
        .state()
        .v2_all()
        .into_iter()
        .filter(|(p, _)| {
            let at = if by_status_change {
                p.updated_at
            } else {
                p.started_at * 1000
            };
            (from..until).contains(&at)
        })
        .filter(|(p, _)| filter.is_escrow.is_none_or(|e| e == p.escrow))
        .filter(|(p, _)| {
            filter
                .status
                .as_ref()
                .is_none_or(|wanted| wanted.iter().any(|s| s == wire::status(p)))
        })
        .collect();
    items.sort_by_key(|(p, _)| std::cmp::Reverse(p.seq));
    let total = items.len();
    let page_items: Vec<Value> = items
        .iter()
        .skip(number as usize * size as usize)
        .take(size as usize)
        .map(|(p, e)| wire::payment(cfg, p, e))
        .collect();
    Ok(Json(json!({
        "items": page_items,
        "page": { "number": number, "size": page_items.len(), "totalCount": total },
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CursorBody {
    store_id: Option<String>,
    from: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    size: Option<u32>,
}

/// `GET /payments-by-cursor`: payments created within the window, oldest first; each
/// item's cursor is its creation order, and the next page starts after it.
pub(crate) async fn payments_by_cursor(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> V2Result {
    authorize(&sandbox, &headers)?;
    let body: CursorBody = list_body(query)?;
    check_store(&sandbox, body.store_id.as_deref())?;
    let (from, until) = window(body.from.as_deref(), body.until.as_deref())?;
    let after: u64 = match body.cursor.as_deref() {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| V2Refusal::invalid(format!("알 수 없는 cursor입니다: {text}")))?,
    };
    let size = body.size.unwrap_or(10).clamp(1, 1000) as usize;
    let cfg = &sandbox.inner.config;
    let items: Vec<Value> = sandbox
        .inner
        .state()
        .v2_all()
        .into_iter()
        .filter(|(p, _)| p.seq > after && (from..until).contains(&(p.started_at * 1000)))
        .take(size)
        .map(|(p, e)| json!({ "payment": wire::payment(cfg, &p, &e), "cursor": p.seq.to_string() }))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}
