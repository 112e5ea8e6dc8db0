//! The router table: every route of the service in one place.

use crate::idempotency::idempotency_layer;
use crate::middleware::{problem_for_bare_errors, record_metrics};
use crate::openapi::ApiDoc;
use crate::security_headers::{add_security_headers, DOCS_POLICY};
use crate::state::AppState;
use crate::{members, orders, payments, products, system, web, webhooks};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
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

/// Declares the API's routes once: the router is built from this table, and `ROUTES` lists
/// it for tests (the authorization matrix and the OpenAPI check iterate over it, so a new
/// route cannot be left out of either).
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every API route as (method, path template).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn api_routes() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

route_table! {
    post "/auth/signup" => members::create_member,
    post "/auth/login" => members::create_session,
    get "/auth/me" => members::get_me,
    post "/auth/logout" => members::delete_session,
    get "/products" => products::list_products,
    post "/products" => products::create_product,
    get "/products/{product_id}" => products::get_product,
    put "/products/{product_id}" => products::update_product,
    delete "/products/{product_id}" => products::delete_product,
    get "/cart" => orders::get_cart,
    put "/cart/items/{product_id}" => orders::put_cart_item,
    delete "/cart/items/{product_id}" => orders::delete_cart_item,
    get "/orders" => orders::list_orders,
    post "/orders" => orders::create_order,
    get "/orders/{order_id}" => orders::get_order,
    post "/payments" => payments::create_payment,
    post "/payments/{payment_id}/complete" => payments::complete_payment,
    get "/payments/{payment_id}/status" => payments::get_payment_status,
    post "/payments/{payment_id}/shipment" => payments::ship_payment,
    post "/payments/{payment_id}/delivered" => payments::deliver_payment,
    post "/payments/{payment_id}/confirm" => payments::confirm_payment,
    post "/payments/{payment_id}/cancel" => payments::cancel_payment,
    post "/payments/{payment_id}/refund" => payments::refund_payment,
    get "/payments/{payment_id}/refunds" => payments::list_refunds,
    post "/payments/{payment_id}/dispute" => payments::dispute_payment,
    post "/payments/{payment_id}/resolve" => payments::resolve_payment,
    post "/payments/{payment_id}/return" => payments::request_return,
    post "/payments/{payment_id}/return/shipment" => payments::ship_return,
    post "/payments/{payment_id}/return/received" => payments::receive_return,
    post "/payments/{payment_id}/return/accept" => payments::accept_return,
    post "/payments/{payment_id}/return/reject" => payments::reject_return,
    post "/payments/{payment_id}/chargeback" => payments::chargeback_payment,
    post "/webhooks/portone" => payments::receive_webhook,
    post "/webhooks/portone/v2" => payments::receive_webhook_v2,
    get "/banks" => payments::list_banks,
    get "/settlements" => payments::list_settlements,
    get "/sellers/me/bank-account" => payments::get_bank_account,
    put "/sellers/me/bank-account" => payments::put_bank_account,
    get "/admin/settlements/overdue" => payments::list_overdue_settlements,
    get "/admin/payouts" => payments::list_payouts,
    post "/admin/payouts" => payments::create_payout,
    get "/admin/payouts/{payout_id}" => payments::get_payout,
    get "/admin/payouts/{payout_id}/transfer.csv" => payments::get_transfer_file,
    post "/admin/payouts/{payout_id}/items/{seller_id}/paid" => payments::mark_payout_paid,
    post "/admin/payouts/{payout_id}/items/{seller_id}/failed" => payments::mark_payout_failed,
    get "/admin/ledger" => payments::get_ledger,
    get "/admin/disputes" => orders::list_disputes,
    post "/admin/reconcile" => payments::run_reconcile,
    post "/admin/webhook-endpoints" => webhooks::create_webhook_endpoint,
    get "/admin/webhook-endpoints" => webhooks::list_webhook_endpoints,
    delete "/admin/webhook-endpoints/{endpoint_id}" => webhooks::delete_webhook_endpoint,
    get "/admin/webhook-endpoints/{endpoint_id}/deliveries" => webhooks::list_webhook_deliveries,
    post "/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend" => webhooks::resend_webhook_delivery,
    get "/healthz" => system::get_health,
    get "/readyz" => system::get_readiness,
    get "/metrics" => system::get_metrics,
}

/// The whole HTTP API with the docs and the web UI. The sandbox is merged by the caller.
pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request records anything.
    crate::middleware::metrics_handle();
    let request_id = HeaderName::from_static("x-request-id");
    api_routes()
        .merge(
            Router::<AppState>::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi())).layer(
                axum::middleware::from_fn_with_state(
                    HeaderValue::from_static(DOCS_POLICY),
                    add_security_headers,
                ),
            ),
        )
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
