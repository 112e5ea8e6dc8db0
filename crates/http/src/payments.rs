//! `/payments/*`, the gateway's webhook, settlements, and the admin's ledger and
//! reconciliation.

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, ApiJson, Auth, ClientAddr, PathId};
use crate::orders::{ShipmentBody, ShippingBody};
use crate::state::AppState;
use crate::wire::{rfc3339, Done};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use escrow_core::payments::{
    PaymentCreated, PaymentRecord, PaymentStatusView, Resolution, SeedPayment,
};
use escrow_core::AppError;
use escrow_domain::escrow::parse_courier;
use escrow_domain::validation::bounded_text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePaymentRequest {
    /// Pay for this order; or give product_id, quantity and price instead (the one-step form).
    pub order_id: Option<i64>,
    pub product_id: Option<i64>,
    pub quantity: Option<i64>,
    pub buyer_id: Option<i64>,
    pub seller_id: Option<i64>,
    /// The one-step form: the total the client expects; must equal the server's.
    pub price: Option<i64>,
    pub shipping: Option<ShippingBody>,
    /// Escrow on (default) or off.
    pub escrow: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutBody {
    pub imp_code: String,
    pub pg: String,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: String,
    pub amount: i64,
    pub buyer_email: String,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_addr: String,
    pub buyer_postcode: String,
    pub escrow: bool,
    pub notice_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCreatedBody {
    pub success: bool,
    pub message: String,
    pub payment_id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    pub amount: i64,
    pub escrow: bool,
    pub status: String,
    /// What the browser passes to `IMP.init` / `IMP.request_pay`.
    pub checkout: CheckoutBody,
}

impl From<PaymentCreated> for PaymentCreatedBody {
    fn from(created: PaymentCreated) -> Self {
        let p = created.payment;
        let c = created.checkout;
        Self {
            success: true,
            message: "payment ready: open the checkout".into(),
            payment_id: p.id,
            order_id: p.order_id,
            merchant_uid: p.merchant_uid,
            imp_uid: p.imp_uid,
            amount: p.amount,
            escrow: p.escrow,
            status: p.status.as_str().into(),
            checkout: CheckoutBody {
                imp_code: c.imp_code,
                pg: c.pg,
                pay_method: c.pay_method,
                merchant_uid: c.merchant_uid,
                name: c.name,
                amount: c.amount,
                buyer_email: c.buyer_email,
                buyer_name: c.buyer_name,
                buyer_tel: c.buyer_tel,
                buyer_addr: c.buyer_addr,
                buyer_postcode: c.buyer_postcode,
                escrow: c.escrow,
                notice_url: c.notice_url,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    pub at: String,
    /// `order`, `payment` or `escrow`.
    pub entity: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentStatusBody {
    pub payment_id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    /// ready, paid, partially_refunded, refunded, cancelled, failed
    pub status: String,
    pub escrow: bool,
    /// inactive, pending, held, released, returned
    pub escrow_status: String,
    pub order_status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub released_amount: i64,
    pub failure_code: Option<String>,
    pub pg_provider: Option<String>,
    pub pay_method: Option<String>,
    pub paid_at: Option<String>,
    pub shipment: Option<ShipmentBody>,
    pub history: Vec<HistoryBody>,
}

impl From<PaymentStatusView> for PaymentStatusBody {
    fn from(view: PaymentStatusView) -> Self {
        let p = view.payment;
        Self {
            payment_id: p.id,
            order_id: p.order_id,
            merchant_uid: p.merchant_uid,
            imp_uid: p.imp_uid,
            status: p.status.as_str().into(),
            escrow: p.escrow,
            escrow_status: p.escrow_status.as_str().into(),
            order_status: p.order_status.as_str().into(),
            amount: p.amount,
            refunded_amount: p.refunded_amount,
            released_amount: p.released_amount,
            failure_code: p.failure_code,
            pg_provider: p.pg_provider,
            pay_method: p.pay_method,
            paid_at: p.paid_at.map(rfc3339),
            shipment: view.shipment.map(Into::into),
            history: view
                .history
                .into_iter()
                .map(|h| HistoryBody {
                    at: rfc3339(h.at),
                    entity: h.entity,
                    from: h.from,
                    to: h.to,
                    actor: h.actor,
                    reason: h.reason,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteRequest {
    /// The gateway's id from the checkout callback. Anything else sent (merchant_uid,
    /// amounts) is ignored: the gateway's own record decides.
    pub imp_uid: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipmentRequest {
    /// The gateway's courier code: CJGLS, HANJIN, EPOST, HYUNDAI, KGB, ... ETC.
    pub courier: String,
    pub invoice_number: String,
    /// When it was sent (RFC 3339); now when omitted.
    pub sent_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundRequest {
    pub reason: String,
    /// Won to refund; all that is left when omitted.
    pub amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse {
    pub success: bool,
    pub message: String,
    /// The running total refunded.
    pub refunded_amount: i64,
    pub status: String,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Release,
    Refund,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub outcome: Outcome,
    /// For `refund`: won to refund (the rest is released); all when omitted.
    pub amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentChanged {
    pub success: bool,
    pub message: String,
    pub payment_id: i64,
    pub status: String,
    pub escrow_status: String,
    pub order_status: String,
    pub refunded_amount: i64,
}

impl PaymentChanged {
    fn new(message: &str, p: PaymentRecord) -> Self {
        Self {
            success: true,
            message: message.into(),
            payment_id: p.id,
            status: p.status.as_str().into(),
            escrow_status: p.escrow_status.as_str().into(),
            order_status: p.order_status.as_str().into(),
            refunded_amount: p.refunded_amount,
        }
    }
}

fn reason_text(reason: Option<&str>) -> Result<Option<String>, ApiError> {
    reason
        .map(|r| bounded_text(r, 0, 500).map_err(|m| ApiError(AppError::field("reason", m))))
        .transpose()
}

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
    let created = match (body.order_id, body.product_id) {
        (Some(order_id), None) => state.payments.create(caller, order_id, escrow).await?,
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
                .create_seed(caller, &state.orders, seed, escrow)
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

#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookBody {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub status: Option<String>,
}

/// The gateway's notice (JSON or form-encoded). Never trusted: the payment is fetched from
/// the gateway and checked as `complete` does.
#[utoipa::path(post, path = "/webhooks/portone", tag = "payments", request_body = WebhookBody,
    responses((status = 200, body = Done), (status = 404, body = Problem), (status = 502, body = Problem)))]
pub async fn receive_webhook(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Done>, ApiError> {
    let allowed = client
        .parse()
        .is_ok_and(|ip| state.webhook_sources.allows(ip));
    if !allowed {
        tracing::warn!(client = %client, "webhook from an address not allowed");
        return Err(
            AppError::Forbidden("webhooks are not accepted from this address".into()).into(),
        );
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let notice: WebhookBody = if is_form {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError(AppError::field("body", e.to_string())))?
    } else {
        parse_json(&body)?
    };
    let imp_uid = bounded_text(&notice.imp_uid, 1, 64)
        .map_err(|m| ApiError(AppError::field("imp_uid", m)))?;
    let merchant_uid = bounded_text(&notice.merchant_uid, 1, 64)
        .map_err(|m| ApiError(AppError::field("merchant_uid", m)))?;
    tracing::info!(
        payment.imp_uid = %imp_uid,
        payment.merchant_uid = %merchant_uid,
        webhook.status = notice.status.as_deref().unwrap_or("-"),
        "webhook received"
    );
    let changed = state
        .payments
        .webhook(&imp_uid, &merchant_uid, notice.status.as_deref())
        .await?;
    Ok(Json(Done::new(if changed {
        "applied"
    } else {
        "nothing to change"
    })))
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
    let courier = errors.check("courier", parse_courier(&body.courier));
    let invoice = errors.check(
        "invoice_number",
        bounded_text(&body.invoice_number, 1, 64).and_then(|i| {
            if i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                Ok(i)
            } else {
                Err("may use only letters, digits and `-`".into())
            }
        }),
    );
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

/// The buyer confirms receipt: the escrow is released to the seller.
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
#[utoipa::path(post, path = "/payments/{payment_id}/cancel", tag = "payments", request_body = ReasonRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentChanged), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn cancel_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    body: Bytes,
) -> Result<Json<PaymentChanged>, ApiError> {
    // The body is optional here: no body means no reason.
    let body: ReasonRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReasonRequest::default()
    } else {
        parse_json(&body)?
    };
    let reason = reason_text(body.reason.as_deref())?;
    let payment = state
        .payments
        .cancel(caller, payment_id, reason.as_deref())
        .await?;
    Ok(Json(PaymentChanged::new("cancelled", payment)))
}

/// Refunds in full or in part (gateway first); partial refunds add up.
#[utoipa::path(post, path = "/payments/{payment_id}/refund", tag = "payments", request_body = RefundRequest,
    params(("payment_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RefundResponse), (status = 409, description = "refund_exceeds_balance or invalid_state", body = Problem),
              (status = 502, description = "gateway_error", body = Problem)))]
pub async fn refund_payment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(payment_id): PathId,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<Json<RefundResponse>, ApiError> {
    let reason =
        bounded_text(&body.reason, 1, 500).map_err(|m| ApiError(AppError::field("reason", m)))?;
    let payment = state
        .payments
        .refund(caller, payment_id, body.amount, &reason)
        .await?;
    Ok(Json(RefundResponse {
        success: true,
        message: "refunded".into(),
        refunded_amount: payment.refunded_amount,
        status: payment.status.as_str().into(),
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
        .resolve(caller, payment_id, outcome, body.amount)
        .await?;
    Ok(Json(PaymentChanged::new("dispute resolved", payment)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementBody {
    pub payment_id: i64,
    pub order_id: i64,
    pub gross_amount: i64,
    pub fee_amount: i64,
    pub net_amount: i64,
    pub released_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementsBody {
    pub items: Vec<SettlementBody>,
    pub total_gross: i64,
    pub total_fee: i64,
    pub total_net: i64,
}

/// The seller's released payments, less the platform fee.
#[utoipa::path(get, path = "/settlements", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = SettlementsBody)))]
pub async fn list_settlements(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<SettlementsBody>, ApiError> {
    if caller.role != escrow_domain::Role::Seller {
        return Err(AppError::Forbidden("settlements are for sellers".into()).into());
    }
    let items = state.payments.settlements(caller).await?;
    let body = SettlementsBody {
        total_gross: items.iter().map(|s| s.gross_amount).sum(),
        total_fee: items.iter().map(|s| s.fee_amount).sum(),
        total_net: items.iter().map(|s| s.net_amount).sum(),
        items: items
            .into_iter()
            .map(|s| SettlementBody {
                payment_id: s.payment_id,
                order_id: s.order_id,
                gross_amount: s.gross_amount,
                fee_amount: s.fee_amount,
                net_amount: s.net_amount,
                released_at: rfc3339(s.released_at),
            })
            .collect(),
    };
    Ok(Json(body))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerBody {
    pub paid: i64,
    pub refunded: i64,
    pub held: i64,
    pub released: i64,
    /// paid = refunded + held + released, and every payment agrees with its entries.
    pub balanced: bool,
    pub payments_checked: i64,
    pub mismatched_payments: Vec<i64>,
}

fn admin_only(caller: escrow_core::auth::Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("admins only".into()).into())
    }
}

/// Ledger totals and whether they balance (admins).
#[utoipa::path(get, path = "/admin/ledger", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = LedgerBody), (status = 403, body = Problem)))]
pub async fn get_ledger(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<LedgerBody>, ApiError> {
    admin_only(caller)?;
    let l = state.payments.ledger().await?;
    Ok(Json(LedgerBody {
        paid: l.paid,
        refunded: l.refunded,
        held: l.held,
        released: l.released,
        balanced: l.balanced,
        payments_checked: l.payments_checked,
        mismatched_payments: l.mismatched_payments,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcileBody {
    pub success: bool,
    pub message: String,
    pub checked: u64,
    pub repaired: u64,
}

/// Compares every payment that is not final with the gateway and repairs ours (admins).
#[utoipa::path(post, path = "/admin/reconcile", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ReconcileBody), (status = 403, body = Problem)))]
pub async fn run_reconcile(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<ReconcileBody>, ApiError> {
    admin_only(caller)?;
    let report = state.payments.reconcile().await?;
    Ok(Json(ReconcileBody {
        success: true,
        message: "reconciled".into(),
        checked: report.checked,
        repaired: report.repaired,
    }))
}
