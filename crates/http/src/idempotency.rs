//! The `Idempotency-Key` layer over every POST: the same key from the same user with the
//! same request gets the first response again and does nothing else.

use crate::error::{problem_response, ApiError};
use crate::extract::bearer_token;
use crate::router::MAX_BODY_BYTES;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use escrow_core::idempotency::{self, Claim};
use escrow_core::AppError;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";

pub async fn idempotency_layer(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_string))
    else {
        return next.run(request).await;
    };
    let key = match key {
        Ok(key) if !key.trim().is_empty() && key.len() <= 255 => key,
        _ => {
            return ApiError(AppError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible characters",
            ))
            .into_response();
        }
    };
    // Without a valid token the handler answers 401 itself; nothing to remember.
    let caller = match bearer_token(request.headers()) {
        Ok(Some(token)) => state.members.authenticate(token).await.ok(),
        _ => None,
    };
    let Some(caller) = caller else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError(AppError::PayloadTooLarge(
                "the request body is too large".into(),
            ))
            .into_response()
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = format!("{:x}", hasher.finalize());

    match idempotency::claim(&state.db, caller.user_id, &key, &hash).await {
        Ok(Claim::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let content_type = if status.is_success() {
                "application/json"
            } else {
                "application/problem+json"
            };
            let mut response = (status, body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return response;
        }
        Ok(Claim::Run) => {}
        Err(err) => return ApiError(err).into_response(),
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (response_parts, body) = response.into_parts();
    let (response_parts, body) = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => (response_parts, body),
        Err(_) => {
            let failed = problem_response(
                "internal_error",
                "the response could not be read".into(),
                Vec::new(),
            );
            let (parts, body) = failed.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            (parts, body)
        }
    };
    // Failures too: the request may have moved money before it failed, and running it
    // again could move it twice. The client sends a new key to try again.
    let saved = idempotency::finish(
        &state.db,
        caller.user_id,
        &key,
        response_parts.status.as_u16(),
        &body,
    )
    .await;
    if let Err(err) = saved {
        tracing::error!(error = %err, "saving an idempotency key failed");
    }
    Response::from_parts(response_parts, Body::from(body))
}
