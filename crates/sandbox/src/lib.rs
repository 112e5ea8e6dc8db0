//! An in-memory simulator of the PortOne gateway over HTTP, V1 (I'mport) and V2 over one
//! store of payments: the REST calls the service uses, webhooks with retries (V2's signed),
//! drop-ins for the browser SDKs (`iamport.js`, V2's `browser-sdk.js`) with their own
//! checkout page, and `/_sandbox/*` control calls for tests (payments, faults, webhook log).
//! [`Sandbox::router`] is the V1 face, [`Sandbox::v2_router`] the V2 face.
//!
//! ```no_run
//! # async fn demo() {
//! use portone_sandbox::{Sandbox, SandboxConfig};
//! // Inside a Tokio runtime: `new` starts the webhook dispatcher task.
//! let sandbox = Sandbox::new(SandboxConfig::default());
//! let app: axum::Router = axum::Router::new().nest("/sandbox/portone", sandbox.router());
//! # let _ = app;
//! # }
//! ```

mod api;
mod clock;
mod config;
mod control;
mod faults;
mod state;
mod v2;
mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, watch};

pub use config::{SandboxConfig, WebhookEncoding};
pub use faults::{Fault, FaultMode, FaultTarget};
pub use webhooks::WebhookAttempt;

use state::State;
use webhooks::Job;

/// The simulator. Clones share one state; every call is safe under concurrency.
///
/// [`Sandbox::new`] must run inside a Tokio runtime: it spawns the webhook dispatcher,
/// which runs until the last clone of the `Sandbox` (and every router made from it) is
/// dropped; deliveries still in flight are then aborted.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
    webhooks: mpsc::UnboundedSender<Job>,
}

/// Everything the handlers and the dispatcher share. It holds no sender of the webhook
/// queue, so the dispatcher (which holds an `Arc<Inner>`) ends with the last `Sandbox`.
pub(crate) struct Inner {
    pub(crate) config: SandboxConfig,
    state: Mutex<State>,
    /// Webhook deliveries not finished yet (all attempts), for [`Sandbox::webhooks_idle`].
    pending: watch::Sender<usize>,
    pub(crate) http: reqwest::Client,
}

impl Inner {
    /// The state lock; a panic while holding it cannot leave it half-written in a way
    /// that matters to a simulator, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sandbox {
    /// A fresh sandbox with no payments. Spawns the webhook dispatcher on the current
    /// Tokio runtime (without one, webhooks are logged as undeliverable).
    pub fn new(config: SandboxConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(config.webhook_connect_timeout)
            .timeout(config.webhook_timeout)
            .build()
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(State::default()),
            pending: watch::Sender::new(0),
            http,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(webhooks::dispatch(inner.clone(), rx));
            }
            Err(_) => tracing::error!(
                "portone sandbox created outside a Tokio runtime: webhooks disabled"
            ),
        }
        Self {
            inner,
            webhooks: tx,
        }
    }

    /// The configuration this sandbox runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// All routes, at the router's root: mount with `Router::nest("/sandbox/portone", ..)`
    /// or serve as is to look like `https://api.iamport.kr`.
    pub fn router(&self) -> Router {
        let rest = Router::new()
            .route("/users/getToken", post(api::get_token))
            .route("/payments", get(api::get_payments))
            .route("/payments/{imp_uid}", get(api::get_payment))
            .route(
                "/payments/status/{payment_status}",
                get(api::list_payments_by_status),
            )
            .route("/payments/find/{merchant_uid}", get(api::find_payment))
            .route(
                "/payments/find/{merchant_uid}/{status}",
                get(api::find_payment_in_status),
            )
            .route("/payments/prepare", post(api::prepare_payment))
            .route("/payments/prepare/{merchant_uid}", get(api::get_prepared))
            .route("/payments/cancel", post(api::cancel_payment))
            .route("/vbanks", post(api::issue_vbank))
            .route(
                "/vbanks/{imp_uid}",
                axum::routing::delete(api::revoke_vbank),
            )
            .route(
                "/escrows/logis/{imp_uid}",
                post(api::register_logis)
                    .put(api::update_logis)
                    .get(api::get_logis),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                faults::api_faults,
            ));
        let control = Router::new()
            .route("/_sandbox/payments", post(control::create_payment))
            .route(
                "/_sandbox/faults",
                post(control::set_fault).delete(control::clear_faults),
            )
            .route("/_sandbox/webhooks", get(control::list_webhooks))
            .route("/_sandbox/vbanks/{imp_uid}/deposit", post(control::deposit))
            .route(
                "/_sandbox/escrows/{imp_uid}",
                get(control::registered_delivery),
            )
            .route("/_sandbox/tokens/expire", post(control::expire_tokens))
            .route("/_sandbox/stats", get(control::stats))
            .route("/_sandbox/checkout", post(control::checkout_pay))
            .route("/iamport.js", get(control::iamport_js))
            .route("/checkout", get(control::checkout_page))
            .route("/checkout.js", get(control::checkout_js))
            .route("/checkout.css", get(control::checkout_css));
        rest.merge(control).with_state(self.clone())
    }

    /// The latest webhook delivery attempts (at most 1 000), oldest first.
    pub fn webhook_log(&self) -> Vec<WebhookAttempt> {
        self.inner.state().webhook_log.iter().cloned().collect()
    }

    /// Wait until no webhook delivery (including retries and delayed ones) is in flight.
    pub async fn webhooks_idle(&self) {
        let mut rx = self.inner.pending.subscribe();
        // Err only when the sender is gone, and `inner` (which owns it) is alive here.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// How many times `/users/getToken` succeeded, and how many distinct tokens it issued.
    pub fn token_stats(&self) -> (u64, usize) {
        let state = self.inner.state();
        (state.token_requests, state.tokens_issued)
    }

    /// Install a fault, as `POST /_sandbox/faults` does.
    pub fn set_fault(&self, fault: Fault) {
        self.inner.state().set_fault(fault);
    }

    /// Queue a webhook; counted as pending until its last attempt ends.
    pub(crate) fn send_webhook(&self, job: Job) {
        self.inner.pending.send_modify(|n| *n += 1);
        if let Err(mpsc::error::SendError(job)) = self.webhooks.send(job) {
            self.inner.pending.send_modify(|n| *n = n.saturating_sub(1));
            tracing::error!(webhook.url = %job.url, "portone sandbox webhook dispatcher is gone");
        }
    }
}
