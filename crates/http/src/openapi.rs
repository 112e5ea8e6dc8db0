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
        crate::system::get_health,
        crate::system::get_readiness,
        crate::system::get_metrics,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "members"), (name = "products"), (name = "system"))
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
