//! `/cart` and `/orders`.

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::state::AppState;
use crate::wire::rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use escrow_core::orders::{Cart, OrderSource, OrderView, Shipping};
use escrow_core::page::PageRequest;
use escrow_core::AppError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CartItemRequest {
    /// 1 to 1000.
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineBody {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartBody {
    pub items: Vec<CartLineBody>,
    pub total_amount: i64,
}

impl From<Cart> for CartBody {
    fn from(cart: Cart) -> Self {
        Self {
            items: cart
                .items
                .into_iter()
                .map(|l| CartLineBody {
                    product_id: l.product_id,
                    name: l.name,
                    price: l.price,
                    quantity: l.quantity,
                })
                .collect(),
            total_amount: cart.total_amount,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ShippingBody {
    pub receiver_name: String,
    pub receiver_phone: String,
    pub address: String,
    pub postcode: String,
}

impl ShippingBody {
    pub fn parse(&self) -> Result<Shipping, ApiError> {
        Shipping::parse(
            &self.receiver_name,
            &self.receiver_phone,
            &self.address,
            &self.postcode,
        )
        .map_err(|errors| ApiError(errors.into()))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderLineRequest {
    pub product_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// The products to buy; or use `from_cart`.
    pub items: Option<Vec<OrderLineRequest>>,
    /// Order everything in the cart (one order per seller).
    #[serde(default)]
    pub from_cart: bool,
    pub shipping: ShippingBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemBody {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPaymentBody {
    pub payment_id: i64,
    pub status: String,
    pub escrow_status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentBody {
    pub courier: String,
    pub invoice_number: String,
    pub sent_at: String,
}

impl From<escrow_core::orders::ShipmentView> for ShipmentBody {
    fn from(s: escrow_core::orders::ShipmentView) -> Self {
        Self {
            courier: s.courier,
            invoice_number: s.invoice_number,
            sent_at: rfc3339(s.sent_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    pub order_id: i64,
    pub buyer_id: i64,
    pub seller_id: i64,
    /// pending_payment, paid, shipping, delivered, confirmed, cancelled, refunded, disputed, expired
    pub status: String,
    pub total_amount: i64,
    pub items: Vec<OrderItemBody>,
    pub shipping: ShippingBody,
    pub created_at: String,
    pub expires_at: String,
    pub payment: Option<OrderPaymentBody>,
    pub shipment: Option<ShipmentBody>,
}

impl From<OrderView> for OrderBody {
    fn from(o: OrderView) -> Self {
        Self {
            order_id: o.id,
            buyer_id: o.buyer_id,
            seller_id: o.seller_id,
            status: o.status.as_str().to_string(),
            total_amount: o.total_amount,
            items: o
                .items
                .into_iter()
                .map(|i| OrderItemBody {
                    product_id: i.product_id,
                    name: i.name,
                    price: i.price,
                    quantity: i.quantity,
                })
                .collect(),
            shipping: ShippingBody {
                receiver_name: o.shipping.receiver_name,
                receiver_phone: o.shipping.receiver_phone,
                address: o.shipping.address,
                postcode: o.shipping.postcode,
            },
            created_at: rfc3339(o.created_at),
            expires_at: rfc3339(o.expires_at),
            payment: o.payment.map(|p| OrderPaymentBody {
                payment_id: p.payment_id,
                status: p.status,
                escrow_status: p.escrow_status,
                amount: p.amount,
                refunded_amount: p.refunded_amount,
                merchant_uid: p.merchant_uid,
                imp_uid: p.imp_uid,
            }),
            shipment: o.shipment.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersCreated {
    pub success: bool,
    pub message: String,
    pub orders: Vec<OrderBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderRole {
    Buyer,
    Seller,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// `buyer` (default) or `seller`.
    pub role: Option<OrderRole>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Sets the quantity of a product in the caller's cart.
#[utoipa::path(put, path = "/cart/items/{product_id}", tag = "orders", request_body = CartItemRequest,
    params(("product_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = CartBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_cart_item(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(product_id): PathId,
    ApiJson(body): ApiJson<CartItemRequest>,
) -> Result<Json<CartBody>, ApiError> {
    Ok(Json(
        state
            .orders
            .put_cart_item(caller, product_id, body.quantity)
            .await?
            .into(),
    ))
}

/// Removes a product from the caller's cart.
#[utoipa::path(delete, path = "/cart/items/{product_id}", tag = "orders", params(("product_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = CartBody)))]
pub async fn delete_cart_item(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(product_id): PathId,
) -> Result<Json<CartBody>, ApiError> {
    Ok(Json(
        state
            .orders
            .remove_cart_item(caller, product_id)
            .await?
            .into(),
    ))
}

/// The caller's cart.
#[utoipa::path(get, path = "/cart", tag = "orders", security(("bearer" = [])), responses((status = 200, body = CartBody)))]
pub async fn get_cart(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<CartBody>, ApiError> {
    Ok(Json(state.orders.cart(caller).await?.into()))
}

/// Orders products (or the cart): one order per seller, stock reserved until paid or expired.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = CreateOrderRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = OrdersCreated), (status = 409, description = "insufficient_stock", body = Problem),
              (status = 422, body = Problem)))]
pub async fn create_order(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreateOrderRequest>,
) -> Result<(StatusCode, Json<OrdersCreated>), ApiError> {
    let shipping = body.shipping.parse()?;
    let source = match (body.from_cart, body.items) {
        (true, None) => OrderSource::Cart,
        (false, Some(items)) => {
            OrderSource::Lines(items.iter().map(|i| (i.product_id, i.quantity)).collect())
        }
        (true, Some(_)) => {
            return Err(AppError::field("items", "give either items or from_cart, not both").into())
        }
        (false, None) => {
            return Err(AppError::field("items", "give items, or from_cart: true").into())
        }
    };
    // The orders as created: the caller is their buyer, and nothing else has touched them.
    let orders = state
        .orders
        .create(caller, source, shipping)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(OrdersCreated {
            success: true,
            message: "order placed".into(),
            orders,
        }),
    ))
}

/// The caller's orders, as buyer (default) or as seller.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderPage)))]
pub async fn list_orders(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let as_seller = matches!(query.role, Some(OrderRole::Seller));
    let page = state.orders.list(caller, as_seller, page).await?;
    Ok(Json(OrderPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Disputed orders waiting for a decision (admins).
#[utoipa::path(get, path = "/admin/disputes", tag = "admin", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderPage), (status = 403, body = Problem)))]
pub async fn list_disputes(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let page = state.orders.list_disputed(caller, page).await?;
    Ok(Json(OrderPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One order with its items, payment and shipment (its buyer, its seller, admins).
#[utoipa::path(get, path = "/orders/{order_id}", tag = "orders", params(("order_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = OrderBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_order(
    State(state): State<AppState>,
    Auth(caller): Auth,
    PathId(order_id): PathId,
) -> Result<Json<OrderBody>, ApiError> {
    Ok(Json(state.orders.get(caller, order_id).await?.into()))
}
