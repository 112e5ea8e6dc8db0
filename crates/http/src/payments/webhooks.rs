//! The gateway's webhook: only a hint to look the payment up at the gateway.

use crate::error::{ApiError, Problem};
use crate::extract::{parse_json, ClientAddr};
use crate::state::AppState;
use crate::wire::Done;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use bytes::Bytes;
use escrow_core::AppError;
use escrow_domain::validation::bounded_text;
use serde::Deserialize;
use utoipa::ToSchema;

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
