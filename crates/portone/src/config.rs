//! Client settings: gateway address, API credentials and timing knobs.

use std::fmt;
use std::time::Duration;

/// Settings for [`crate::PortOneClient`]. `imp_secret` is never printed by `Debug`.
#[derive(Clone)]
pub struct ClientConfig {
    /// Gateway base URL, e.g. `https://api.iamport.kr` or `http://host/sandbox/portone`.
    pub base_url: String,
    pub imp_key: String,
    pub imp_secret: String,
    /// Whole-request timeout (connect, send, read) applied to every call.
    pub timeout: Duration,
    /// Renew the cached token this long before the gateway says it expires. The gateway
    /// extends a token asked for in its last minute, so 60 s keeps one token alive.
    pub token_refresh_margin: Duration,
    /// Extra attempts for idempotent GETs after a timeout, 5xx or transport failure.
    pub get_retries: u32,
    /// First back-off between GET retries; doubled on each further retry.
    pub retry_backoff: Duration,
}

impl ClientConfig {
    /// Settings with the defaults: 10 s timeout, 60 s token margin, 2 GET retries from 100 ms.
    pub fn new(
        base_url: impl Into<String>,
        imp_key: impl Into<String>,
        imp_secret: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            imp_key: imp_key.into(),
            imp_secret: imp_secret.into(),
            timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(60),
            get_retries: 2,
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// Same settings with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("imp_key", &self.imp_key)
            .field("imp_secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .field("get_retries", &self.get_retries)
            .field("retry_backoff", &self.retry_backoff)
            .finish()
    }
}
