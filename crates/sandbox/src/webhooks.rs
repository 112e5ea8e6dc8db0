//! The webhook dispatcher: a task fed by a queue, delivering each notification to its URL
//! and logging every attempt. V1's go unsigned, retried on network errors and 5xx with a
//! doubling pause; V2's are signed as Standard Webhooks say and retried on any answer but
//! 2xx, on the gateway's schedule.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::clock::now_ms;
use crate::config::WebhookEncoding;
use crate::faults::{FaultMode, FaultTarget};
use crate::Inner;

/// One notification to send.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub url: String,
    /// `{imp_uid, merchant_uid, status}` plus `cancellation_id` for cancels.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// A V2 webhook: how to sign it and when to retry.
    pub signed: Option<Signed>,
}

/// Standard Webhooks signing of a V2 webhook: one id for all its attempts, each attempt
/// signed at its own time (so a late retry is not stale).
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub id: String,
    pub secret: String,
    /// The pause before each retry; one attempt more than pauses.
    pub retries: Vec<Duration>,
}

/// One delivery attempt, as `GET /_sandbox/webhooks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookAttempt {
    /// Same for every attempt of one notification (a duplicate gets its own).
    pub delivery_id: u64,
    pub url: String,
    pub body: serde_json::Value,
    /// 1 for the first try.
    pub attempt: u32,
    /// HTTP status answered by the receiver, when it answered.
    pub status: Option<u16>,
    /// Network error or injected fault, when it did not.
    pub error: Option<String>,
    /// Unix milliseconds when the attempt ended.
    pub at_ms: i64,
}

/// Runs until every `Sandbox` handle (the queue's senders) is gone, then aborts deliveries
/// still waiting for a retry.
pub(crate) async fn dispatch(inner: Arc<Inner>, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut deliveries = JoinSet::new();
    let mut next_id = 0u64;
    while let Some(job) = queue.recv().await {
        next_id += 1;
        let fault = inner.state().take_fault(FaultTarget::Webhook);
        match fault.as_ref().map(|f| (f.mode, f.delay())) {
            None => {
                deliveries.spawn(deliver(inner.clone(), job, next_id, Duration::ZERO));
            }
            Some((FaultMode::Duplicate, _)) => {
                inner.pending.send_modify(|n| *n += 1);
                deliveries.spawn(deliver(inner.clone(), job.clone(), next_id, Duration::ZERO));
                next_id += 1;
                deliveries.spawn(deliver(inner.clone(), job, next_id, Duration::ZERO));
            }
            Some((FaultMode::Delay, delay)) => {
                deliveries.spawn(deliver(inner.clone(), job, next_id, delay));
            }
            Some((mode @ (FaultMode::Error500 | FaultMode::Drop | FaultMode::Timeout), _)) => {
                log(
                    &inner,
                    next_id,
                    &job,
                    1,
                    None,
                    Some(format!("[sandbox] injected fault: {mode:?}, not delivered")),
                );
                inner.pending.send_modify(|n| *n = n.saturating_sub(1));
            }
        }
        // Reap finished deliveries so the set does not grow without bound.
        while deliveries.try_join_next().is_some() {}
    }
    deliveries.shutdown().await;
}

fn log(
    inner: &Inner,
    delivery_id: u64,
    job: &Job,
    attempt: u32,
    status: Option<u16>,
    error: Option<String>,
) {
    let mut state = inner.state();
    let log = &mut state.webhook_log;
    if log.len() >= KEPT_ATTEMPTS {
        // The oldest go: the sandbox runs inside a long-lived service by default.
        log.pop_front();
    }
    log.push_back(WebhookAttempt {
        delivery_id,
        url: job.url.clone(),
        body: serde_json::Value::Object(job.body.clone()),
        attempt,
        status,
        error,
        at_ms: now_ms(),
    });
}

/// Delivery attempts `GET /_sandbox/webhooks` keeps, the latest.
const KEPT_ATTEMPTS: usize = 1_000;

/// All attempts of one notification; retries after a network error or a 5xx.
async fn deliver(inner: Arc<Inner>, job: Job, delivery_id: u64, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let max = match &job.signed {
        Some(signed) => u32::try_from(signed.retries.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1),
        None => inner.config.webhook_max_attempts.max(1),
    };
    // V2 signs the exact bytes it sends.
    let raw = serde_json::Value::Object(job.body.clone()).to_string();
    for attempt in 1..=max {
        let request = inner.http.post(&job.url);
        let request = match (&job.signed, inner.config.webhook_encoding) {
            (Some(signed), _) => {
                let at = now_ms() / 1000;
                let signature =
                    webhook_signing::sign(&signed.secret, &signed.id, at, &raw).unwrap_or_default();
                request
                    .header("content-type", "application/json")
                    .header("webhook-id", &signed.id)
                    .header("webhook-timestamp", at.to_string())
                    .header("webhook-signature", signature)
                    .body(raw.clone())
            }
            (None, WebhookEncoding::Json) => request.json(&job.body),
            (None, WebhookEncoding::Form) => request.form(&form_fields(&job.body)),
        };
        let (status, error, retry) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry = match job.signed {
                    Some(_) => !status.is_success(),
                    None => status.is_server_error(),
                };
                (Some(status.as_u16()), None, retry)
            }
            Err(err) => (None, Some(err.to_string()), true),
        };
        log(&inner, delivery_id, &job, attempt, status, error);
        if !retry || attempt == max {
            break;
        }
        let backoff = match &job.signed {
            Some(signed) => signed
                .retries
                .get(usize::try_from(attempt - 1).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or_default(),
            None => inner.config.webhook_retry_base * 2u32.saturating_pow(attempt - 1),
        };
        tokio::time::sleep(backoff).await;
    }
    inner.pending.send_modify(|n| *n = n.saturating_sub(1));
}

fn form_fields(body: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    body.iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}
