//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Escrow service", description = "Escrow payments for marketplaces over PortOne V1."),
    paths(
        crate::members::create_member,
        crate::members::create_session,
        crate::members::get_me,
        crate::members::delete_session,
        crate::products::create_product,
        crate::products::list_products,
        crate::products::get_product,
        crate::products::update_product,
        crate::products::delete_product,
        crate::orders::get_cart,
        crate::orders::put_cart_item,
        crate::orders::delete_cart_item,
        crate::orders::create_order,
        crate::orders::list_orders,
        crate::orders::get_order,
        crate::payments::create_payment,
        crate::payments::complete_payment,
        crate::payments::receive_webhook,
        crate::payments::receive_webhook_v2,
        crate::payments::get_payment_status,
        crate::payments::ship_payment,
        crate::payments::deliver_payment,
        crate::payments::confirm_payment,
        crate::payments::cancel_payment,
        crate::payments::refund_payment,
        crate::payments::list_refunds,
        crate::payments::list_banks,
        crate::payments::dispute_payment,
        crate::payments::resolve_payment,
        crate::payments::request_return,
        crate::payments::ship_return,
        crate::payments::receive_return,
        crate::payments::accept_return,
        crate::payments::reject_return,
        crate::payments::chargeback_payment,
        crate::payments::list_settlements,
        crate::payments::get_bank_account,
        crate::payments::put_bank_account,
        crate::payments::list_overdue_settlements,
        crate::payments::list_payouts,
        crate::payments::create_payout,
        crate::payments::get_payout,
        crate::payments::get_transfer_file,
        crate::payments::mark_payout_paid,
        crate::payments::mark_payout_failed,
        crate::payments::get_ledger,
        crate::orders::list_disputes,
        crate::payments::run_reconcile,
        crate::webhooks::create_webhook_endpoint,
        crate::webhooks::list_webhook_endpoints,
        crate::webhooks::delete_webhook_endpoint,
        crate::webhooks::list_webhook_deliveries,
        crate::webhooks::resend_webhook_delivery,
        crate::system::get_health,
        crate::system::get_readiness,
        crate::system::get_metrics,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldErrorBody, crate::orders::OrderRole)),
    modifiers(&BearerAuth, &ProblemContentType),
    tags((name = "members"), (name = "products"), (name = "orders"), (name = "payments"), (name = "admin"), (name = "system"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Error responses are `application/problem+json`, as the service sends them; the
/// annotations name only the body, so the media type is set here for all of them at once.
struct ProblemContentType;

impl Modify for ProblemContentType {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    let utoipa::openapi::RefOr::T(response) = response else {
                        continue;
                    };
                    if !is_error {
                        continue;
                    }
                    let is_problem = response.content.get("application/json").is_some_and(|content| {
                        matches!(&content.schema, Some(utoipa::openapi::RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
                    });
                    if !is_problem {
                        continue;
                    }
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".into(), content);
                    }
                }
            }
        }
    }
}
