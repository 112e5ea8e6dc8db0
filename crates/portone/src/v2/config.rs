//! V2 client settings: gateway address, API secret, store and timing knobs.

use std::fmt;
use std::time::Duration;

/// Settings for [`super::PortOneV2Client`]. `api_secret` is never printed by `Debug`.
#[derive(Clone)]
pub struct V2Config {
    /// Gateway base URL: `https://api.portone.io`, or `http://host/sandbox/portone-v2`.
    pub base_url: String,
    /// Sent as `Authorization: PortOne <secret>`.
    pub api_secret: String,
    /// Sent as `storeId` (query or body, where V2 takes it) when set: needed only when the
    /// secret may act for several stores.
    pub store_id: Option<String>,
    /// Whole-request timeout (connect, send, read) applied to every call.
    pub timeout: Duration,
    /// Extra attempts for reads after a timeout, 5xx or transport failure.
    pub get_retries: u32,
    /// First back-off between read retries; doubled on each further retry.
    pub retry_backoff: Duration,
}

impl V2Config {
    /// Settings with the defaults: 10 s timeout, 2 read retries from 100 ms, no store id.
    pub fn new(base_url: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_secret: api_secret.into(),
            store_id: None,
            timeout: Duration::from_secs(10),
            get_retries: 2,
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// Same settings acting for `store_id`.
    pub fn with_store_id(mut self, store_id: impl Into<String>) -> Self {
        self.store_id = Some(store_id.into());
        self
    }

    /// Same settings with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for V2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2Config")
            .field("base_url", &self.base_url)
            .field("api_secret", &"<redacted>")
            .field("store_id", &self.store_id)
            .field("timeout", &self.timeout)
            .field("get_retries", &self.get_retries)
            .field("retry_backoff", &self.retry_backoff)
            .finish()
    }
}
