//! The router table: every route of the service in one place.

use crate::idempotency::idempotency_layer;
use crate::middleware::{problem_for_bare_errors, record_metrics};
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{members, orders, payments, products, system, web};
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::routing::{get, post, put};
use axum::Router;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Bodies above this are refused with 413 before they are read into memory.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The whole HTTP API. `extra` routes (the sandbox, the web UI) are merged by the caller.
pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request records anything.
    crate::middleware::metrics_handle();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/auth/signup", post(members::create_member))
        .route("/auth/login", post(members::create_session))
        .route("/auth/me", get(members::get_me))
        .route(
            "/products",
            get(products::list_products).post(products::create_product),
        )
        .route(
            "/products/{product_id}",
            get(products::get_product)
                .put(products::update_product)
                .delete(products::delete_product),
        )
        .route("/cart", get(orders::get_cart))
        .route(
            "/cart/items/{product_id}",
            put(orders::put_cart_item).delete(orders::delete_cart_item),
        )
        .route("/orders", get(orders::list_orders).post(orders::create_order))
        .route("/orders/{order_id}", get(orders::get_order))
        .route("/payments", post(payments::create_payment))
        .route("/payments/{payment_id}/complete", post(payments::complete_payment))
        .route("/payments/{payment_id}/status", get(payments::get_payment_status))
        .route("/payments/{payment_id}/shipment", post(payments::ship_payment))
        .route("/payments/{payment_id}/delivered", post(payments::deliver_payment))
        .route("/payments/{payment_id}/confirm", post(payments::confirm_payment))
        .route("/payments/{payment_id}/cancel", post(payments::cancel_payment))
        .route("/payments/{payment_id}/refund", post(payments::refund_payment))
        .route("/payments/{payment_id}/dispute", post(payments::dispute_payment))
        .route("/payments/{payment_id}/resolve", post(payments::resolve_payment))
        .route("/webhooks/portone", post(payments::receive_webhook))
        .route("/settlements", get(payments::list_settlements))
        .route("/admin/ledger", get(payments::get_ledger))
        .route("/admin/reconcile", post(payments::run_reconcile))
        .route("/healthz", get(system::get_health))
        .route("/readyz", get(system::get_readiness))
        .route("/metrics", get(system::get_metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .merge(web::routes(&state))
        .fallback(system::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency_layer,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(axum::middleware::from_fn(problem_for_bare_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("http", http.method = %request.method(), http.path = %request.uri().path(), request.id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
