//! The [`PortOneV2`] trait and its HTTP implementation: the `PortOne` secret header,
//! `{type, message}` error decoding and the per-call retry policy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::config::V2Config;
use super::error::{ErrorBody, V2Error};
use super::types::{
    CancelRequest, CancelResponse, CloseVirtualAccountResponse, CursorPage, CursorQuery,
    EscrowCompleteResponse, EscrowLogisticsRequest, EscrowLogisticsResponse, Payment, PaymentsPage,
    PaymentsQuery,
};

/// The PortOne V2 calls the service makes. Object safe: hold it as `Arc<dyn PortOneV2>`.
#[async_trait]
pub trait PortOneV2: Send + Sync {
    /// `GET /payments/{paymentId}`.
    async fn get_payment(&self, payment_id: &str) -> Result<Payment, V2Error>;
    /// `POST /payments/{paymentId}/cancel`, full or partial. Never retried here: on an
    /// unknown outcome the caller re-reads the payment, or repeats with the same
    /// `current_cancellable_amount`, which the gateway refuses once the first one applied.
    async fn cancel(
        &self,
        payment_id: &str,
        request: &CancelRequest,
    ) -> Result<CancelResponse, V2Error>;
    /// `POST /payments/{paymentId}/escrow/logistics`: register the delivery.
    async fn register_escrow_logistics(
        &self,
        payment_id: &str,
        request: &EscrowLogisticsRequest,
    ) -> Result<EscrowLogisticsResponse, V2Error>;
    /// `PATCH /payments/{paymentId}/escrow/logistics`: change the registered delivery.
    async fn modify_escrow_logistics(
        &self,
        payment_id: &str,
        request: &EscrowLogisticsRequest,
    ) -> Result<EscrowLogisticsResponse, V2Error>;
    /// `POST /payments/{paymentId}/escrow/complete`: the purchase is confirmed; `from_store`
    /// says the store (not the buyer at the PG) confirms it.
    async fn complete_escrow(
        &self,
        payment_id: &str,
        from_store: bool,
    ) -> Result<EscrowCompleteResponse, V2Error>;
    /// `POST /payments/{paymentId}/virtual-account/close`: no deposit is accepted after.
    async fn close_virtual_account(
        &self,
        payment_id: &str,
    ) -> Result<CloseVirtualAccountResponse, V2Error>;
    /// `GET /payments`: one page of the payments the filter selects.
    async fn list_payments(&self, query: &PaymentsQuery) -> Result<PaymentsPage, V2Error>;
    /// `GET /payments-by-cursor`: payments created within a window, page after page.
    async fn payments_by_cursor(&self, query: &CursorQuery) -> Result<CursorPage, V2Error>;
    /// Health check: the gateway answers an authenticated call (secret and reachability).
    async fn ping(&self) -> Result<(), V2Error>;
}

/// When a failed attempt may be repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads and whole-record writes: retry timeouts, 5xx and broken connections.
    Idempotent,
    /// Writes that must not happen twice: retry only when the request was never sent.
    ConnectOnly,
    /// Never (cancel: the caller decides, using `currentCancellableAmount`).
    Never,
}

/// PortOne V2 over HTTPS (reqwest + rustls). Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PortOneV2Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `PortOne <secret>`, built once.
    authorization: reqwest::header::HeaderValue,
    config: V2Config,
}

impl std::fmt::Debug for PortOneV2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortOneV2Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PortOneV2Client {
    /// Build a client. Fails on an unusable base URL, secret or TLS setup.
    pub fn new(config: V2Config) -> Result<Self, V2Error> {
        let base =
            Url::parse(&config.base_url).map_err(|e| V2Error::Local(format!("base_url: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(V2Error::Local(format!(
                "base_url must be an http(s) URL, got {}",
                config.base_url
            )));
        }
        let mut authorization =
            reqwest::header::HeaderValue::from_str(&format!("PortOne {}", config.api_secret))
                .map_err(|_| V2Error::Local("api_secret is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("escrow-portone-v2/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| V2Error::Local(format!("http client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                config,
            }),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, V2Error> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| V2Error::Local("base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `/payments/{paymentId}/...rest`, with `?storeId=` when `store_query`.
    fn payment_url(
        &self,
        payment_id: &str,
        rest: &[&str],
        store_query: bool,
    ) -> Result<Url, V2Error> {
        let mut segments = vec!["payments", payment_id];
        segments.extend_from_slice(rest);
        let mut url = self.url(&segments)?;
        if let (true, Some(store)) = (store_query, &self.inner.config.store_id) {
            url.query_pairs_mut().append_pair("storeId", store);
        }
        Ok(url)
    }

    /// `body` as a JSON object with `storeId` added when configured.
    fn with_store(&self, body: Value) -> Value {
        match (body, &self.inner.config.store_id) {
            (Value::Object(mut map), Some(store)) => {
                map.insert("storeId".into(), Value::String(store.clone()));
                Value::Object(map)
            }
            (body, _) => body,
        }
    }

    /// A list call: V2 takes its filter as one `requestBody=<JSON>` query parameter.
    fn query_url(&self, path: &str, body: Value) -> Result<Url, V2Error> {
        let mut url = self.url(&[path])?;
        url.query_pairs_mut()
            .append_pair("requestBody", &body.to_string());
        Ok(url)
    }

    /// One call with the retry policy applied.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<T, V2Error> {
        let max_retries = match retry {
            Retry::Idempotent | Retry::ConnectOnly => self.inner.config.get_retries,
            Retry::Never => 0,
        };
        let mut retries = 0;
        loop {
            let mut request = self.inner.http.request(method.clone(), url.clone()).header(
                reqwest::header::AUTHORIZATION,
                self.inner.authorization.clone(),
            );
            if let Some(body) = &body {
                request = request.json(body);
            }
            let err = match self.send::<T>(request).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let retryable = match retry {
                Retry::Idempotent => matches!(
                    err,
                    V2Error::Timeout
                        | V2Error::Server { .. }
                        | V2Error::Connect(_)
                        | V2Error::Transport(_)
                ),
                Retry::ConnectOnly => matches!(err, V2Error::Connect(_)),
                Retry::Never => false,
            };
            if !retryable || retries >= max_retries {
                tracing::warn!(
                    portone.path = url.path(),
                    error.kind = err.kind(),
                    error.outcome_known = err.outcome_known(),
                    "portone v2 call failed"
                );
                return Err(err);
            }
            let backoff = self.inner.config.retry_backoff * 2u32.saturating_pow(retries);
            retries += 1;
            tracing::info!(
                portone.path = url.path(),
                error.kind = err.kind(),
                retry = retries,
                "portone v2 call failed, retrying"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, V2Error> {
        let response = request.send().await.map_err(V2Error::from_reqwest)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(V2Error::from_reqwest)?;
        decode(status, &bytes)
    }
}

/// Turn a status and body into the answer or the matching error.
pub(crate) fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, V2Error> {
    let code = status.as_u16();
    if status.is_success() {
        return serde_json::from_slice(bytes).map_err(|err| V2Error::Malformed {
            status: code,
            detail: err.to_string(),
        });
    }
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        // A 5xx is the gateway failing whatever it names, except the PG's own refusal.
        if status.is_server_error() && body.kind != "PG_PROVIDER" {
            return Err(V2Error::Server {
                status: code,
                message: body.message.unwrap_or(body.kind),
            });
        }
        return Err(V2Error::typed(code, body));
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    Err(match status {
        s if s.is_server_error() => V2Error::Server {
            status: code,
            message: text,
        },
        // Without `{type}` a 404 is a proxy or a wrong base URL, not "no such payment".
        _ => V2Error::Malformed {
            status: code,
            detail: format!("no V2 error body: {text}"),
        },
    })
}

fn rfc3339(at: OffsetDateTime) -> Value {
    at.format(&Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// `PaymentFilterInput` + `PageInput` as V2 spells them.
fn payments_body(query: &PaymentsQuery, store_id: Option<&str>) -> Value {
    let mut filter = Map::new();
    if let Some(store) = store_id {
        filter.insert("storeId".into(), json!(store));
    }
    if let Some(kind) = query.timestamp_type {
        filter.insert("timestampType".into(), json!(kind));
    }
    if let Some(from) = query.from {
        filter.insert("from".into(), rfc3339(from));
    }
    if let Some(until) = query.until {
        filter.insert("until".into(), rfc3339(until));
    }
    if !query.status.is_empty() {
        filter.insert("status".into(), json!(query.status));
    }
    if let Some(escrow) = query.is_escrow {
        filter.insert("isEscrow".into(), json!(escrow));
    }
    json!({
        "page": { "number": query.page, "size": query.size },
        "filter": filter,
    })
}

/// `GetAllPaymentsByCursorBody` as V2 spells it.
fn cursor_body(query: &CursorQuery, store_id: Option<&str>) -> Value {
    let mut body = Map::new();
    if let Some(store) = store_id {
        body.insert("storeId".into(), json!(store));
    }
    if let Some(from) = query.from {
        body.insert("from".into(), rfc3339(from));
    }
    if let Some(until) = query.until {
        body.insert("until".into(), rfc3339(until));
    }
    if let Some(cursor) = &query.cursor {
        body.insert("cursor".into(), json!(cursor));
    }
    if let Some(size) = query.size {
        body.insert("size".into(), json!(size));
    }
    Value::Object(body)
}

fn to_json<T: serde::Serialize>(body: &T) -> Result<Value, V2Error> {
    serde_json::to_value(body).map_err(|e| V2Error::Local(e.to_string()))
}

#[async_trait]
impl PortOneV2 for PortOneV2Client {
    async fn get_payment(&self, payment_id: &str) -> Result<Payment, V2Error> {
        let url = self.payment_url(payment_id, &[], true)?;
        self.call(Method::GET, url, None, Retry::Idempotent).await
    }

    async fn cancel(
        &self,
        payment_id: &str,
        request: &CancelRequest,
    ) -> Result<CancelResponse, V2Error> {
        let url = self.payment_url(payment_id, &["cancel"], false)?;
        let body = self.with_store(to_json(request)?);
        self.call(Method::POST, url, Some(body), Retry::Never).await
    }

    async fn register_escrow_logistics(
        &self,
        payment_id: &str,
        request: &EscrowLogisticsRequest,
    ) -> Result<EscrowLogisticsResponse, V2Error> {
        let url = self.payment_url(payment_id, &["escrow", "logistics"], false)?;
        let body = self.with_store(to_json(request)?);
        // A second registration is refused, so a retry could only hide the first outcome.
        self.call(Method::POST, url, Some(body), Retry::ConnectOnly)
            .await
    }

    async fn modify_escrow_logistics(
        &self,
        payment_id: &str,
        request: &EscrowLogisticsRequest,
    ) -> Result<EscrowLogisticsResponse, V2Error> {
        let url = self.payment_url(payment_id, &["escrow", "logistics"], false)?;
        let body = self.with_store(to_json(request)?);
        // PATCH sends the whole delivery, so repeating it is harmless.
        self.call(Method::PATCH, url, Some(body), Retry::Idempotent)
            .await
    }

    async fn complete_escrow(
        &self,
        payment_id: &str,
        from_store: bool,
    ) -> Result<EscrowCompleteResponse, V2Error> {
        let url = self.payment_url(payment_id, &["escrow", "complete"], false)?;
        let body = self.with_store(json!({ "fromStore": from_store }));
        self.call(Method::POST, url, Some(body), Retry::ConnectOnly)
            .await
    }

    async fn close_virtual_account(
        &self,
        payment_id: &str,
    ) -> Result<CloseVirtualAccountResponse, V2Error> {
        let url = self.payment_url(payment_id, &["virtual-account", "close"], true)?;
        // A repeat after a lost answer is refused (no longer awaiting a deposit).
        self.call(Method::POST, url, None, Retry::ConnectOnly).await
    }

    async fn list_payments(&self, query: &PaymentsQuery) -> Result<PaymentsPage, V2Error> {
        let body = payments_body(query, self.inner.config.store_id.as_deref());
        let url = self.query_url("payments", body)?;
        self.call(Method::GET, url, None, Retry::Idempotent).await
    }

    async fn payments_by_cursor(&self, query: &CursorQuery) -> Result<CursorPage, V2Error> {
        let body = cursor_body(query, self.inner.config.store_id.as_deref());
        let url = self.query_url("payments-by-cursor", body)?;
        self.call(Method::GET, url, None, Retry::Idempotent).await
    }

    async fn ping(&self) -> Result<(), V2Error> {
        let query = PaymentsQuery {
            size: 1,
            ..PaymentsQuery::default()
        };
        self.list_payments(&query).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_409_is_matched_and_known() {
        let body = br#"{"type":"CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN","message":"x"}"#;
        let err = decode::<Payment>(StatusCode::CONFLICT, body).err();
        assert!(matches!(
            err,
            Some(V2Error::CancellableAmountConsistencyBroken { .. })
        ));
        assert!(err.is_some_and(|e| e.outcome_known()));
    }

    #[test]
    fn pg_provider_outcome_is_unknown() {
        let body = br#"{"type":"PG_PROVIDER","message":"m","pgCode":"E1","pgMessage":"down"}"#;
        let err = decode::<Payment>(StatusCode::BAD_GATEWAY, body).err();
        assert!(matches!(&err, Some(V2Error::PgProvider { pg_code, .. }) if pg_code == "E1"));
        assert!(err.is_some_and(|e| !e.outcome_known()));
    }

    #[test]
    fn untyped_404_is_malformed_not_not_found() {
        let err = decode::<Payment>(StatusCode::NOT_FOUND, b"<html>").err();
        assert!(matches!(err, Some(V2Error::Malformed { status: 404, .. })));
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let client = PortOneV2Client::new(V2Config::new("http://127.0.0.1:1", "s3cr3t-value"));
        let text = format!("{client:?}");
        assert!(client.is_ok() && !text.contains("s3cr3t-value"), "{text}");
    }
}
