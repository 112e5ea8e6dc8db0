//! The admins' webhook endpoints and their deliveries (api.md §12).

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::orders::PageQuery;
use crate::state::AppState;
use crate::wire::{rfc3339, Done};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use escrow_core::page::PageRequest;
use escrow_core::webhooks::{Delivery, Endpoint};
use escrow_core::AppError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointRequest {
    /// Where deliveries are POSTed: `https://` in production, never a private address
    /// unless `ESCROW_WEBHOOK_ALLOW_PRIVATE`.
    pub url: String,
    /// Event types to deliver, e.g. `payment.paid`; absent or empty: all.
    pub event_types: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointBody {
    pub endpoint_id: i64,
    pub url: String,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    pub created_at: String,
}

impl From<Endpoint> for WebhookEndpointBody {
    fn from(e: Endpoint) -> Self {
        Self {
            endpoint_id: e.id,
            url: e.url,
            event_types: e.event_types,
            created_at: rfc3339(e.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointCreated {
    pub endpoint_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: String,
    /// `whsec_` + base64: verifies the deliveries' signatures. Shown this once.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpointBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryBody {
    pub delivery_id: i64,
    /// The event's stable id, sent as `webhook-id` on every attempt.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

impl From<Delivery> for WebhookDeliveryBody {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryBody>,
    pub next_cursor: Option<String>,
}

/// `{endpoint_id}` and `{delivery_id}` from the path, each a positive integer.
pub struct EndpointAndDelivery(i64, i64);

impl<S: Send + Sync> FromRequestParts<S> for EndpointAndDelivery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(AppError::NotFound("no such resource".into())))?;
        let id = |wanted: &str| {
            params
                .iter()
                .find(|(name, _)| *name == wanted)
                .and_then(|(_, value)| value.parse::<i64>().ok())
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError(AppError::field(wanted, "must be a positive integer id")))
        };
        Ok(Self(id("endpoint_id")?, id("delivery_id")?))
    }
}

/// Registers a webhook endpoint; its signing secret is in this answer only (admins).
#[utoipa::path(post, path = "/admin/webhook-endpoints", tag = "admin", request_body = WebhookEndpointRequest,
    security(("bearer" = [])),
    responses((status = 201, body = WebhookEndpointCreated), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<WebhookEndpointRequest>,
) -> Result<(StatusCode, Json<WebhookEndpointCreated>), ApiError> {
    let (endpoint, secret) = state
        .webhooks
        .create_endpoint(caller, &body.url, body.event_types)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookEndpointCreated {
            endpoint_id: endpoint.id,
            url: endpoint.url,
            event_types: endpoint.event_types,
            created_at: rfc3339(endpoint.created_at),
            secret,
        }),
    ))
}

/// The webhook endpoints, without their secrets (admins).
#[utoipa::path(get, path = "/admin/webhook-endpoints", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = WebhookEndpointList), (status = 403, body = Problem)))]
pub async fn list_webhook_endpoints(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<WebhookEndpointList>, ApiError> {
    let endpoints = state.webhooks.list_endpoints(caller).await?;
    Ok(Json(WebhookEndpointList {
        items: endpoints.into_iter().map(Into::into).collect(),
    }))
}

/// Deletes a webhook endpoint and its deliveries (admins).
#[utoipa::path(delete, path = "/admin/webhook-endpoints/{endpoint_id}", tag = "admin",
    params(("endpoint_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(endpoint_id): PathId,
) -> Result<Json<Done>, ApiError> {
    state.webhooks.delete_endpoint(caller, endpoint_id).await?;
    Ok(Json(Done::new("webhook endpoint deleted")))
}

/// An endpoint's deliveries, newest first (admins).
#[utoipa::path(get, path = "/admin/webhook-endpoints/{endpoint_id}/deliveries", tag = "admin",
    params(("endpoint_id" = i64, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = WebhookDeliveryPage), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(endpoint_id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<WebhookDeliveryPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let page = state
        .webhooks
        .list_deliveries(caller, endpoint_id, page)
        .await?;
    Ok(Json(WebhookDeliveryPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Sends a delivery again now, whatever its status (admins).
#[utoipa::path(post, path = "/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    tag = "admin", params(("endpoint_id" = i64, Path), ("delivery_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn resend_webhook_delivery(
    State(state): State<AppState>,
    Auth(caller): Auth,
    EndpointAndDelivery(endpoint_id, delivery_id): EndpointAndDelivery,
) -> Result<Json<Done>, ApiError> {
    state
        .webhooks
        .resend(caller, endpoint_id, delivery_id)
        .await?;
    Ok(Json(Done::new("delivery resent")))
}
