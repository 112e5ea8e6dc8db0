//! Access tokens: issued, extended near their expiry, checked.

use super::{hex, State};
use crate::clock::now_ms;
use crate::config::SandboxConfig;

impl State {
    /// `/users/getToken`: same token while valid, extended in its last window, a new one
    /// after expiry. Returns (token, now s, expired_at s).
    pub(crate) fn issue_token(&mut self, cfg: &SandboxConfig) -> (String, i64, i64) {
        let now = now_ms();
        self.token_requests += 1;
        self.tokens.retain(|_, exp| *exp > now);
        let window = i64::try_from(cfg.token_renew_window.as_millis()).unwrap_or(i64::MAX);
        let extension = i64::try_from(cfg.token_extension.as_millis()).unwrap_or(i64::MAX);
        if let Some(token) = self.current_token.clone() {
            if let Some(exp) = self.tokens.get_mut(&token) {
                if *exp - now <= window {
                    *exp = exp.saturating_add(extension);
                }
                return (token, now / 1000, *exp / 1000);
            }
        }
        let token = hex(40);
        let ttl = i64::try_from(cfg.token_ttl.as_millis()).unwrap_or(i64::MAX);
        let exp = now.saturating_add(ttl);
        self.tokens.insert(token.clone(), exp);
        self.current_token = Some(token.clone());
        self.tokens_issued += 1;
        (token, now / 1000, exp / 1000)
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|exp| *exp > now_ms())
    }

    /// Test control: every issued token expires now.
    pub(crate) fn expire_tokens(&mut self) {
        self.tokens.clear();
        self.current_token = None;
    }
}
