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
    /// The V2 face's API secret (`Authorization: PortOne <secret>`), the only one accepted.
    pub api_secret: String,
    /// The V2 store the secret acts for; a call naming another `storeId` is forbidden.
    pub store_id: String,
    /// The V2 `merchantId` payments carry.
    pub merchant_id: String,
    /// Signs V2 webhooks (Standard Webhooks; `whsec_` + base64).
    pub webhook_secret: String,
    /// Pauses before each V2 webhook retry (gateway: 1, 4, 16, 64, 256 minutes).
    pub v2_webhook_retries: Vec<Duration>,
    /// How long a V2 virtual account's refund stays `PENDING` after its cancel.
    pub vbank_refund_delay: Duration,
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

    /// The same with the V2 face's credentials: API secret, store id, webhook secret.
    pub fn with_v2(
        mut self,
        api_secret: impl Into<String>,
        store_id: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        self.api_secret = api_secret.into();
        self.store_id = store_id.into();
        self.webhook_secret = webhook_secret.into();
        self
    }

    /// The same with every waiting time the gateway imposes (webhook retries, V2 refunds)
    /// multiplied by `scale`: `0.001` turns the V2 one-minute retry into 60 ms, for tests.
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        let scaled = |d: Duration| d.mul_f64(scale.clamp(0.0, 1.0e6));
        self.webhook_retry_base = scaled(self.webhook_retry_base);
        self.v2_webhook_retries = self
            .v2_webhook_retries
            .iter()
            .copied()
            .map(scaled)
            .collect();
        self.vbank_refund_delay = scaled(self.vbank_refund_delay);
        self
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
            api_secret: "sandbox-v2-secret".into(),
            store_id: "store-00000000-0000-0000-0000-000000000000".into(),
            merchant_id: "merchant-00000000-0000-0000-0000-000000000000".into(),
            webhook_secret: "whsec_ZXNjcm93LXNhbmRib3gtd2ViaG9vay1zZWNyZXQ=".into(),
            v2_webhook_retries: [1, 4, 16, 64, 256]
                .map(|m| Duration::from_secs(m * 60))
                .to_vec(),
            vbank_refund_delay: Duration::from_secs(5),
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
            .field("api_secret", &"<redacted>")
            .field("store_id", &self.store_id)
            .field("webhook_secret", &"<redacted>")
            .field("v2_webhook_retries", &self.v2_webhook_retries)
            .field("vbank_refund_delay", &self.vbank_refund_delay)
            .finish_non_exhaustive()
    }
}
