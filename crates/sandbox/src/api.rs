//! The V1 REST handlers: token, payments, prepare, cancel and escrow deliveries, all
//! answering the `{code, message, response}` envelope.

use axum::extract::{FromRequest, Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::clock::now_ms;
use crate::state::{
    BatchQuery, ListQuery, LogisRequest, NewPayment, RefundAccount, Refusal, VbankAsk,
};
use crate::webhooks::Job;
use crate::Sandbox;

/// A V1 failure answer.
pub(crate) struct ApiError(pub Refusal);

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self(refusal)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body =
            serde_json::json!({ "code": self.0.code, "message": self.0.message, "response": null });
        (status, Json(body)).into_response()
    }
}

/// A V1 success answer.
fn ok<T: Serialize>(response: T) -> Response {
    Json(serde_json::json!({ "code": 0, "message": null, "response": response })).into_response()
}

type ApiResult = Result<Response, ApiError>;

/// Body as JSON or `application/x-www-form-urlencoded`, as the gateway accepts both.
pub(crate) struct JsonOrForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Refusal::new(400, e.body_text()))?;
        let parsed = if is_form {
            serde_urlencoded::from_bytes(&bytes).map_err(|e| e.to_string())
        } else if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_slice(b"{}").map_err(|e| e.to_string())
        } else {
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        };
        parsed
            .map(JsonOrForm)
            .map_err(|e| ApiError(Refusal::new(400, format!("잘못된 요청입니다: {e}"))))
    }
}

/// Won amounts arrive as JSON numbers (maybe `1000.0`) or form strings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Won(pub i64);

impl<'de> Deserialize<'de> for Won {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            I(i64),
            F(f64),
            S(String),
        }
        match Num::deserialize(d)? {
            Num::I(v) => Ok(Won(v)),
            Num::F(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Won(v as i64)),
            Num::S(s) if s.trim().is_empty() => Ok(Won(0)),
            Num::S(s) => s.trim().parse().map(Won).map_err(serde::de::Error::custom),
            Num::F(v) => Err(serde::de::Error::custom(format!("not a won amount: {v}"))),
        }
    }
}

/// `notice_url` is an array in the V1 reference; a single URL (a form field, or what most
/// merchants send) is taken as a list of one, and empty entries are dropped.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    let urls = match Option::<Urls>::deserialize(d)? {
        None => Vec::new(),
        Some(Urls::One(url)) => vec![url],
        Some(Urls::Many(urls)) => urls,
    };
    Ok(urls.into_iter().filter(|u| !u.trim().is_empty()).collect())
}

/// The token from `Authorization` (raw or `Bearer`) or `X-ImpTokenHeader`, if valid.
fn authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get("x-imptokenheader"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
    match token {
        Some(token) if sandbox.inner.state().token_valid(token) => Ok(()),
        Some(_) => Err(Refusal::new(401, "Unauthorized").into()),
        None => Err(Refusal::new(401, "Unauthorized: access_token이 전달되지 않았습니다.").into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    #[serde(default)]
    imp_key: String,
    #[serde(default)]
    imp_secret: String,
}

/// `POST /users/getToken`.
pub(crate) async fn get_token(
    State(sandbox): State<Sandbox>,
    JsonOrForm(body): JsonOrForm<TokenRequest>,
) -> ApiResult {
    let cfg = &sandbox.inner.config;
    if body.imp_key != cfg.imp_key || body.imp_secret != cfg.imp_secret {
        return Err(Refusal::new(401, "imp_key, imp_secret 인증에 실패하였습니다.").into());
    }
    let (access_token, now, expired_at) = sandbox.inner.state().issue_token(cfg);
    Ok(ok(serde_json::json!({
        "access_token": access_token,
        "now": now,
        "expired_at": expired_at,
    })))
}

/// `GET /payments/{imp_uid}`.
pub(crate) async fn get_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let mut state = sandbox.inner.state();
    state.payment_lookups += 1;
    let payment = state
        .payment(&imp_uid)
        .ok_or_else(|| Refusal::new(404, "존재하지 않는 결제정보입니다."))?;
    Ok(ok(payment))
}

/// A query string as its (key, value) pairs, in order, repeated keys kept.
fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| ApiError(Refusal::new(400, format!("잘못된 요청입니다: {e}"))))
}

/// `GET /payments/status/{payment_status}`: one page of the payments in that status whose
/// status time is within `from..=to`.
pub(crate) async fn list_payments_by_status(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(payment_status): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let query = ListQuery::parse(
        &payment_status,
        &query_pairs(raw.as_deref())?,
        now_ms() / 1000,
    )?;
    let page = {
        let mut state = sandbox.inner.state();
        state.status_list_requests += 1;
        state.list_by_status(&query)?
    };
    Ok(ok(page))
}

/// `GET /payments?imp_uid[]=..&merchant_uid[]=..`: 200 when every id was found, 207 with
/// those found when some were not, 404 when none was.
pub(crate) async fn get_payments(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let query = BatchQuery::parse(&query_pairs(raw.as_deref())?)?;
    let answer = {
        let mut state = sandbox.inner.state();
        state.batch_lookup_requests += 1;
        state.lookup_many(&query)
    };
    if answer.payments.is_empty() {
        return Err(Refusal::new(404, "존재하지 않는 결제정보입니다.").into());
    }
    let status = if answer.all_found {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let mut response = ok(answer.payments);
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct FindQuery {
    sorting: Option<String>,
}

fn find(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    merchant_uid: &str,
    status: Option<&str>,
    sorting: Option<&str>,
) -> ApiResult {
    authorize(sandbox, headers)?;
    let state = sandbox.inner.state();
    let payment = state
        .find(merchant_uid, status, sorting)
        .ok_or_else(|| Refusal::new(404, "존재하지 않는 결제정보입니다."))?;
    Ok(ok(payment))
}

/// `GET /payments/find/{merchant_uid}`.
pub(crate) async fn find_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(merchant_uid): Path<String>,
    Query(query): Query<FindQuery>,
) -> ApiResult {
    find(
        &sandbox,
        &headers,
        &merchant_uid,
        None,
        query.sorting.as_deref(),
    )
}

/// `GET /payments/find/{merchant_uid}/{status}`.
pub(crate) async fn find_payment_in_status(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path((merchant_uid, status)): Path<(String, String)>,
    Query(query): Query<FindQuery>,
) -> ApiResult {
    let status = Some(status.as_str()).filter(|s| !s.is_empty());
    find(
        &sandbox,
        &headers,
        &merchant_uid,
        status,
        query.sorting.as_deref(),
    )
}

#[derive(Deserialize)]
pub(crate) struct PrepareRequest {
    #[serde(default)]
    merchant_uid: String,
    amount: Option<Won>,
}

/// `POST /payments/prepare`.
pub(crate) async fn prepare_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<PrepareRequest>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let amount = body.amount.map_or(0, |w| w.0);
    sandbox.inner.state().prepare(&body.merchant_uid, amount)?;
    Ok(ok(
        serde_json::json!({ "merchant_uid": body.merchant_uid, "amount": amount }),
    ))
}

/// `GET /payments/prepare/{merchant_uid}`.
pub(crate) async fn get_prepared(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(merchant_uid): Path<String>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let amount = sandbox
        .inner
        .state()
        .prepared(&merchant_uid)
        .ok_or_else(|| Refusal::new(404, "사전등록된 결제정보가 존재하지 않습니다."))?;
    Ok(ok(
        serde_json::json!({ "merchant_uid": merchant_uid, "amount": amount }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct CancelBody {
    imp_uid: Option<String>,
    merchant_uid: Option<String>,
    amount: Option<Won>,
    checksum: Option<Won>,
    reason: Option<String>,
    refund_holder: Option<String>,
    refund_bank: Option<String>,
    refund_account: Option<String>,
}

/// `POST /payments/cancel`.
pub(crate) async fn cancel_payment(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<CancelBody>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let cancelled = sandbox.inner.state().cancel(
        body.imp_uid.as_deref(),
        body.merchant_uid.as_deref(),
        body.amount.map(|w| w.0),
        body.checksum.map(|w| w.0),
        body.reason,
        &RefundAccount {
            holder: body.refund_holder,
            bank: body.refund_bank,
            account: body.refund_account,
        },
    )?;
    let payment = cancelled.payment;
    if sandbox.inner.config.webhook_on_cancel {
        let mut body = serde_json::Map::new();
        body.insert("imp_uid".into(), payment.imp_uid.clone().into());
        body.insert("merchant_uid".into(), payment.merchant_uid.clone().into());
        body.insert("status".into(), payment.status.as_str().into());
        body.insert("cancellation_id".into(), cancelled.cancellation_id.into());
        for url in &payment.notice_url {
            sandbox.send_webhook(Job {
                url: url.clone(),
                body: body.clone(),
                signed: None,
            });
        }
    }
    Ok(ok(payment))
}

async fn save_logis(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    imp_uid: &str,
    body: LogisRequest,
    update: bool,
) -> ApiResult {
    authorize(sandbox, headers)?;
    let record = sandbox.inner.state().save_logis(imp_uid, body, update)?;
    Ok(ok(record))
}

/// `POST /escrows/logis/{imp_uid}`.
pub(crate) async fn register_logis(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
    JsonOrForm(body): JsonOrForm<LogisRequest>,
) -> ApiResult {
    save_logis(&sandbox, &headers, &imp_uid, body, false).await
}

/// `PUT /escrows/logis/{imp_uid}`.
pub(crate) async fn update_logis(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
    JsonOrForm(body): JsonOrForm<LogisRequest>,
) -> ApiResult {
    save_logis(&sandbox, &headers, &imp_uid, body, true).await
}

/// `GET /escrows/logis/{imp_uid}`.
pub(crate) async fn get_logis(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let record = sandbox.inner.state().logis(&imp_uid)?;
    Ok(ok(record))
}

/// `POST /vbanks` body.
#[derive(Deserialize)]
pub(crate) struct IssueVbank {
    #[serde(default)]
    merchant_uid: String,
    amount: Option<Won>,
    /// The PG's own bank code.
    vbank_code: Option<String>,
    /// Unix seconds.
    vbank_due: Option<i64>,
    vbank_holder: Option<String>,
    name: Option<String>,
    buyer_name: Option<String>,
    buyer_email: Option<String>,
    buyer_tel: Option<String>,
    buyer_addr: Option<String>,
    buyer_postcode: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    notice_url: Vec<String>,
    custom_data: Option<String>,
    pg: Option<String>,
}

/// `POST /vbanks`: issue a virtual account by REST; the payment is `ready` and the
/// `ready` webhook is sent.
pub(crate) async fn issue_vbank(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<IssueVbank>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let pg = body
        .pg
        .clone()
        .map(|pg| pg.split('.').next().unwrap_or_default().to_owned())
        .filter(|pg| !pg.is_empty())
        .unwrap_or_else(|| sandbox.inner.config.pg_provider.clone());
    let amount = body.amount.map_or(0, |w| w.0);
    let Some(code) = body.vbank_code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Refusal::new(400, "vbank_code 값이 누락되었습니다.").into());
    };
    let Some(bank) = crate::state::kftc_of(&pg, code) else {
        return Err(
            Refusal::new(400, format!("지원하지 않는 은행코드입니다: {code} ({pg})")).into(),
        );
    };
    let Some(due) = body.vbank_due else {
        return Err(Refusal::new(400, "vbank_due 값이 누락되었습니다.").into());
    };
    if crate::state::holder_required(&pg)
        && body
            .vbank_holder
            .as_deref()
            .is_none_or(|h| h.trim().is_empty())
    {
        return Err(Refusal::new(400, format!("vbank_holder 값이 누락되었습니다. ({pg})")).into());
    }
    let prepared = sandbox.inner.state().prepared(&body.merchant_uid);
    if prepared.is_some_and(|p| p != amount) {
        return Err(Refusal::new(400, "사전 등록된 결제금액과 입금예정금액이 다릅니다.").into());
    }
    let new = NewPayment {
        merchant_uid: body.merchant_uid,
        amount,
        pay_method: Some("vbank".into()),
        pg_provider: Some(pg),
        escrow: false,
        notice_url: body.notice_url,
        name: body.name,
        buyer_name: body.buyer_name,
        buyer_email: body.buyer_email,
        buyer_tel: body.buyer_tel,
        buyer_addr: body.buyer_addr,
        buyer_postcode: body.buyer_postcode,
        custom_data: body.custom_data,
        channel: "api",
        vbank: VbankAsk {
            bank: Some(bank.to_owned()),
            due: Some(due),
            holder: body.vbank_holder,
        },
        ..NewPayment::default()
    };
    let payment = sandbox.finish_checkout(new)?;
    Ok(ok(payment))
}

/// `DELETE /vbanks/{imp_uid}`: revoke an account that has had no deposit.
pub(crate) async fn revoke_vbank(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(imp_uid): Path<String>,
) -> ApiResult {
    authorize(&sandbox, &headers)?;
    let payment = sandbox.inner.state().revoke_vbank(&imp_uid)?;
    Ok(ok(payment))
}

#[cfg(test)]
mod tests {
    use super::IssueVbank;

    #[test]
    fn notice_url_as_the_v1_array_or_a_single_url() {
        let many = vec![
            "https://a.example/hook".to_owned(),
            "https://b.example/hook".to_owned(),
        ];
        let one = vec!["https://a.example/hook".to_owned()];
        let json_rows = [
            (
                r#"{"notice_url":["https://a.example/hook","https://b.example/hook"]}"#,
                many.clone(),
            ),
            (r#"{"notice_url":"https://a.example/hook"}"#, one.clone()),
            (
                r#"{"notice_url":["https://a.example/hook",""]}"#,
                one.clone(),
            ),
            (r#"{"notice_url":null}"#, vec![]),
            (r#"{"notice_url":""}"#, vec![]),
            (r#"{}"#, vec![]),
        ];
        for (body, expected) in json_rows {
            let ask: IssueVbank = serde_json::from_str(body).expect(body);
            assert_eq!(ask.notice_url, expected, "{body}");
        }
        let form: IssueVbank =
            serde_urlencoded::from_str("notice_url=https%3A%2F%2Fa.example%2Fhook").expect("form");
        assert_eq!(form.notice_url, one, "form field");
        assert!(serde_json::from_str::<IssueVbank>(r#"{"notice_url":[1]}"#).is_err());
    }
}
