//! The V2 face's control calls (`/_sandbox/*`: a buyer paying, a deposit, the escrow
//! moving at the PG) and its browser side: `browser-sdk.js` and the checkout's answer.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::api::V2Json;
use super::wire::{self, V2Error};
use super::Notice;
use crate::state::{PaymentRecord, V2NewPayment, V2Refusal};
use crate::Sandbox;

const BROWSER_SDK_JS: &str = include_str!("../static/browser-sdk.js");

/// `notice_urls` (a list) or `notice_url` (one URL).
fn urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    crate::api::one_or_many(d)
}

#[derive(Deserialize)]
pub(crate) struct CreatePayment {
    payment_id: String,
    amount: i64,
    /// `CARD` (default) or `VIRTUAL_ACCOUNT`.
    pay_method: Option<String>,
    #[serde(default = "yes")]
    is_escrow: bool,
    /// `paid` (default) or `failed`.
    outcome: Option<String>,
    order_name: Option<String>,
    customer_name: Option<String>,
    #[serde(default, deserialize_with = "urls")]
    notice_urls: Vec<String>,
    #[serde(default, deserialize_with = "urls")]
    notice_url: Vec<String>,
}

fn yes() -> bool {
    true
}

fn virtual_account(pay_method: Option<&str>) -> Result<bool, V2Refusal> {
    match pay_method {
        None | Some("CARD") => Ok(false),
        Some("VIRTUAL_ACCOUNT") => Ok(true),
        Some(other) => Err(V2Refusal::invalid(format!(
            "payMethod는 CARD 또는 VIRTUAL_ACCOUNT입니다: {other}"
        ))),
    }
}

impl Sandbox {
    /// The V2 checkout finishing, and its webhook (paid, account issued or failed).
    fn finish_v2_checkout(&self, new: V2NewPayment) -> Result<PaymentRecord, V2Refusal> {
        let payment = self.inner.state().v2_create(&self.inner.config, new)?;
        if let Some(notice) = Notice::of_status(wire::status(&payment)) {
            self.notify_v2(&payment, notice);
        }
        Ok(payment)
    }
}

/// `POST /_sandbox/payments`: a buyer finishing the checkout; answers `{payment_id,
/// transaction_id, status}` (V2's status names).
pub(crate) async fn create_payment(
    State(sandbox): State<Sandbox>,
    V2Json(body): V2Json<CreatePayment>,
) -> Result<Response, V2Error> {
    let decline = match body.outcome.as_deref() {
        None | Some("paid") => false,
        Some("failed") => true,
        Some(other) => return Err(V2Refusal::invalid(format!("unknown outcome {other:?}")).into()),
    };
    let mut notice_urls = body.notice_urls;
    notice_urls.extend(body.notice_url);
    let payment = sandbox.finish_v2_checkout(V2NewPayment {
        payment_id: body.payment_id,
        amount: body.amount,
        virtual_account: virtual_account(body.pay_method.as_deref())?,
        escrow: body.is_escrow,
        decline,
        order_name: body.order_name,
        notice_urls,
        customer_name: body.customer_name,
    })?;
    Ok(Json(json!({
        "payment_id": payment.merchant_uid,
        "transaction_id": payment.imp_uid,
        "status": wire::status(&payment),
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct Deposit {
    amount: Option<i64>,
}

/// `POST /_sandbox/payments/{paymentId}/deposit`: the buyer's transfer into the virtual
/// account (the amount due unless `amount` says otherwise); pays it and sends
/// `Transaction.Paid`, or is refused (409) and changes nothing.
pub(crate) async fn deposit(
    State(sandbox): State<Sandbox>,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<Deposit>,
) -> Result<Response, V2Error> {
    let payment = sandbox.inner.state().v2_deposit(&payment_id, body.amount)?;
    sandbox.notify_v2(&payment, Notice::new("Transaction.Paid"));
    Ok(Json(json!({ "payment_id": payment_id, "status": wire::status(&payment) })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct EscrowMove {
    /// `DELIVERED`, `CONFIRMED`, `REJECTED` or `REJECT_CONFIRMED`.
    status: String,
    #[serde(default)]
    is_automatically_confirmed: bool,
}

/// `POST /_sandbox/payments/{paymentId}/escrow`: what the buyer or the PG does to the
/// escrow at the PG (the delivery arrives, the buyer confirms or rejects there, the PG
/// confirms after its waiting period), shown in the payment's `escrow.status`.
pub(crate) async fn escrow_at_pg(
    State(sandbox): State<Sandbox>,
    Path(payment_id): Path<String>,
    V2Json(body): V2Json<EscrowMove>,
) -> Result<Response, V2Error> {
    let status = match body.status.as_str() {
        "DELIVERED" => "DELIVERED",
        "CONFIRMED" => "CONFIRMED",
        "REJECTED" => "REJECTED",
        "REJECT_CONFIRMED" => "REJECT_CONFIRMED",
        other => return Err(V2Refusal::invalid(format!("unknown escrow status {other:?}")).into()),
    };
    let escrow =
        sandbox
            .inner
            .state()
            .v2_escrow_to(&payment_id, status, body.is_automatically_confirmed)?;
    Ok(Json(json!({ "payment_id": payment_id, "escrow_status": escrow.status })).into_response())
}

/// `GET /browser-sdk.js`: the `PortOne.requestPayment` stand-in.
pub(crate) async fn browser_sdk_js() -> Response {
    crate::control::static_file("application/javascript; charset=utf-8", BROWSER_SDK_JS)
}

/// `PortOne.requestPayment` parameters as the checkout page forwards them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestPayment {
    payment_id: Option<String>,
    order_name: Option<String>,
    total_amount: Option<i64>,
    pay_method: Option<String>,
    #[serde(default)]
    is_escrow: bool,
    #[serde(default, deserialize_with = "urls")]
    notice_urls: Vec<String>,
    customer: Option<Customer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Customer {
    full_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CheckoutBody {
    params: RequestPayment,
    /// `pay` or `decline`.
    action: String,
}

/// `POST /_sandbox/checkout`: the checkout page's buttons under `browser-sdk.js`. Answers
/// `{result, text}`: `result` is what `requestPayment` resolves with (`{paymentId,
/// transactionType, txId}`, or `{code, message, paymentId}` on failure), `text` what the
/// page shows.
pub(crate) async fn checkout_pay(
    State(sandbox): State<Sandbox>,
    V2Json(body): V2Json<CheckoutBody>,
) -> Response {
    let params = body.params;
    let payment_id = params.payment_id.clone().unwrap_or_default();
    let failure = |code: &str, message: &str| {
        Json(json!({
            "result": { "transactionType": "PAYMENT", "paymentId": payment_id, "code": code, "message": message },
            "text": format!("결제 실패: {message}"),
        }))
        .into_response()
    };
    let (Some(id), Some(amount)) = (params.payment_id, params.total_amount) else {
        return failure("INVALID_REQUEST", "paymentId와 totalAmount는 필수입니다.");
    };
    let virtual_account = match virtual_account(params.pay_method.as_deref()) {
        Ok(v) => v,
        Err(refusal) => return failure("INVALID_REQUEST", &refusal.message),
    };
    let created = sandbox.finish_v2_checkout(V2NewPayment {
        payment_id: id,
        amount,
        virtual_account,
        escrow: params.is_escrow,
        decline: body.action == "decline",
        order_name: params.order_name,
        notice_urls: params.notice_urls,
        customer_name: params.customer.and_then(|c| c.full_name),
    });
    let payment = match created {
        Ok(payment) => payment,
        Err(refusal) => return failure(refusal.kind, &refusal.message),
    };
    let text = match wire::status(&payment) {
        "FAILED" => {
            let reason = payment.fail_reason.clone().unwrap_or_default();
            return failure("FAILURE_TYPE_PG", &reason);
        }
        "VIRTUAL_ACCOUNT_ISSUED" => format!(
            "가상계좌 발급: {} {} ({})",
            payment.vbank_name.as_deref().unwrap_or_default(),
            payment.vbank_num.as_deref().unwrap_or_default(),
            payment.merchant_uid
        ),
        _ => format!("결제 완료: {}", payment.merchant_uid),
    };
    Json(json!({
        "result": {
            "transactionType": "PAYMENT",
            "paymentId": payment.merchant_uid,
            "txId": payment.imp_uid,
        },
        "text": text,
    }))
    .into_response()
}
