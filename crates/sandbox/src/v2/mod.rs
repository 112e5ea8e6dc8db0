//! The sandbox's PortOne V2 face: the REST calls the service and the official server SDKs
//! use, over the same store of payments as the V1 face; V2 webhooks signed as Standard
//! Webhooks say; `browser-sdk.js`, a drop-in for `PortOne.requestPayment`; and the
//! `/_sandbox/*` control calls. Serve [`Sandbox::v2_router`] at the root of an origin for
//! the JS SDK (it drops any base path), or nest it (`/sandbox/portone-v2`).

mod api;
mod control;
mod wire;

use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::state::PaymentRecord;
use crate::webhooks::{Job, Signed};
use crate::Sandbox;

/// One V2 webhook to send: its `type`, and the cancellation it reports.
pub(crate) struct Notice {
    kind: &'static str,
    cancellation_id: Option<String>,
}

impl Notice {
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            cancellation_id: None,
        }
    }

    pub(crate) fn cancellation(mut self, id: &str) -> Self {
        self.cancellation_id = Some(id.to_owned());
        self
    }

    /// The webhook a payment in `status` announces, if any.
    pub(crate) fn of_status(status: &str) -> Option<Self> {
        Some(Self::new(match status {
            "PAID" => "Transaction.Paid",
            "VIRTUAL_ACCOUNT_ISSUED" => "Transaction.VirtualAccountIssued",
            "FAILED" => "Transaction.Failed",
            "READY" => "Transaction.Ready",
            _ => return None,
        }))
    }
}

impl Sandbox {
    /// The V2 face's routes, at the router's root.
    pub fn v2_router(&self) -> Router {
        let rest = Router::new()
            .route("/payments", get(api::list_payments))
            .route("/payments-by-cursor", get(api::payments_by_cursor))
            .route("/payments/{payment_id}", get(api::get_payment))
            .route("/payments/{payment_id}/cancel", post(api::cancel))
            .route(
                "/payments/{payment_id}/escrow/logistics",
                post(api::register_logistics).patch(api::modify_logistics),
            )
            .route(
                "/payments/{payment_id}/escrow/complete",
                post(api::complete_escrow),
            )
            .route(
                "/payments/{payment_id}/virtual-account/close",
                post(api::close_virtual_account),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::faults::v2_api_faults,
            ));
        let control = Router::new()
            .route("/_sandbox/payments", post(control::create_payment))
            .route(
                "/_sandbox/payments/{payment_id}/deposit",
                post(control::deposit),
            )
            .route(
                "/_sandbox/payments/{payment_id}/escrow",
                post(control::escrow_at_pg),
            )
            .route(
                "/_sandbox/faults",
                post(crate::control::set_fault).delete(crate::control::clear_faults),
            )
            .route("/_sandbox/webhooks", get(crate::control::list_webhooks))
            .route("/_sandbox/checkout", post(control::checkout_pay))
            .route("/browser-sdk.js", get(control::browser_sdk_js))
            .route("/checkout", get(crate::control::checkout_page))
            .route("/checkout.js", get(crate::control::checkout_js))
            .route("/checkout.css", get(crate::control::checkout_css));
        rest.merge(control).with_state(self.clone())
    }

    /// Send `notice` about `payment` to each of its webhook URLs, signed.
    pub(crate) fn notify_v2(&self, payment: &PaymentRecord, notice: Notice) {
        let cfg = &self.inner.config;
        let mut data = Map::new();
        data.insert("storeId".into(), json!(cfg.store_id));
        data.insert("paymentId".into(), json!(payment.merchant_uid));
        data.insert("transactionId".into(), json!(payment.imp_uid));
        if let Some(id) = notice.cancellation_id {
            data.insert("cancellationId".into(), json!(id));
        }
        let mut body = Map::new();
        body.insert("type".into(), json!(notice.kind));
        body.insert(
            "timestamp".into(),
            json!(wire::rfc3339_ms(crate::clock::now_ms())),
        );
        body.insert("data".into(), Value::Object(data));
        for url in &payment.notice_url {
            self.send_webhook(Job {
                url: url.clone(),
                body: body.clone(),
                signed: Some(Signed {
                    id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
                    secret: cfg.webhook_secret.clone(),
                    retries: cfg.v2_webhook_retries.clone(),
                }),
            });
        }
    }
}
