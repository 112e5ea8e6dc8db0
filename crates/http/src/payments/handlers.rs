//! The payment calls: extract, check the fields, call one service function, map the answer.

use super::vbank::refund_account;
use super::wire::*;
use crate::error::{ApiError, Problem};
use crate::extract::{optional_json, ApiJson, Auth, PathId};
use crate::orders::ShippingBody;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use escrow_core::payments::{PayMethod, Resolution, SeedPayment};
use escrow_core::AppError;
use escrow_domain::escrow::parse_courier;
use escrow_domain::validation::bounded_text;

/// Creates a payment for an order (or, in the one-step form, the order too), registers the
/// amount with the gateway, and returns the browser checkout parameters.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = CreatePaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PaymentCreatedBody), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 502, description = "gateway_error", body = Problem)))]
pub async fn create_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreatePaymentRequest>,
) -> Result<(StatusCode, Json<PaymentCreatedBody>), ApiError> {
    let escrow = body.escrow.unwrap_or(true);
    let pay_method = match body.pay_method.as_deref() {
        None | Some("card") => PayMethod::Card,
        Some("vbank") => PayMethod::Vbank,
        Some(_) => return Err(AppError::field("pay_method", "must be card or vbank").into()),
    };
    let created = match (body.order_id, body.product_id) {
        (Some(order_id), None) => {
            state
                .payments
                .create(caller, order_id, escrow, pay_method)
                .await?
        }
        (None, Some(product_id)) => {
            let mut missing = escrow_domain::FieldErrors::new();
            for (field, value) in [
                ("buyer_id", body.buyer_id),
                ("seller_id", body.seller_id),
                ("price", body.price),
            ] {
                if value.is_none() {
                    missing.add(field, "is required with product_id");
                }
            }
            missing.finish().map_err(|e| ApiError(e.into()))?;
            let shipping = body
                .shipping
                .as_ref()
                .map(ShippingBody::parse)
                .transpose()?;
            let seed = SeedPayment {
                product_id,
                quantity: body.quantity.unwrap_or(1),
                buyer_id: body.buyer_id.unwrap_or_default(),
                seller_id: body.seller_id.unwrap_or_default(),
                price: body.price.unwrap_or_default(),
                shipping,
            };
            state
                .payments
                .create_seed(caller, &state.orders, seed, escrow, pay_method)
                .await?
        }
        _ => {
            return Err(AppError::field(
                "order_id",
                "give order_id, or product_id with quantity and price",
            )
            .into())
        }
    };
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// The browser's report that checkout finished: verified with the gateway before anything
/// changes (amount, merchant_uid, status).
#[utoipa::path(post, path = "/payments/{payment_id}/complete", tag = "payments", request_body = CompleteRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentStatusBody), (status = 409, description = "amount_mismatch", body = Problem),
              (status = 502, body = Problem)))]
pub async fn complete_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<CompleteRequest>,
) -> Result<Json<PaymentStatusBody>, ApiError> {
    let imp_uid =
        bounded_text(&body.imp_uid, 1, 64).map_err(|m| ApiError(AppError::field("imp_uid", m)))?;
    Ok(Json(
        state
            .payments
            .complete(caller, payment_id, &imp_uid)
            .await?
            .into(),
    ))
}

/// The payment with its order's state, shipment and full history.
#[utoipa::path(get, path = "/payments/{payment_id}/status", tag = "payments", params(("payment_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = PaymentStatusBody), (status = 403, body = Problem)))]
pub async fn get_payment_status(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
) -> Result<Json<PaymentStatusBody>, ApiError> {
    Ok(Json(
        state.payments.status(caller, payment_id).await?.into(),
    ))
}

/// Registers the shipment with the gateway's escrow delivery API (a second call updates it).
#[utoipa::path(post, path = "/payments/{payment_id}/shipment", tag = "payments", request_body = ShipmentRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn ship_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ShipmentRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let mut errors = escrow_domain::FieldErrors::new();
    let (courier, invoice) = parcel(&mut errors, &body.courier, &body.invoice_number);
    let sent_at = body.sent_at.as_deref().and_then(|text| {
        errors.check(
            "sent_at",
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or_default())
                .map_err(|_| "must be an RFC 3339 time".to_string()),
        )
    });
    errors.finish().map_err(|e| ApiError(e.into()))?;
    let (courier, invoice) = (courier.unwrap_or("ETC"), invoice.unwrap_or_default());
    let payment = state
        .payments
        .ship(caller, payment_id, courier, &invoice, sent_at)
        .await?;
    Ok(Json(PaymentChanged::new("shipment registered", payment)))
}

/// A parcel's courier code and invoice number, checked as the gateway's delivery API wants
/// them (a shipment's, and a return's).
pub(super) fn parcel(
    errors: &mut escrow_domain::FieldErrors,
    courier: &str,
    invoice: &str,
) -> (Option<&'static str>, Option<String>) {
    let courier = errors.check("courier", parse_courier(courier));
    let invoice = errors.check(
        "invoice_number",
        bounded_text(invoice, 1, 64).and_then(|i| {
            if i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                Ok(i)
            } else {
                Err("may use only letters, digits and `-`".into())
            }
        }),
    );
    (courier, invoice)
}

/// Marks the order delivered; the buyer's confirmation period starts.
#[utoipa::path(post, path = "/payments/{payment_id}/delivered", tag = "payments", params(("payment_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = PaymentChanged), (status = 409, body = Problem)))]
pub async fn deliver_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
) -> Result<Json<PaymentChanged>, ApiError> {
    Ok(Json(PaymentChanged::new(
        "marked delivered",
        state.payments.delivered(caller, payment_id).await?,
    )))
}

/// The buyer confirms receipt: the escrow is released to the seller (409 `refund_in_progress`
/// while a refund is being asked of the gateway).
#[utoipa::path(post, path = "/payments/{payment_id}/confirm", tag = "payments", params(("payment_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = PaymentChanged), (status = 409, body = Problem)))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
) -> Result<Json<PaymentChanged>, ApiError> {
    Ok(Json(PaymentChanged::new(
        "purchase confirmed; the seller is paid",
        state.payments.confirm(caller, payment_id).await?,
    )))
}

/// Cancels before shipment (in full at the gateway when paid).
#[utoipa::path(post, path = "/payments/{payment_id}/cancel", tag = "payments", request_body = CancelPaymentRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn cancel_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    body: Bytes,
) -> Result<Json<PaymentChanged>, ApiError> {
    // No body means no reason.
    let body: CancelPaymentRequest = optional_json(&body)?;
    let reason = reason_text(body.reason.as_deref())?;
    let account = refund_account(body.refund_account.as_ref())?;
    let payment = state
        .payments
        .cancel(caller, payment_id, reason.as_deref(), account)
        .await?;
    Ok(Json(PaymentChanged::new("cancelled", payment)))
}

/// Refunds in full or in part (gateway first); partial refunds add up.
#[utoipa::path(post, path = "/payments/{payment_id}/refund", tag = "payments", request_body = RefundRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RefundResponse), (status = 409, description = "refund_exceeds_balance, refund_in_progress or invalid_state", body = Problem),
              (status = 502, description = "gateway_error", body = Problem)))]
pub async fn refund_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<Json<RefundResponse>, ApiError> {
    let reason =
        bounded_text(&body.reason, 1, 500).map_err(|m| ApiError(AppError::field("reason", m)))?;
    let account = refund_account(body.refund_account.as_ref())?;
    let refunded = state
        .payments
        .refund(caller, payment_id, body.amount, &reason, account)
        .await?;
    Ok(Json(refunded.into()))
}

/// The payment's refunds, oldest first, with their status.
#[utoipa::path(get, path = "/payments/{payment_id}/refunds", tag = "payments", params(("payment_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = RefundsBody), (status = 403, body = Problem)))]
pub async fn list_refunds(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
) -> Result<Json<RefundsBody>, ApiError> {
    let items = state.payments.refunds(caller, payment_id).await?;
    Ok(Json(RefundsBody {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// The buyer disputes after shipment: automatic confirmation stops until an admin decides.
#[utoipa::path(post, path = "/payments/{payment_id}/dispute", tag = "payments", request_body = ReasonRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 409, body = Problem)))]
pub async fn dispute_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let reason = reason_text(body.reason.as_deref())?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError(AppError::field("reason", "must not be empty")))?;
    Ok(Json(PaymentChanged::new(
        "dispute opened",
        state.payments.dispute(caller, payment_id, &reason).await?,
    )))
}

/// An admin decides a dispute.
#[utoipa::path(post, path = "/payments/{payment_id}/resolve", tag = "payments", request_body = ResolveRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<ResolveRequest>,
) -> Result<Json<PaymentChanged>, ApiError> {
    let outcome = match body.outcome {
        Outcome::Release => Resolution::Release,
        Outcome::Refund => Resolution::Refund,
    };
    let payment = state
        .payments
        .resolve(
            caller,
            payment_id,
            outcome,
            body.amount,
            refund_account(body.refund_account.as_ref())?,
        )
        .await?;
    Ok(Json(PaymentChanged::new("dispute resolved", payment)))
}
