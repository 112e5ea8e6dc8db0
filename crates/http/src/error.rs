//! Every error leaves as `application/problem+json` (RFC 9457) with the contract's stable
//! `code`, and `success: false` / `message` for the seed's clients. Internal detail is logged,
//! never sent. Codes map to statuses here and nowhere else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use escrow_core::AppError;
use escrow_domain::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code, e.g. `validation_failed`.
    pub code: String,
    /// Always false.
    pub success: bool,
    /// The same as `detail`.
    pub message: String,
    /// Field errors, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorBody>)]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

/// The error type every handler returns.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        ApiError(err)
    }
}

/// The status of a machine code: the one table of it.
pub fn status_of(code: &str) -> StatusCode {
    match code {
        "validation_failed" | "idempotency_key_reused" => StatusCode::UNPROCESSABLE_ENTITY,
        "unauthorized" | "invalid_credentials" => StatusCode::UNAUTHORIZED,
        "forbidden" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "email_taken"
        | "conflict"
        | "insufficient_stock"
        | "unpaid_limit"
        | "amount_mismatch"
        | "invalid_state"
        | "refund_exceeds_balance"
        | "refund_in_progress"
        | "idempotency_key_in_flight" => StatusCode::CONFLICT,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        "request_timeout" => StatusCode::REQUEST_TIMEOUT,
        "gateway_error" => StatusCode::BAD_GATEWAY,
        "service_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "internal_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Builds the problem+json response for a code and a human detail.
pub fn problem_response(code: &str, detail: String, errors: Vec<FieldError>) -> Response {
    let status = status_of(code);
    let problem = Problem {
        problem_type: format!("/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        message: detail.clone(),
        detail,
        code: code.to_string(),
        success: false,
        errors,
    };
    let mut response = (status, axum::Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let code = err.code();
        let detail = match &err {
            AppError::Internal(inner) => {
                tracing::error!(error = %inner, "internal error");
                "the service failed to handle this request; it has been logged".to_string()
            }
            AppError::Unavailable(inner) => {
                tracing::warn!(error = %inner, "dependency unavailable");
                err.to_string()
            }
            AppError::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid fields: {}", fields.join(", "))
            }
            _ => err.to_string(),
        };
        let retry_after = match &err {
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            AppError::Unavailable(_) => Some(1),
            _ => None,
        };
        let errors = match err {
            AppError::Validation(errors) => errors,
            _ => Vec::new(),
        };
        let mut response = problem_response(code, detail, errors);
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if code == "unauthorized" {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
