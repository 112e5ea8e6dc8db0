//! V2's JSON for the shared records: the `Payment` union (every field the OpenAPI document
//! requires for each status, since the Python SDK validates answers), cancellations,
//! escrow, and the `{type, message}` error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::SandboxConfig;
use crate::state::{
    v2_bank_name, CancelRecord, PaymentRecord, PaymentStatus, V2Escrow, V2Extra, V2Refusal,
};

/// A V2 failure answer.
pub(crate) struct V2Error(pub V2Refusal);

impl From<V2Refusal> for V2Error {
    fn from(refusal: V2Refusal) -> Self {
        Self(refusal)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = json!({ "type": self.0.kind, "message": self.0.message });
        if self.0.kind == "PG_PROVIDER" {
            body["pgCode"] = json!("SANDBOX");
            body["pgMessage"] = json!(self.0.message);
        }
        (status, Json(body)).into_response()
    }
}

/// RFC 3339 (UTC) of unix milliseconds.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn rfc3339_s(s: i64) -> String {
    rfc3339_ms(s.saturating_mul(1000))
}

/// The V2 status of a shared record.
pub(crate) fn status(payment: &PaymentRecord) -> &'static str {
    match payment.status {
        PaymentStatus::Ready if payment.pay_method == "vbank" => "VIRTUAL_ACCOUNT_ISSUED",
        PaymentStatus::Ready => "READY",
        PaymentStatus::Failed => "FAILED",
        PaymentStatus::Paid if payment.cancel_amount > 0 => "PARTIAL_CANCELLED",
        PaymentStatus::Paid => "PAID",
        // A closed virtual account was never paid: V2 shows it cancelled, with nothing to
        // give back.
        PaymentStatus::Cancelled => "CANCELLED",
    }
}

fn cancellation(record: &CancelRecord, extra: &V2Extra) -> Value {
    let refunding = extra.refunding.contains(&record.cancellation_id);
    let mut value = json!({
        "status": if refunding { "REQUESTED" } else { "SUCCEEDED" },
        "id": record.cancellation_id,
        "pgCancellationId": format!("{}-{}", record.pg_tid, record.cancellation_id),
        "totalAmount": record.amount,
        "taxFreeAmount": 0,
        "vatAmount": record.amount / 11,
        "reason": record.reason,
        "requestedAt": rfc3339_s(record.cancelled_at),
        "trigger": "API",
    });
    if !refunding {
        value["cancelledAt"] = json!(rfc3339_s(record.cancelled_at));
        value["receiptUrl"] = json!(record.receipt_url);
    }
    value
}

/// One cancellation of `payment` as `CancelPaymentResponse.cancellation` shows it.
pub(crate) fn cancellation_of(payment: &PaymentRecord, extra: &V2Extra, id: &str) -> Value {
    payment
        .cancel_history
        .iter()
        .find(|c| c.cancellation_id == id)
        .map(|c| without_nulls(cancellation(c, extra)))
        .unwrap_or(Value::Null)
}

fn escrow(escrow: &V2Escrow) -> Value {
    if escrow.status == "BEFORE_REGISTERED" {
        return json!({ "status": escrow.status });
    }
    let mut value = json!({
        "status": escrow.status,
        "company": escrow.company,
        "invoiceNumber": escrow.invoice_number,
        "sentAt": escrow.sent_at,
        "appliedAt": rfc3339_ms(escrow.applied_at_ms),
    });
    if escrow.status == "CONFIRMED" {
        value["isAutomaticallyConfirmed"] = json!(escrow.automatically_confirmed);
    }
    value
}

fn method(payment: &PaymentRecord, extra: &V2Extra) -> Value {
    if payment.pay_method != "vbank" {
        return json!({
            "type": "PaymentMethodCard",
            "card": { "publisher": "SHINHAN", "issuer": "SHINHAN", "brand": "LOCAL", "type": "CREDIT",
                      "ownerType": "PERSONAL", "name": payment.card_name, "number": payment.card_number },
            "approvalNumber": payment.apply_num,
            "installment": { "month": 0, "isInterestFree": false },
            "pointUsed": false,
        });
    }
    let mut value = json!({
        "type": "PaymentMethodVirtualAccount",
        "bank": payment.vbank_code.as_deref().and_then(v2_bank_name),
        "accountNumber": payment.vbank_num,
        "accountType": "NORMAL",
        "remitteeName": payment.vbank_holder,
        "expiredAt": rfc3339_s(payment.vbank_date),
        "issuedAt": rfc3339_s(payment.vbank_issued_at),
    });
    if let Some(refund_status) = extra.refund_status {
        value["refundStatus"] = json!(refund_status);
    }
    value
}

/// `Payment` for `payment`: the members' common fields, then each status's own.
pub(crate) fn payment(cfg: &SandboxConfig, payment: &PaymentRecord, extra: &V2Extra) -> Value {
    let status = status(payment);
    let paid = if payment.paid_at > 0 {
        payment.amount
    } else {
        0
    };
    let mut value = json!({
        "status": status,
        "id": payment.merchant_uid,
        "transactionId": payment.imp_uid,
        "merchantId": cfg.merchant_id,
        "storeId": cfg.store_id,
        "method": method(payment, extra),
        "channel": {
            "type": "TEST",
            "id": "channel-id-sandbox",
            "key": "channel-key-sandbox",
            "name": "sandbox",
            "pgProvider": "INICIS_V2",
            "pgMerchantId": payment.pg_id,
        },
        "version": "V2",
        "webhooks": [],
        "requestedAt": rfc3339_s(payment.started_at),
        "updatedAt": rfc3339_ms(payment.updated_at),
        "statusChangedAt": rfc3339_ms(payment.updated_at),
        "orderName": extra.order_name,
        "amount": {
            "total": payment.amount,
            "taxFree": 0,
            "vat": payment.amount / 11,
            "supply": payment.amount - payment.amount / 11,
            "discount": 0,
            "paid": paid,
            "cancelled": payment.cancel_amount,
            "cancelledTaxFree": 0,
        },
        "currency": "KRW",
        "customer": { "name": payment.buyer_name, "email": payment.buyer_email, "phoneNumber": payment.buyer_tel },
        "origin": { "platformType": "PC", "ipAddress": "127.0.0.1", "userAgent": "portone-sandbox" },
        "isCulturalExpense": false,
        "products": [],
    });
    let mut object: Map<String, Value> = value
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    if let Some(e) = &extra.escrow {
        object.insert("escrow".into(), escrow(e));
    }
    if let Some(data) = &payment.custom_data {
        object.insert("customData".into(), json!(data));
    }
    if let Some(tid) = &payment.pg_tid {
        object.insert("pgTxId".into(), json!(tid));
    }
    match status {
        "PAID" | "PARTIAL_CANCELLED" | "CANCELLED" if payment.paid_at > 0 => {
            object.insert("paidAt".into(), json!(rfc3339_s(payment.paid_at)));
            object.insert("receiptUrl".into(), json!(payment.receipt_url));
            object.insert("disputes".into(), json!([]));
        }
        "FAILED" => {
            object.insert("failedAt".into(), json!(rfc3339_s(payment.failed_at)));
            object.insert(
                "failure".into(),
                json!({ "reason": payment.fail_reason, "pgCode": "SANDBOX_DECLINED", "pgMessage": payment.fail_reason }),
            );
        }
        _ => {}
    }
    if matches!(status, "PAID" | "PARTIAL_CANCELLED" | "CANCELLED") {
        let cancellations: Vec<Value> = payment
            .cancel_history
            .iter()
            .map(|c| cancellation(c, extra))
            .collect();
        object.insert("cancellations".into(), json!(cancellations));
    }
    if matches!(status, "PARTIAL_CANCELLED" | "CANCELLED") {
        object.insert("cancelledAt".into(), json!(rfc3339_s(payment.cancelled_at)));
    }
    // Fields with no value are left out, as the gateway leaves them out (the Python SDK
    // refuses a `null` where the schema says string).
    without_nulls(Value::Object(object))
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}
