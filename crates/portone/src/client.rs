//! The [`PortOne`] trait and its HTTP implementation: token cache, envelope decoding,
//! error classification and the per-call retry policy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::error::PortOneError;
use crate::types::{
    AccessToken, CancelRequest, Envelope, EscrowLogis, EscrowLogisRecord, Payment,
    PaymentListQuery, PaymentPage, Prepared, VbankRequest,
};

/// The most imp_uids one `GET /payments` may name.
const MAX_BATCH_IDS: usize = 100;

/// The PortOne V1 calls the service makes. Object safe: hold it as `Arc<dyn PortOne>`.
#[async_trait]
pub trait PortOne: Send + Sync {
    /// `GET /payments/{imp_uid}`.
    async fn get_payment(&self, imp_uid: &str) -> Result<Payment, PortOneError>;
    /// `GET /payments/find/{merchant_uid}`: the latest payment for that order.
    async fn find_payment(&self, merchant_uid: &str) -> Result<Payment, PortOneError>;
    /// `GET /payments/status/{payment_status}`: one page of the payments in `query.status`
    /// whose status time (see [`crate::StatusFilter`]) is within `from..=to`, in
    /// `query.sorting` order. Follow [`PaymentPage::next_page`] for the rest.
    async fn list_payments(&self, query: &PaymentListQuery) -> Result<PaymentPage, PortOneError>;
    /// `GET /payments?imp_uid[]=..`: the payments among `imp_uids` that the gateway has,
    /// each once, in no promised order; unknown ids are simply absent (nothing found is an
    /// empty list, not an error). Any number of ids: sent 100 to a request.
    async fn get_payments(&self, imp_uids: &[String]) -> Result<Vec<Payment>, PortOneError>;
    /// `POST /payments/prepare`: pre-register the amount the browser must pay.
    async fn prepare(&self, merchant_uid: &str, amount: i64) -> Result<Prepared, PortOneError>;
    /// `GET /payments/prepare/{merchant_uid}`.
    async fn get_prepared(&self, merchant_uid: &str) -> Result<Prepared, PortOneError>;
    /// `POST /payments/cancel`, full or partial. Never retried here: on an unknown outcome
    /// the caller re-reads the payment, or repeats with the same `checksum`.
    async fn cancel(&self, request: &CancelRequest) -> Result<Payment, PortOneError>;
    /// `POST /escrows/logis/{imp_uid}`: register the delivery of a paid escrow payment.
    async fn register_escrow_logis(
        &self,
        imp_uid: &str,
        logis: &EscrowLogis,
    ) -> Result<EscrowLogisRecord, PortOneError>;
    /// `PUT /escrows/logis/{imp_uid}`: change a registered delivery.
    async fn update_escrow_logis(
        &self,
        imp_uid: &str,
        logis: &EscrowLogis,
    ) -> Result<EscrowLogisRecord, PortOneError>;
    /// `GET /escrows/logis/{imp_uid}`.
    async fn get_escrow_logis(&self, imp_uid: &str) -> Result<EscrowLogisRecord, PortOneError>;
    /// `POST /vbanks`: issue a virtual account by REST.
    async fn issue_vbank(&self, request: &VbankRequest) -> Result<Payment, PortOneError>;
    /// `DELETE /vbanks/{imp_uid}`: revoke an account that has had no deposit (refused
    /// unless the payment is `ready`), so that a late transfer is refused; the payment
    /// becomes `cancelled`.
    async fn revoke_vbank(&self, imp_uid: &str) -> Result<Payment, PortOneError>;
    /// Health check: succeeds when a valid access token can be had (credentials and
    /// reachability); uses the cached token when there is one.
    async fn ping(&self) -> Result<(), PortOneError>;
}

/// When a failed attempt may be repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Idempotent reads: retry timeouts, 5xx and broken connections.
    Idempotent,
    /// Writes that must not happen twice: retry only when the request was never sent.
    ConnectOnly,
    /// Never (cancel: the caller decides, using the checksum).
    Never,
}

struct CachedToken {
    token: String,
    /// When to ask for a new one, on our monotonic clock (so local clock skew is moot).
    refresh_at: Instant,
}

/// PortOne V1 over HTTPS (reqwest + rustls), with a shared access-token cache.
/// Cheap to clone; clones share the cache and connection pool.
#[derive(Clone)]
pub struct PortOneClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    config: ClientConfig,
    /// One lock for read and refresh: concurrent callers wait for a single refresh.
    token: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for PortOneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortOneClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PortOneClient {
    /// Build a client. Fails on an unusable base URL or TLS setup.
    pub fn new(config: ClientConfig) -> Result<Self, PortOneError> {
        let base = Url::parse(&config.base_url)
            .map_err(|e| PortOneError::InvalidRequest(format!("base_url: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(PortOneError::InvalidRequest(format!(
                "base_url must be an http(s) URL, got {}",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("escrow-portone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PortOneError::InvalidRequest(format!("http client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                config,
                token: Mutex::new(None),
            }),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, PortOneError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| PortOneError::InvalidRequest("base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A valid access token, from the cache or freshly issued.
    async fn token(&self) -> Result<String, PortOneError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(cached) = slot.as_ref() {
            if Instant::now() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let issued = self.fetch_token().await.map_err(|e| match e {
            PortOneError::Unauthorized { .. } => e,
            other => PortOneError::Token(Box::new(other)),
        })?;
        // Lifetime as the gateway sees it (`expired_at - now`), anchored on our clock.
        let lifetime =
            Duration::from_secs(u64::try_from(issued.expired_at - issued.now).unwrap_or(0));
        let margin = self.inner.config.token_refresh_margin.min(lifetime / 2);
        *slot = Some(CachedToken {
            token: issued.access_token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        tracing::debug!(
            token.lifetime_s = lifetime.as_secs(),
            "portone token issued"
        );
        Ok(issued.access_token)
    }

    async fn fetch_token(&self) -> Result<AccessToken, PortOneError> {
        #[derive(Serialize)]
        struct Body<'a> {
            imp_key: &'a str,
            imp_secret: &'a str,
        }
        let body = Body {
            imp_key: &self.inner.config.imp_key,
            imp_secret: &self.inner.config.imp_secret,
        };
        let request = self
            .inner
            .http
            .post(self.url(&["users", "getToken"])?)
            .json(&body);
        self.send(request).await
    }

    /// Forget `token` after a 401, unless another task already replaced it.
    async fn drop_token(&self, token: &str) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|c| c.token == token) {
            *slot = None;
        }
    }

    /// One authenticated call to `segments` under the base URL.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<serde_json::Value>,
        retry: Retry,
    ) -> Result<T, PortOneError> {
        self.call_url(method, self.url(segments)?, body, retry)
            .await
    }

    /// One authenticated call with the 401 re-login and the retry policy applied.
    async fn call_url<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        retry: Retry,
    ) -> Result<T, PortOneError> {
        let max_retries = match retry {
            Retry::Idempotent | Retry::ConnectOnly => self.inner.config.get_retries,
            Retry::Never => 0,
        };
        let mut retries = 0;
        let mut reauthorized = false;
        loop {
            let token = self.token().await?;
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::AUTHORIZATION, &token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let result = self.send::<T>(request).await;
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            // A 401 means the call was not carried out: log in again and repeat it once.
            if matches!(err, PortOneError::Unauthorized { .. }) && !reauthorized {
                reauthorized = true;
                self.drop_token(&token).await;
                continue;
            }
            let retryable = match retry {
                Retry::Idempotent => matches!(
                    err,
                    PortOneError::Timeout
                        | PortOneError::Server { .. }
                        | PortOneError::Connect(_)
                        | PortOneError::Transport(_)
                ),
                Retry::ConnectOnly => matches!(err, PortOneError::Connect(_)),
                Retry::Never => false,
            };
            if !retryable || retries >= max_retries {
                tracing::warn!(
                    portone.path = url.path(),
                    error.kind = err.kind(),
                    error.outcome_known = err.outcome_known(),
                    "portone call failed"
                );
                return Err(err);
            }
            let backoff = self.inner.config.retry_backoff * 2u32.saturating_pow(retries);
            retries += 1;
            tracing::info!(
                portone.path = url.path(),
                error.kind = err.kind(),
                retry = retries,
                "portone call failed, retrying"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// Send once and decode the envelope, sorting every failure into [`PortOneError`].
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, PortOneError> {
        let response = request.send().await.map_err(PortOneError::from_reqwest)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(PortOneError::from_reqwest)?;
        decode(status, &bytes)
    }
}

/// Turn a status and body into the payload or the matching error.
fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, PortOneError> {
    let envelope: Result<Envelope<serde_json::Value>, _> = serde_json::from_slice(bytes);
    let message = |env: &Result<Envelope<serde_json::Value>, serde_json::Error>| match env {
        Ok(e) => e.message.clone().unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
    };
    let code = status.as_u16();
    if status == StatusCode::UNAUTHORIZED {
        return Err(PortOneError::Unauthorized {
            message: message(&envelope),
        });
    }
    if status == StatusCode::NOT_FOUND {
        // A 404 without the envelope is a proxy or a wrong base URL, not "no such payment".
        return match envelope {
            Ok(e) => Err(PortOneError::NotFound {
                message: e.message.unwrap_or_default(),
            }),
            Err(err) => Err(PortOneError::Malformed {
                status: code,
                detail: format!("404 without V1 envelope: {err}"),
            }),
        };
    }
    if status.is_server_error() {
        return Err(PortOneError::Server {
            status: code,
            message: message(&envelope),
        });
    }
    let envelope = envelope.map_err(|err| PortOneError::Malformed {
        status: code,
        detail: err.to_string(),
    })?;
    if envelope.code != 0 || !status.is_success() {
        return Err(PortOneError::Refused {
            status: code,
            code: envelope.code,
            message: envelope.message.unwrap_or_default(),
        });
    }
    let response = envelope.response.ok_or_else(|| PortOneError::Malformed {
        status: code,
        detail: "success without a response".into(),
    })?;
    serde_json::from_value(response).map_err(|err| PortOneError::Malformed {
        status: code,
        detail: err.to_string(),
    })
}

/// A request body as JSON, so `call` stays non-generic over body types.
fn json_body<T: Serialize>(body: &T) -> Result<Option<serde_json::Value>, PortOneError> {
    serde_json::to_value(body)
        .map(Some)
        .map_err(|e| PortOneError::InvalidRequest(e.to_string()))
}

#[async_trait]
impl PortOne for PortOneClient {
    async fn get_payment(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        self.call(Method::GET, &["payments", imp_uid], None, Retry::Idempotent)
            .await
    }

    async fn find_payment(&self, merchant_uid: &str) -> Result<Payment, PortOneError> {
        self.call(
            Method::GET,
            &["payments", "find", merchant_uid],
            None,
            Retry::Idempotent,
        )
        .await
    }

    async fn list_payments(&self, query: &PaymentListQuery) -> Result<PaymentPage, PortOneError> {
        let mut url = self.url(&["payments", "status", query.status.as_str()])?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("page", &query.page.to_string())
                .append_pair("limit", &query.limit.to_string())
                .append_pair("sorting", query.sorting.as_str());
            if let Some(from) = query.from {
                pairs.append_pair("from", &from.to_string());
            }
            if let Some(to) = query.to {
                pairs.append_pair("to", &to.to_string());
            }
        }
        self.call_url(Method::GET, url, None, Retry::Idempotent)
            .await
    }

    async fn get_payments(&self, imp_uids: &[String]) -> Result<Vec<Payment>, PortOneError> {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&String> = imp_uids.iter().filter(|id| seen.insert(*id)).collect();
        let mut found = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(MAX_BATCH_IDS) {
            let mut url = self.url(&["payments"])?;
            url.query_pairs_mut()
                .extend_pairs(chunk.iter().map(|id| ("imp_uid[]", id.as_str())));
            // 207 (some unknown) carries the ones found; 404 means none of them exists.
            match self
                .call_url::<Vec<Payment>>(Method::GET, url, None, Retry::Idempotent)
                .await
            {
                Ok(payments) => found.extend(payments),
                Err(PortOneError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(found)
    }

    async fn prepare(&self, merchant_uid: &str, amount: i64) -> Result<Prepared, PortOneError> {
        let body = serde_json::json!({ "merchant_uid": merchant_uid, "amount": amount });
        self.call(
            Method::POST,
            &["payments", "prepare"],
            json_body(&body)?,
            Retry::ConnectOnly,
        )
        .await
    }

    async fn get_prepared(&self, merchant_uid: &str) -> Result<Prepared, PortOneError> {
        self.call(
            Method::GET,
            &["payments", "prepare", merchant_uid],
            None,
            Retry::Idempotent,
        )
        .await
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<Payment, PortOneError> {
        if request.imp_uid.is_none() && request.merchant_uid.is_none() {
            return Err(PortOneError::InvalidRequest(
                "cancel needs imp_uid or merchant_uid".into(),
            ));
        }
        self.call(
            Method::POST,
            &["payments", "cancel"],
            json_body(request)?,
            Retry::Never,
        )
        .await
    }

    async fn register_escrow_logis(
        &self,
        imp_uid: &str,
        logis: &EscrowLogis,
    ) -> Result<EscrowLogisRecord, PortOneError> {
        // A repeated POST is refused with 409, so a retry cannot register twice; still,
        // only a never-sent request is retried so the caller sees the first outcome.
        self.call(
            Method::POST,
            &["escrows", "logis", imp_uid],
            json_body(logis)?,
            Retry::ConnectOnly,
        )
        .await
    }

    async fn update_escrow_logis(
        &self,
        imp_uid: &str,
        logis: &EscrowLogis,
    ) -> Result<EscrowLogisRecord, PortOneError> {
        // PUT sends the whole record, so repeating it is harmless.
        self.call(
            Method::PUT,
            &["escrows", "logis", imp_uid],
            json_body(logis)?,
            Retry::Idempotent,
        )
        .await
    }

    async fn get_escrow_logis(&self, imp_uid: &str) -> Result<EscrowLogisRecord, PortOneError> {
        self.call(
            Method::GET,
            &["escrows", "logis", imp_uid],
            None,
            Retry::Idempotent,
        )
        .await
    }

    async fn issue_vbank(&self, request: &VbankRequest) -> Result<Payment, PortOneError> {
        // A second issue would be a second account: only a never-sent request is retried.
        self.call(
            Method::POST,
            &["vbanks"],
            json_body(request)?,
            Retry::ConnectOnly,
        )
        .await
    }

    async fn revoke_vbank(&self, imp_uid: &str) -> Result<Payment, PortOneError> {
        // A repeat after a lost answer is refused (no longer `ready`): the caller re-reads
        // the payment instead, so only a never-sent request is retried.
        self.call(
            Method::DELETE,
            &["vbanks", imp_uid],
            None,
            Retry::ConnectOnly,
        )
        .await
    }

    async fn ping(&self) -> Result<(), PortOneError> {
        self.token().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_json_500_is_server_error_with_unknown_outcome() {
        let err = decode::<Payment>(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>")
            .err()
            .map(|e| (e.kind(), e.outcome_known()));
        assert_eq!(err, Some(("server_error", false)));
    }

    #[test]
    fn non_json_200_is_malformed() {
        let err = decode::<Payment>(StatusCode::OK, b"<html>").err();
        assert!(matches!(err, Some(PortOneError::Malformed { .. })));
    }

    #[test]
    fn code_not_zero_with_200_is_refused() {
        let body = br#"{"code":1,"message":"already cancelled","response":null}"#;
        let err = decode::<Payment>(StatusCode::OK, body).err();
        assert!(matches!(err, Some(PortOneError::Refused { code: 1, .. })));
    }
}
