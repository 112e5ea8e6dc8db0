//! `/_sandbox/*` control calls for tests and demos, and the browser side: `iamport.js`
//! and the checkout page it opens.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::api::Won;
use crate::faults::Fault;
use crate::state::{NewPayment, PaymentRecord, PaymentStatus, Refusal, VbankAsk};
use crate::webhooks::Job;
use crate::Sandbox;

const IAMPORT_JS: &str = include_str!("static/iamport.js");
const CHECKOUT_HTML: &str = include_str!("static/checkout.html");
const CHECKOUT_JS: &str = include_str!("static/checkout.js");
const CHECKOUT_CSS: &str = include_str!("static/checkout.css");

/// The checkout page runs on whatever origin mounts the sandbox, the service's own
/// included: it may run only its own files and call only its own origin. Merchants' pages
/// frame it, as they do a real PG's window, so framing stays open.
const CHECKOUT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

/// Control-call failure: `{"message": ...}` with a 4xx status.
fn refused(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(serde_json::json!({ "message": refusal.message })),
    )
        .into_response()
}

/// A control call's JSON body; one that cannot be read is refused like every other control
/// failure, `{"message": ...}` as JSON, not axum's plain text.
pub(crate) struct ControlJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S>
    for ControlJson<T>
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ControlJson(value)),
            Err(rejection) => Err(refused(Refusal::new(
                rejection.status().as_u16(),
                rejection.body_text(),
            ))),
        }
    }
}

impl Sandbox {
    /// Create a payment as the checkout would, and notify it when paid or, for a virtual
    /// account, issued.
    pub(crate) fn finish_checkout(&self, new: NewPayment) -> Result<PaymentRecord, Refusal> {
        let payment = self.inner.state().create_payment(&self.inner.config, new)?;
        // An ordinary failed checkout sends no webhook, as on the real gateway.
        if matches!(payment.status, PaymentStatus::Paid | PaymentStatus::Ready) {
            self.notify(&payment);
        }
        Ok(payment)
    }

    /// The `{imp_uid, merchant_uid, status}` webhook of `payment`'s current status.
    pub(crate) fn notify(&self, payment: &PaymentRecord) {
        let mut body = serde_json::Map::new();
        body.insert("imp_uid".into(), payment.imp_uid.clone().into());
        body.insert("merchant_uid".into(), payment.merchant_uid.clone().into());
        body.insert("status".into(), payment.status.as_str().into());
        for url in &payment.notice_url {
            self.send_webhook(Job {
                url: url.clone(),
                body: body.clone(),
                signed: None,
            });
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CreatePayment {
    merchant_uid: String,
    amount: Won,
    pay_method: Option<String>,
    pg: Option<String>,
    outcome: Option<String>,
    #[serde(default = "yes")]
    escrow: bool,
    #[serde(default, deserialize_with = "crate::api::one_or_many")]
    notice_url: Vec<String>,
    #[serde(default)]
    skip_prepare_check: bool,
    name: Option<String>,
    buyer_name: Option<String>,
    buyer_email: Option<String>,
    buyer_tel: Option<String>,
    buyer_addr: Option<String>,
    buyer_postcode: Option<String>,
    custom_data: Option<serde_json::Value>,
    card_number: Option<String>,
    /// Backdate the checkout (unix seconds), so tests can hold payments older than a window.
    at: Option<i64>,
    /// `pay_method: "vbank"`: the due time (unix seconds) and bank (KFTC code).
    vbank_due: Option<i64>,
    vbank_code: Option<String>,
}

fn yes() -> bool {
    true
}

fn custom_data_text(value: Option<serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// `POST /_sandbox/payments`: a buyer finishing the checkout; answers `{imp_uid, status}`.
pub(crate) async fn create_payment(
    State(sandbox): State<Sandbox>,
    ControlJson(body): ControlJson<CreatePayment>,
) -> Response {
    let decline = match body.outcome.as_deref() {
        None | Some("paid") => false,
        Some("failed") => true,
        Some(other) => {
            return refused(Refusal::new(400, format!("unknown outcome {other:?}")));
        }
    };
    let new = NewPayment {
        merchant_uid: body.merchant_uid,
        amount: body.amount.0,
        pay_method: body.pay_method,
        pg_provider: body.pg,
        decline,
        escrow: body.escrow,
        notice_url: body.notice_url,
        skip_prepare_check: body.skip_prepare_check,
        name: body.name,
        buyer_name: body.buyer_name,
        buyer_email: body.buyer_email,
        buyer_tel: body.buyer_tel,
        buyer_addr: body.buyer_addr,
        buyer_postcode: body.buyer_postcode,
        custom_data: custom_data_text(body.custom_data),
        card_number: body.card_number,
        channel: "pc",
        user_agent: Some("portone-sandbox".into()),
        at: body.at,
        vbank: VbankAsk {
            bank: body.vbank_code,
            due: body.vbank_due,
            holder: None,
        },
    };
    match sandbox.finish_checkout(new) {
        Ok(p) => {
            Json(serde_json::json!({ "imp_uid": p.imp_uid, "status": p.status })).into_response()
        }
        Err(refusal) => refused(refusal),
    }
}

#[derive(Deserialize)]
pub(crate) struct Deposit {
    amount: Won,
}

/// `POST /_sandbox/vbanks/{imp_uid}/deposit`: the buyer's bank transfer into a virtual
/// account; the exact amount before the due time pays it and sends the `paid` webhook,
/// anything else is refused with 409 and changes nothing.
pub(crate) async fn deposit(
    State(sandbox): State<Sandbox>,
    Path(imp_uid): Path<String>,
    Json(body): Json<Deposit>,
) -> Response {
    let paid = sandbox.inner.state().deposit(&imp_uid, body.amount.0);
    match paid {
        Ok(payment) => {
            sandbox.notify(&payment);
            Json(serde_json::json!({ "imp_uid": payment.imp_uid, "status": payment.status }))
                .into_response()
        }
        Err(refusal) => refused(refusal),
    }
}

/// `POST /_sandbox/faults`.
pub(crate) async fn set_fault(
    State(sandbox): State<Sandbox>,
    ControlJson(fault): ControlJson<Fault>,
) -> Response {
    sandbox.set_fault(fault.clone());
    Json(fault).into_response()
}

/// `DELETE /_sandbox/faults`.
pub(crate) async fn clear_faults(State(sandbox): State<Sandbox>) -> Response {
    sandbox.inner.state().clear_faults();
    Json(serde_json::json!({})).into_response()
}

/// `GET /_sandbox/webhooks`: the latest delivery attempts, oldest first.
pub(crate) async fn list_webhooks(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.webhook_log()).into_response()
}

/// `GET /_sandbox/escrows/{imp_uid}`: the delivery the merchant registered, with the
/// sender and receiver it named (which the V1 logis calls do not answer); 404 when none.
pub(crate) async fn registered_delivery(
    State(sandbox): State<Sandbox>,
    Path(imp_uid): Path<String>,
) -> Response {
    match sandbox.inner.state().registered_delivery(&imp_uid) {
        Some(delivery) => Json(delivery).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"message": "no delivery is registered for this imp_uid"})),
        )
            .into_response(),
    }
}

/// `GET /_sandbox/stats`: counts of REST calls, for tests of how often a merchant asks.
pub(crate) async fn stats(State(sandbox): State<Sandbox>) -> Response {
    let state = sandbox.inner.state();
    Json(serde_json::json!({
        "token_requests": state.token_requests,
        "tokens_issued": state.tokens_issued,
        "payment_lookups": state.payment_lookups,
        "status_list_requests": state.status_list_requests,
        "batch_lookup_requests": state.batch_lookup_requests,
        "rest_calls": state.rest_calls,
    }))
    .into_response()
}

/// `POST /_sandbox/tokens/expire`: every issued token expires now (tests the 401 path).
pub(crate) async fn expire_tokens(State(sandbox): State<Sandbox>) -> Response {
    sandbox.inner.state().expire_tokens();
    Json(serde_json::json!({})).into_response()
}

/// `GET /iamport.js`: the browser SDK stand-in.
pub(crate) async fn iamport_js() -> Response {
    static_file("application/javascript; charset=utf-8", IAMPORT_JS)
}

/// `GET /checkout`: the card form `iamport.js` opens (parameters read by its own script,
/// `checkout.js`, which shows them only as text).
pub(crate) async fn checkout_page() -> Response {
    let mut page = Html(CHECKOUT_HTML).into_response();
    let headers = page.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CHECKOUT_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    page
}

pub(crate) async fn checkout_js() -> Response {
    static_file("application/javascript; charset=utf-8", CHECKOUT_JS)
}

pub(crate) async fn checkout_css() -> Response {
    static_file("text/css; charset=utf-8", CHECKOUT_CSS)
}

pub(crate) fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `request_pay` parameters as the checkout page forwards them.
#[derive(Deserialize)]
pub(crate) struct PayParams {
    pg: Option<String>,
    pay_method: Option<String>,
    #[serde(default)]
    escrow: bool,
    #[serde(default)]
    merchant_uid: String,
    name: Option<String>,
    amount: Option<Won>,
    buyer_email: Option<String>,
    buyer_name: Option<String>,
    buyer_tel: Option<String>,
    buyer_addr: Option<String>,
    buyer_postcode: Option<String>,
    #[serde(default, deserialize_with = "crate::api::one_or_many")]
    notice_url: Vec<String>,
    custom_data: Option<serde_json::Value>,
    /// The due time of a virtual account in the PG's format (KG Inicis: `YYYYMMDDhhmm`,
    /// Korean time).
    vbank_due: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CheckoutBody {
    imp_code: Option<String>,
    params: PayParams,
    card_number: Option<String>,
    /// `pay` or `decline`.
    action: String,
    #[serde(default)]
    mobile: bool,
}

/// `POST /_sandbox/checkout`: the checkout page's pay/decline buttons. Answers the
/// `request_pay` callback object.
pub(crate) async fn checkout_pay(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    ControlJson(body): ControlJson<CheckoutBody>,
) -> Response {
    let params = body.params;
    if body.imp_code.as_deref() != Some(sandbox.inner.config.imp_code.as_str()) {
        return checkout_failure(
            &params.merchant_uid,
            "F0000",
            "가맹점 식별코드(IMP.init)가 올바르지 않습니다.",
        );
    }
    let params_merchant_uid = params.merchant_uid.clone();
    let due = match params.vbank_due.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match korean_time(text) {
            Some(due) => Some(due),
            None => {
                return checkout_failure(
                    &params_merchant_uid,
                    "F400",
                    "vbank_due 형식이 올바르지 않습니다 (YYYYMMDDhhmm).",
                )
            }
        },
    };
    let new = NewPayment {
        merchant_uid: params.merchant_uid,
        amount: params.amount.map_or(0, |w| w.0),
        pay_method: params.pay_method,
        pg_provider: params.pg,
        decline: body.action != "pay",
        escrow: params.escrow,
        notice_url: params.notice_url,
        skip_prepare_check: false,
        name: params.name,
        buyer_name: params.buyer_name,
        buyer_email: params.buyer_email,
        buyer_tel: params.buyer_tel,
        buyer_addr: params.buyer_addr,
        buyer_postcode: params.buyer_postcode,
        custom_data: custom_data_text(params.custom_data),
        card_number: body.card_number,
        channel: if body.mobile { "mobile" } else { "pc" },
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        at: None,
        vbank: VbankAsk {
            due,
            ..VbankAsk::default()
        },
    };
    match sandbox.finish_checkout(new) {
        Ok(p) => {
            let success = matches!(p.status, PaymentStatus::Paid | PaymentStatus::Ready);
            Json(serde_json::json!({
                "success": success,
                "imp_uid": p.imp_uid,
                "merchant_uid": p.merchant_uid,
                "paid_amount": if success { p.amount } else { 0 },
                "status": p.status,
                "pay_method": p.pay_method,
                "pg_provider": p.pg_provider,
                "pg_type": "payment",
                "pg_tid": p.pg_tid,
                "apply_num": p.apply_num,
                "card_name": p.card_name,
                "card_number": p.card_number,
                "card_quota": p.card_quota,
                "currency": p.currency,
                "name": p.name,
                "buyer_name": p.buyer_name,
                "buyer_email": p.buyer_email,
                "buyer_tel": p.buyer_tel,
                "buyer_addr": p.buyer_addr,
                "buyer_postcode": p.buyer_postcode,
                "custom_data": p.custom_data,
                "paid_at": p.paid_at,
                "receipt_url": p.receipt_url,
                "vbank_code": p.vbank_code,
                "vbank_name": p.vbank_name,
                "vbank_num": p.vbank_num,
                "vbank_holder": p.vbank_holder,
                "vbank_date": p.vbank_date,
                "error_code": if success { None } else { Some("F400") },
                "error_msg": p.fail_reason,
            }))
            .into_response()
        }
        Err(refusal) => checkout_failure(&params_merchant_uid, "F400", &refusal.message),
    }
}

/// `YYYYMMDDhhmm` (or `YYYYMMDDhhmmss`) in Korean time (UTC+9, no daylight saving) as
/// unix seconds.
pub(crate) fn korean_time(text: &str) -> Option<i64> {
    if !(text.len() == 12 || text.len() == 14) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |from: usize, to: usize| text.get(from..to).and_then(|f| f.parse::<i64>().ok());
    let (year, month, day) = (field(0, 4)?, field(4, 6)?, field(6, 8)?);
    let (hour, minute) = (field(8, 10)?, field(10, 12)?);
    let second = if text.len() == 14 { field(12, 14)? } else { 0 };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - 9 * 3600)
}

/// The callback object for a checkout that created no payment.
fn checkout_failure(merchant_uid: &str, code: &str, msg: &str) -> Response {
    Json(serde_json::json!({
        "success": false,
        "imp_uid": null,
        "merchant_uid": merchant_uid,
        "paid_amount": 0,
        "status": null,
        "error_code": code,
        "error_msg": msg,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::korean_time;

    #[test]
    fn korean_due_times() {
        let rows = [
            ("197001010900", Some(0)),
            ("202612052359", Some(1_796_482_740)),
            ("20261205235930", Some(1_796_482_770)),
            ("202402291200", Some(1_709_175_600)),
            ("202613010000", None),
            ("2026120523", None),
            ("20261205235a", None),
        ];
        for (text, expected) in rows {
            assert_eq!(korean_time(text), expected, "{text}");
        }
    }
}
