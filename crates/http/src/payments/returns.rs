//! `/payments/{id}/return*`: the buyer refuses delivered goods and sends them back; the
//! seller receives them, then accepts or rejects (api.md §10).

use super::handlers::parcel;
use super::vbank::{refund_account, RefundAccountBody};
use super::wire::PaymentChanged;
use crate::error::{ApiError, Problem};
use crate::extract::{optional_json, ApiJson, Auth, PathId};
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::Json;
use bytes::Bytes;
use escrow_core::payments::{ReturnAsk, ReturnRecord};
use escrow_core::AppError;
use escrow_domain::escrow::{ReturnKind, ReturnReason};
use escrow_domain::validation::bounded_text;
use escrow_domain::FieldErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReturnRequest {
    /// `return` (the money back) or `exchange` (another parcel).
    pub kind: String,
    /// `changed_mind`, `defective`, `wrong_item` or `not_as_described`.
    pub reason_code: String,
    pub reason: String,
    /// Required to return a virtual-account payment: the buyer's account the refund goes to.
    pub refund_account: Option<RefundAccountBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReturnShipmentRequest {
    /// The gateway's courier code, as for a shipment: CJGLS, HANJIN, EPOST, ... ETC.
    pub courier: String,
    pub invoice_number: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReturnAcceptRequest {
    /// Won the seller keeps of a `changed_mind` return (at most `ESCROW_MAX_RETURN_FEE`);
    /// the rest is refunded. None for an exchange.
    pub return_fee: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReturnRejectRequest {
    pub reason: String,
}

/// A payment's latest return or exchange; its state is the order's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnBody {
    pub return_id: i64,
    /// return, exchange
    pub kind: String,
    /// changed_mind, defective, wrong_item, not_as_described
    pub reason_code: String,
    pub reason: String,
    pub requested_at: String,
    /// The parcel must be sent back by then, or the return lapses.
    pub ship_by: String,
    pub courier: Option<String>,
    pub invoice_number: Option<String>,
    pub shipped_at: Option<String>,
    pub received_at: Option<String>,
    /// The seller's inspection ends then; silence is acceptance with no fee.
    pub inspect_by: Option<String>,
    /// accepted, rejected or lapsed, once closed.
    pub outcome: Option<String>,
    pub closed_at: Option<String>,
    /// Won the seller kept of an accepted return.
    pub return_fee: i64,
}

impl From<ReturnRecord> for ReturnBody {
    fn from(r: ReturnRecord) -> Self {
        Self {
            return_id: r.id,
            kind: r.kind.as_str().into(),
            reason_code: r.reason_code.as_str().into(),
            reason: r.reason,
            requested_at: rfc3339(r.requested_at),
            ship_by: rfc3339(r.ship_by),
            courier: r.courier,
            invoice_number: r.invoice_number,
            shipped_at: r.shipped_at.map(rfc3339),
            received_at: r.received_at.map(rfc3339),
            inspect_by: r.inspect_by.map(rfc3339),
            outcome: r.outcome.map(|o| o.as_str().into()),
            closed_at: r.closed_at.map(rfc3339),
            return_fee: r.fee.get(),
        }
    }
}

fn required_reason(reason: &str) -> Result<String, ApiError> {
    bounded_text(reason, 1, 500).map_err(|m| ApiError(AppError::field("reason", m)))
}

/// The buyer refuses the delivered goods within the inspection period: a return or an
/// exchange. Automatic confirmation stops while it is open.
#[utoipa::path(post, path = "/payments/{payment_id}/return", tag = "payments", request_body = ReturnRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn request_return(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ReturnRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let mut errors = FieldErrors::new();
    let kind = errors.check("kind", ReturnKind::parse(&body.kind));
    let reason_code = errors.check("reason_code", ReturnReason::parse(&body.reason_code));
    let reason = errors.check("reason", bounded_text(&body.reason, 1, 500));
    errors.finish().map_err(|e| ApiError(e.into()))?;
    let (Some(kind), Some(reason_code), Some(reason)) = (kind, reason_code, reason) else {
        return Err(AppError::Internal("checked fields went missing".into()).into());
    };
    let ask = ReturnAsk {
        kind,
        reason_code,
        reason,
        refund_account: refund_account(body.refund_account.as_ref())?,
    };
    let payment = state
        .payments
        .request_return(caller, payment_id, ask)
        .await?;
    Ok(Json(PaymentChanged::new("return requested", payment)))
}

/// The buyer sends the goods back (a second call corrects the parcel's details).
#[utoipa::path(post, path = "/payments/{payment_id}/return/shipment", tag = "payments", request_body = ReturnShipmentRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn ship_return(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ReturnShipmentRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let mut errors = FieldErrors::new();
    let (courier, invoice) = parcel(&mut errors, &body.courier, &body.invoice_number);
    errors.finish().map_err(|e| ApiError(e.into()))?;
    let (courier, invoice) = (courier.unwrap_or("ETC"), invoice.unwrap_or_default());
    let payment = state
        .payments
        .ship_return(caller, payment_id, courier, &invoice)
        .await?;
    Ok(Json(PaymentChanged::new("return sent back", payment)))
}

/// The seller has the goods back: the inspection period (`ESCROW_RETURN_INSPECTION`) starts.
#[utoipa::path(post, path = "/payments/{payment_id}/return/received", tag = "payments",
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn receive_return(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
) -> Result<Json<PaymentChanged>, ApiError> {
    let payment = state.payments.receive_return(caller, payment_id).await?;
    Ok(Json(PaymentChanged::new(
        "returned goods received",
        payment,
    )))
}

/// The seller accepts the returned goods: a return is refunded (less `return_fee`, released
/// to the seller), an exchange awaits a new shipment.
#[utoipa::path(post, path = "/payments/{payment_id}/return/accept", tag = "payments", request_body = ReturnAcceptRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem),
              (status = 409, description = "invalid_state or refund_in_progress", body = Problem),
              (status = 422, body = Problem), (status = 502, description = "gateway_error", body = Problem)))]
pub async fn accept_return(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    body: Bytes,
) -> Result<Json<PaymentChanged>, ApiError> {
    // No body means no fee.
    let body: ReturnAcceptRequest = optional_json(&body)?;
    let payment = state
        .payments
        .accept_return(caller, payment_id, body.return_fee)
        .await?;
    Ok(Json(PaymentChanged::new("return accepted", payment)))
}

/// The seller refuses the returned goods: the order is disputed for an admin's `resolve`.
#[utoipa::path(post, path = "/payments/{payment_id}/return/reject", tag = "payments", request_body = ReturnRejectRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn reject_return(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ReturnRejectRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let reason = required_reason(&body.reason)?;
    let payment = state
        .payments
        .reject_return(caller, payment_id, &reason)
        .await?;
    Ok(Json(PaymentChanged::new(
        "return rejected; an admin decides",
        payment,
    )))
}
