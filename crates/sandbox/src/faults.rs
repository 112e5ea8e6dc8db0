//! Injected failures: the REST API answering 500, hanging, dropping the connection,
//! running a request twice or late; webhooks lost, duplicated or late.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::Sandbox;

/// What a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// The next REST calls (not `/_sandbox/*`, not `iamport.js` or the checkout page).
    Api,
    /// The next webhooks.
    Webhook,
}

/// How the targeted calls fail.
///
/// | mode | api | webhook |
/// |---|---|---|
/// | `error_500` | 500 envelope, request not carried out | not sent (logged) |
/// | `timeout` | carried out, answer held `delay_ms` (30 s default) | not sent (logged) |
/// | `drop` | carried out, connection broken instead of an answer | not sent (logged) |
/// | `duplicate` | carried out twice, first answer returned | sent twice |
/// | `delay` | held `delay_ms` (1 s default), then carried out | sent `delay_ms` late |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    #[serde(rename = "error_500")]
    Error500,
    Timeout,
    Drop,
    Duplicate,
    Delay,
}

/// `POST /_sandbox/faults` body: the next `count` calls of `target` fail as `mode`.
/// Installing a fault replaces the one on the same target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub target: FaultTarget,
    pub mode: FaultMode,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub(crate) fn delay(&self) -> Duration {
        let default = match self.mode {
            FaultMode::Timeout => 30_000,
            _ => 1_000,
        };
        Duration::from_millis(self.delay_ms.unwrap_or(default))
    }
}

/// Bodies above this are refused anyway; only used to buffer a request run twice.
const MAX_BODY: usize = 1 << 20;

/// Route layer on the V1 REST routes applying the next API fault, if any.
pub(crate) async fn api_faults(
    State(sandbox): State<Sandbox>,
    req: Request,
    next: Next,
) -> Response {
    let body = serde_json::json!({
        "code": -1,
        "message": "[sandbox] injected fault: error_500",
        "response": null,
    });
    apply(sandbox, req, next, body).await
}

/// The same on the V2 REST routes (one fault list for both faces), failing with V2's
/// error body.
pub(crate) async fn v2_api_faults(
    State(sandbox): State<Sandbox>,
    req: Request,
    next: Next,
) -> Response {
    let body = serde_json::json!({
        "type": "INTERNAL_SERVER_ERROR",
        "message": "[sandbox] injected fault: error_500",
    });
    apply(sandbox, req, next, body).await
}

async fn apply(
    sandbox: Sandbox,
    req: Request,
    next: Next,
    error_body: serde_json::Value,
) -> Response {
    let fault = {
        let mut state = sandbox.inner.state();
        state.rest_calls += 1;
        state.take_fault(FaultTarget::Api)
    };
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    tracing::info!(fault.mode = ?fault.mode, path = %req.uri().path(), "portone sandbox fault");
    match fault.mode {
        FaultMode::Error500 => {
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error_body)).into_response()
        }
        FaultMode::Timeout => {
            let response = next.run(req).await;
            tokio::time::sleep(fault.delay()).await;
            response
        }
        FaultMode::Delay => {
            tokio::time::sleep(fault.delay()).await;
            next.run(req).await
        }
        FaultMode::Drop => {
            let _ = next.run(req).await;
            broken_response()
        }
        FaultMode::Duplicate => {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(bytes) => bytes,
                Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            };
            let first = next
                .clone()
                .run(Request::from_parts(
                    parts.clone(),
                    Body::from(bytes.clone()),
                ))
                .await;
            let _ = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            first
        }
    }
}

/// A response whose body fails at once: the server aborts the connection without a
/// complete answer, as a crashed proxy would.
fn broken_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("[sandbox] injected fault: drop"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
