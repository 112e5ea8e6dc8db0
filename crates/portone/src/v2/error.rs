//! V2 failures: the gateway's typed refusals (`{type, message}`) as variants the service can
//! match, and the transport failures, each saying whether the gateway may have acted.

/// A failed V2 call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum V2Error {
    /// `PAYMENT_NOT_FOUND` (404).
    #[error("payment not found: {message}")]
    NotFound { message: String },
    /// `PAYMENT_ALREADY_CANCELLED` (409).
    #[error("payment already cancelled: {message}")]
    AlreadyCancelled { message: String },
    /// `CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN` (409): `currentCancellableAmount` differs
    /// from the gateway's, so another cancel happened since the caller read the payment.
    #[error("cancellable amount differs: {message}")]
    CancellableAmountConsistencyBroken { message: String },
    /// `CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT` (409).
    #[error("cancel amount exceeds cancellable amount: {message}")]
    CancelAmountExceeds { message: String },
    /// `PAYMENT_NOT_PAID` (409): a cancel or escrow call on a payment not paid.
    #[error("payment not paid: {message}")]
    NotPaid { message: String },
    /// `PAYMENT_NOT_WAITING_FOR_DEPOSIT` (409): closing a virtual account not awaiting one.
    #[error("payment not waiting for deposit: {message}")]
    NotWaitingForDeposit { message: String },
    /// `UNAUTHORIZED` (401): a wrong API secret.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// `FORBIDDEN` (403).
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// `INVALID_REQUEST` (400).
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
    /// `PG_PROVIDER` (502): the PG behind the gateway failed or refused.
    #[error("PG provider error {pg_code}: {pg_message} ({message})")]
    PgProvider {
        message: String,
        pg_code: String,
        pg_message: String,
    },
    /// Another typed refusal (`MAX_CANCEL_COUNT_REACHED`, the tax amount errors, ...).
    #[error("gateway refused (HTTP {status}, {kind}): {message}")]
    Other {
        status: u16,
        kind: String,
        message: String,
    },
    /// HTTP 5xx without a typed body: the gateway failed somewhere.
    #[error("gateway error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// No complete answer within the configured timeout.
    #[error("gateway call timed out")]
    Timeout,
    /// Could not open a connection: the request never left this process.
    #[error("cannot connect to gateway: {0}")]
    Connect(#[source] reqwest::Error),
    /// The connection broke after the request was sent.
    #[error("connection to gateway broke: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is neither the expected object nor `{type, message}`.
    #[error("malformed gateway answer (HTTP {status}): {detail}")]
    Malformed { status: u16, detail: String },
    /// Refused before sending (a bad base URL, an unencodable body).
    #[error("cannot build request: {0}")]
    Local(String),
}

impl V2Error {
    /// `true` when the gateway did NOT carry out the request; `false` when it may have (a
    /// timeout, a 5xx, a PG failure, a broken connection, an unreadable answer), so the
    /// caller must re-read the payment before deciding anything.
    pub fn outcome_known(&self) -> bool {
        !matches!(
            self,
            Self::PgProvider { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Malformed { .. }
        )
    }

    /// A stable short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::AlreadyCancelled { .. } => "already_cancelled",
            Self::CancellableAmountConsistencyBroken { .. } => "cancellable_amount_changed",
            Self::CancelAmountExceeds { .. } => "cancel_amount_exceeds",
            Self::NotPaid { .. } => "not_paid",
            Self::NotWaitingForDeposit { .. } => "not_waiting_for_deposit",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::PgProvider { .. } => "pg_provider",
            Self::Other { .. } => "refused",
            Self::Server { .. } => "server_error",
            Self::Timeout => "timeout",
            Self::Connect(_) => "connect",
            Self::Transport(_) => "transport",
            Self::Malformed { .. } => "malformed",
            Self::Local(_) => "local",
        }
    }

    /// The gateway's message, when it sent one.
    pub fn gateway_message(&self) -> Option<&str> {
        match self {
            Self::NotFound { message }
            | Self::AlreadyCancelled { message }
            | Self::CancellableAmountConsistencyBroken { message }
            | Self::CancelAmountExceeds { message }
            | Self::NotPaid { message }
            | Self::NotWaitingForDeposit { message }
            | Self::Unauthorized { message }
            | Self::Forbidden { message }
            | Self::InvalidRequest { message }
            | Self::PgProvider { message, .. }
            | Self::Other { message, .. }
            | Self::Server { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The typed refusal named by the wire `type`.
    pub(crate) fn typed(status: u16, body: ErrorBody) -> Self {
        let message = body.message.unwrap_or_default();
        match body.kind.as_str() {
            "PAYMENT_NOT_FOUND" => Self::NotFound { message },
            "PAYMENT_ALREADY_CANCELLED" => Self::AlreadyCancelled { message },
            "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN" => {
                Self::CancellableAmountConsistencyBroken { message }
            }
            "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT" => Self::CancelAmountExceeds { message },
            "PAYMENT_NOT_PAID" => Self::NotPaid { message },
            "PAYMENT_NOT_WAITING_FOR_DEPOSIT" => Self::NotWaitingForDeposit { message },
            "UNAUTHORIZED" => Self::Unauthorized { message },
            "FORBIDDEN" => Self::Forbidden { message },
            "INVALID_REQUEST" => Self::InvalidRequest { message },
            "PG_PROVIDER" => Self::PgProvider {
                message,
                pg_code: body.pg_code.unwrap_or_default(),
                pg_message: body.pg_message.unwrap_or_default(),
            },
            _ => Self::Other {
                status,
                kind: body.kind,
                message,
            },
        }
    }

    /// Sort a reqwest failure into connect / timeout / transport.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_connect() {
            Self::Connect(err)
        } else if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(err)
        }
    }
}

/// Every V2 error body: `{type, message}`, plus `pgCode`/`pgMessage` for `PG_PROVIDER`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub pg_code: Option<String>,
    #[serde(default)]
    pub pg_message: Option<String>,
}
