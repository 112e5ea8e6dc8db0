//! The gateway's webhook: only a hint to look the payment up at the gateway.

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, ClientAddr};
use crate::state::AppState;
use crate::wire::Done;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use bytes::Bytes;
use escrow_core::webhooks::signing;
use escrow_core::AppError;
use escrow_domain::validation::bounded_text;
use serde::Deserialize;
use utoipa::ToSchema;

/// Webhooks only from the allowed addresses (`ESCROW_WEBHOOK_ALLOW`; any when unset).
fn allowed_sender(state: &AppState, client: &str) -> Result<(), ApiError> {
    let allowed = client
        .parse()
        .is_ok_and(|ip| state.webhook_sources.allows(ip));
    if !allowed {
        tracing::warn!(client = %client, "webhook from an address not allowed");
        return Err(
            AppError::Forbidden("webhooks are not accepted from this address".into()).into(),
        );
    }
    Ok(())
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
    allowed_sender(&state, &client)?;
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

/// PortOne V2's notice (version 2024-04-25). Unknown types and fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookV2Body {
    /// `Transaction.Paid`, `Transaction.Cancelled`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Option<WebhookV2Data>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookV2Data {
    /// Our `merchant_uid`.
    pub payment_id: Option<String>,
    /// The gateway's id of the payment (kept as `imp_uid`).
    pub transaction_id: Option<String>,
}

/// PortOne V2's webhook, signed as Standard Webhooks say with `PORTONE_WEBHOOK_SECRET`:
/// a bad, missing or stale signature is 401 and changes nothing. Then only a hint: the
/// payment is fetched from the gateway and checked as `complete` does.
#[utoipa::path(post, path = "/webhooks/portone/v2", tag = "payments", request_body = WebhookV2Body,
    responses((status = 200, body = Done), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 502, body = Problem)))]
pub async fn receive_webhook_v2(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Done>, ApiError> {
    allowed_sender(&state, &client)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secret = state.gateway_webhook_secret.as_deref().ok_or_else(|| {
        ApiError(AppError::Unauthorized(
            "no PORTONE_WEBHOOK_SECRET is configured: V2 webhooks are refused".into(),
        ))
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let verified = signing::verify(
        secret,
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
        &body,
        now,
    );
    if let Err(refused) = verified {
        let why = match refused {
            signing::VerifyError::MissingHeader => {
                "the webhook-id, webhook-timestamp and webhook-signature headers are required"
            }
            signing::VerifyError::Stale => "the webhook's timestamp is more than five minutes off",
            signing::VerifyError::BadSignature => "no webhook signature matches",
        };
        tracing::warn!(client = %client, error = why, "V2 webhook refused");
        return Err(AppError::Unauthorized(why.into()).into());
    }
    let notice: WebhookV2Body = parse_json(&body)?;
    let (Some(payment_id), Some(transaction_id)) = notice
        .data
        .map(|d| (d.payment_id, d.transaction_id))
        .unwrap_or_default()
    else {
        // Not about a payment (billing keys and the like): nothing of ours.
        return Ok(Json(Done::new("nothing to change")));
    };
    let merchant_uid = bounded_text(&payment_id, 1, 64)
        .map_err(|m| ApiError(AppError::field("data.paymentId", m)))?;
    let gateway_id = bounded_text(&transaction_id, 1, 64)
        .map_err(|m| ApiError(AppError::field("data.transactionId", m)))?;
    tracing::info!(
        payment.imp_uid = %gateway_id,
        payment.merchant_uid = %merchant_uid,
        webhook.status = %notice.kind,
        "webhook received"
    );
    let status = (notice.kind == "Transaction.Paid").then_some("paid");
    let changed = state
        .payments
        .webhook(&gateway_id, &merchant_uid, status)
        .await?;
    Ok(Json(Done::new(if changed {
        "applied"
    } else {
        "nothing to change"
    })))
}
