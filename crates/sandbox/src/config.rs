//! Sandbox settings: the API credentials it accepts and its timing knobs.

use std::fmt;
use std::time::Duration;

/// How webhooks are encoded; the real gateway uses either, receivers must accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookEncoding {
    #[default]
    Json,
    Form,
}

/// Settings for [`crate::Sandbox`]. `Default` gives the gateway's real timings except
/// for webhook retries (5 s base instead of a minute, so demos do not stall).
#[derive(Clone)]
pub struct SandboxConfig {
    /// REST API key and secret accepted by `/users/getToken`.
    pub imp_key: String,
    pub imp_secret: String,
    /// Merchant identification code expected by `IMP.init`.
    pub imp_code: String,
    /// `pg_provider` of payments whose checkout did not name a PG.
    pub pg_provider: String,
    /// Lifetime of a new access token (gateway: 30 min).
    pub token_ttl: Duration,
    /// Asking for a token within this much of its expiry extends it (gateway: 1 min)...
    pub token_renew_window: Duration,
    /// ...by this much (gateway: 5 min).
    pub token_extension: Duration,
    /// Delivery attempts per webhook, including the first (gateway: up to 5).
    pub webhook_max_attempts: u32,
    /// Pause before the second attempt; doubled for each further one.
    pub webhook_retry_base: Duration,
    pub webhook_connect_timeout: Duration,
    /// Whole-request limit for one delivery (gateway: 10 s connect, 30 s read).
    pub webhook_timeout: Duration,
    /// Notify cancellations by webhook (an option in the gateway's console).
    pub webhook_on_cancel: bool,
    pub webhook_encoding: WebhookEncoding,
}

impl SandboxConfig {
    /// Defaults with these credentials.
    pub fn new(
        imp_key: impl Into<String>,
        imp_secret: impl Into<String>,
        imp_code: impl Into<String>,
    ) -> Self {
        Self {
            imp_key: imp_key.into(),
            imp_secret: imp_secret.into(),
            imp_code: imp_code.into(),
            ..Self::default()
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            imp_key: "sandbox_imp_key".into(),
            imp_secret: "sandbox_imp_secret".into(),
            imp_code: "imp00000000".into(),
            pg_provider: "html5_inicis".into(),
            token_ttl: Duration::from_secs(30 * 60),
            token_renew_window: Duration::from_secs(60),
            token_extension: Duration::from_secs(5 * 60),
            webhook_max_attempts: 5,
            webhook_retry_base: Duration::from_secs(5),
            webhook_connect_timeout: Duration::from_secs(10),
            webhook_timeout: Duration::from_secs(30),
            webhook_on_cancel: true,
            webhook_encoding: WebhookEncoding::Json,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("imp_key", &self.imp_key)
            .field("imp_secret", &"<redacted>")
            .field("imp_code", &self.imp_code)
            .field("pg_provider", &self.pg_provider)
            .field("token_ttl", &self.token_ttl)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_retry_base", &self.webhook_retry_base)
            .field("webhook_on_cancel", &self.webhook_on_cancel)
            .field("webhook_encoding", &self.webhook_encoding)
            .finish_non_exhaustive()
    }
}
