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
        crate::payments::get_payment_status,
        crate::payments::ship_payment,
        crate::payments::deliver_payment,
        crate::payments::confirm_payment,
        crate::payments::cancel_payment,
        crate::payments::refund_payment,
        crate::payments::dispute_payment,
        crate::payments::resolve_payment,
        crate::payments::list_settlements,
        crate::payments::get_ledger,
        crate::orders::list_disputes,
        crate::payments::run_reconcile,
        crate::system::get_health,
        crate::system::get_readiness,
        crate::system::get_metrics,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldErrorBody, crate::orders::OrderRole)),
    modifiers(&BearerAuth),
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
