//! `/products`: sellers' catalogue.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::state::AppState;
use crate::wire::{Done, Time};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use escrow_core::page::PageRequest;
use escrow_core::products::{Product, ProductDraft, ProductFilter};
use escrow_core::AppError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductRequest {
    /// 1 to 200 characters.
    pub name: String,
    /// Up to 5000 characters.
    #[serde(default)]
    pub description: String,
    /// Won, greater than 0.
    pub price: i64,
    /// 0 to 1,000,000.
    pub stock: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductBody {
    pub product_id: i64,
    pub seller_id: i64,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub stock: i64,
    #[schema(value_type = String)]
    pub created_at: Time,
    #[schema(value_type = String)]
    pub updated_at: Time,
}

impl From<Product> for ProductBody {
    fn from(p: Product) -> Self {
        Self {
            product_id: p.id,
            seller_id: p.seller_id,
            name: p.name,
            description: p.description,
            price: p.price.get(),
            stock: p.stock,
            created_at: Time(p.created_at),
            updated_at: Time(p.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductCreated {
    pub success: bool,
    pub message: String,
    pub product_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductBody>,
    /// Pass as `cursor` for the next page; null on the last page. A search (`q`) reads a
    /// bounded part of the catalogue per call, so its page may hold fewer items than
    /// `limit`, or none, before the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub seller_id: Option<i64>,
    /// Part of the product name, case-insensitive.
    pub q: Option<String>,
}

fn draft(body: &ProductRequest) -> Result<ProductDraft, ApiError> {
    ProductDraft::parse(&body.name, &body.description, body.price, body.stock)
        .map_err(|errors| ApiError(errors.into()))
}

/// Lists a product for sale (sellers only).
#[utoipa::path(post, path = "/products", tag = "products", request_body = ProductRequest, security(("bearer" = [])),
    responses((status = 201, body = ProductCreated), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_product(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<ProductRequest>,
) -> Result<(StatusCode, Json<ProductCreated>), ApiError> {
    let product_id = state.products.create(caller, draft(&body)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductCreated {
            success: true,
            message: "product listed".into(),
            product_id,
        }),
    ))
}

/// Replaces a product's fields (its seller only).
#[utoipa::path(put, path = "/products/{product_id}", tag = "products", request_body = ProductRequest,
    params(("product_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn update_product(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ProductRequest>,
) -> Result<Json<Done>, ApiError> {
    state.products.update(caller, id, draft(&body)?).await?;
    Ok(Json(Done::new("product updated")))
}

/// Takes a product off the catalogue (its seller only); past orders keep it.
#[utoipa::path(delete, path = "/products/{product_id}", tag = "products",
    params(("product_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_product(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId,
) -> Result<Json<Done>, ApiError> {
    state.products.delete(caller, id).await?;
    Ok(Json(Done::new("product deleted")))
}

/// One product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "products", params(("product_id" = i64, Path)),
    responses((status = 200, body = ProductBody), (status = 404, body = Problem)))]
pub async fn get_product(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<ProductBody>, ApiError> {
    Ok(Json(state.products.get(id).await?.into()))
}

/// The catalogue, newest first, with keyset paging.
#[utoipa::path(get, path = "/products", tag = "products", params(ProductQuery),
    responses((status = 200, body = ProductPage), (status = 422, body = Problem)))]
pub async fn list_products(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ProductQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let q = query
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(AppError::field("q", "must be at most 100 characters").into());
    }
    let filter = ProductFilter {
        seller_id: query.seller_id,
        query: q,
    };
    let page = state.products.list(&filter, page).await?;
    Ok(Json(ProductPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
