//! Every way a gateway call can end badly, and whether the gateway may have acted anyway.

/// A failed PortOne call.
///
/// [`PortOneError::outcome_known`] tells the caller whether it may assume nothing happened
/// (safe to report failure or try again) or must re-read the gateway's state first (the
/// request may have been carried out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortOneError {
    /// The gateway answered and refused (`code != 0`, or HTTP 400/409...): nothing was done.
    #[error("gateway refused (HTTP {status}, code {code}): {message}")]
    Refused {
        status: u16,
        code: i64,
        message: String,
    },
    /// HTTP 401: bad API credentials, or a token the gateway no longer accepts.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// HTTP 404: no such payment, preparation or delivery.
    #[error("not found: {message}")]
    NotFound { message: String },
    /// HTTP 5xx: the gateway failed somewhere; it may or may not have acted.
    #[error("gateway error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// No complete answer within the configured timeout; the request may have been acted on.
    #[error("gateway call timed out")]
    Timeout,
    /// Could not open a connection: the request never left this process.
    #[error("cannot connect to gateway: {0}")]
    Connect(#[source] reqwest::Error),
    /// The connection broke after the request was sent (reset, closed without an answer).
    #[error("connection to gateway broke: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not the V1 envelope (proxy error page, truncated or unexpected JSON).
    #[error("malformed gateway answer (HTTP {status}): {detail}")]
    Malformed { status: u16, detail: String },
    /// No access token could be obtained, so the call itself was never sent.
    #[error("cannot obtain access token: {0}")]
    Token(#[source] Box<PortOneError>),
    /// The request was refused locally before sending (e.g. neither imp_uid nor merchant_uid).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl PortOneError {
    /// `true` when we know the gateway did NOT carry out the request; `false` when it may
    /// have (timeouts, 5xx, broken connections, unreadable answers), so the caller must
    /// re-read the payment before deciding anything.
    pub fn outcome_known(&self) -> bool {
        match self {
            Self::Refused { .. }
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Connect(_)
            | Self::Token(_)
            | Self::InvalidRequest(_) => true,
            Self::Server { .. } | Self::Timeout | Self::Transport(_) | Self::Malformed { .. } => {
                false
            }
        }
    }

    /// A stable short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused { .. } => "refused",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::Server { .. } => "server_error",
            Self::Timeout => "timeout",
            Self::Connect(_) => "connect",
            Self::Transport(_) => "transport",
            Self::Malformed { .. } => "malformed",
            Self::Token(_) => "token",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }

    /// The gateway's message for refusals and HTTP errors, if it sent one.
    pub fn gateway_message(&self) -> Option<&str> {
        match self {
            Self::Refused { message, .. }
            | Self::Unauthorized { message }
            | Self::NotFound { message }
            | Self::Server { message, .. } => Some(message),
            _ => None,
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
