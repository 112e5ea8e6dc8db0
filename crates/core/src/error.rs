//! The one error type of the service, with the stable machine codes of the contract.
//! The HTTP layer maps each code to a status in one place.

use escrow_domain::{FieldError, FieldErrors};
use escrow_store::{DbErrorKind, StoreError};

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// The request could not be read at all (malformed JSON, wrong content type, bad query).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("the e-mail or password is wrong")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this e-mail address is already registered")]
    EmailTaken,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InsufficientStock(String),
    /// The order would leave the buyer holding more unpaid units than allowed.
    #[error("{0}")]
    UnpaidLimit(String),
    #[error("{0}")]
    AmountMismatch(String),
    /// A transition the current state does not allow.
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    RefundExceedsBalance(String),
    /// A release while a refund is being asked of the gateway.
    #[error("{0}")]
    RefundInProgress(String),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// Never re-run, even when its instance died: what it did is unknown, and running it
    /// again could move money twice.
    #[error(
        "a request with this Idempotency-Key is still being handled, or never finished; \
         check what it was for and send a new key to try again"
    )]
    IdempotencyKeyInFlight,
    /// The payment gateway failed or did not answer; nothing was recorded.
    #[error("the payment gateway failed: {0}")]
    Gateway(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The database (or another dependency) is unreachable: retry later.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable(String),
    /// A bug or an unexpected failure: the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The stable machine code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized(_) => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::EmailTaken => "email_taken",
            AppError::Conflict(_) => "conflict",
            AppError::InsufficientStock(_) => "insufficient_stock",
            AppError::UnpaidLimit(_) => "unpaid_limit",
            AppError::AmountMismatch(_) => "amount_mismatch",
            AppError::InvalidState(_) => "invalid_state",
            AppError::RefundExceedsBalance(_) => "refund_exceeds_balance",
            AppError::RefundInProgress(_) => "refund_in_progress",
            AppError::IdempotencyKeyReused => "idempotency_key_reused",
            AppError::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            AppError::Gateway(_) => "gateway_error",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::Unavailable(_) => "service_unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        AppError::Internal(format!("{context}: {err}"))
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors.into_vec())
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err.kind() {
            DbErrorKind::Unavailable => AppError::Unavailable(err.to_string()),
            DbErrorKind::Conflict => {
                AppError::Conflict("a concurrent change won; please retry".to_string())
            }
            _ => AppError::Internal(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::from(StoreError::from(err))
    }
}
