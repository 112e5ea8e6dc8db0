//! Carts and orders. An order has exactly one seller; creating it reserves stock with a
//! conditional UPDATE, so concurrent buyers can never oversell.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::joined::{assemble, joined_row, JoinedRow};
use crate::page::{Page, PageRequest};
use crate::records::{self, Actor};
use escrow_domain::validation::bounded_text;
use escrow_domain::{FieldErrors, OrderStatus, Won};
use escrow_store::{now_millis, params, placeholders, Db, Param, ReadRow, Tx};
use rand::Rng as _;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The most units of one product in one order or cart line.
pub const MAX_QUANTITY: i64 = 1000;
/// The most distinct products in one order request.
pub const MAX_LINES: usize = 50;

#[derive(Debug, Clone)]
pub struct Shipping {
    pub receiver_name: String,
    pub receiver_phone: String,
    pub address: String,
    pub postcode: String,
}

impl Shipping {
    pub fn parse(
        name: &str,
        phone: &str,
        address: &str,
        postcode: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let receiver_name = errors.check("shipping.receiver_name", bounded_text(name, 1, 100));
        let receiver_phone = errors.check("shipping.receiver_phone", bounded_text(phone, 1, 30));
        let address = errors.check("shipping.address", bounded_text(address, 1, 500));
        let postcode = errors.check(
            "shipping.postcode",
            bounded_text(postcode, 1, 10).and_then(|p| {
                if p.chars().all(|c| c.is_ascii_digit() || c == '-') {
                    Ok(p)
                } else {
                    Err("must be digits".into())
                }
            }),
        );
        errors.finish()?;
        Ok(Self {
            receiver_name: receiver_name.unwrap_or_default(),
            receiver_phone: receiver_phone.unwrap_or_default(),
            address: address.unwrap_or_default(),
            postcode: postcode.unwrap_or_default(),
        })
    }
}

/// What to order: explicit lines, or the caller's cart.
#[derive(Debug, Clone)]
pub enum OrderSource {
    Lines(Vec<(i64, i64)>),
    Cart,
}

#[derive(Debug, Clone)]
pub struct OrderItem {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct PaymentSummary {
    pub payment_id: i64,
    pub status: String,
    pub escrow_status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ShipmentView {
    pub courier: String,
    pub invoice_number: String,
    pub sent_at: i64,
}

/// An order with everything a buyer or seller sees about it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub id: i64,
    pub buyer_id: i64,
    pub seller_id: i64,
    pub status: OrderStatus,
    pub total_amount: i64,
    pub items: Vec<OrderItem>,
    pub shipping: Shipping,
    pub created_at: i64,
    pub expires_at: i64,
    pub payment: Option<PaymentSummary>,
    pub shipment: Option<ShipmentView>,
}

#[derive(Debug, Clone)]
pub struct CartLine {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Cart {
    pub items: Vec<CartLine>,
    pub total_amount: i64,
}

/// What one buyer may hold in unpaid orders, in units: of one product, and over all.
/// Unpaid orders reserve stock until they expire, so without a bound one buyer could hold
/// a product's whole stock and renew the hold at every expiry.
#[derive(Debug, Clone, Copy)]
pub struct UnpaidLimits {
    pub per_product: i64,
    pub total: i64,
}

#[derive(Clone)]
pub struct Orders {
    db: Db,
    ttl: Duration,
    unpaid: UnpaidLimits,
}

fn quantity_ok(quantity: i64) -> Result<i64, String> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(format!("must be between 1 and {MAX_QUANTITY}"))
    }
}

impl Orders {
    pub fn new(db: Db, ttl: Duration, unpaid: UnpaidLimits) -> Self {
        Self { db, ttl, unpaid }
    }

    // ---- cart ----

    pub async fn put_cart_item(
        &self,
        caller: Caller,
        product_id: i64,
        quantity: i64,
    ) -> AppResult<Cart> {
        quantity_ok(quantity).map_err(|m| AppError::field("quantity", m))?;
        let product =
            sqlx::query("SELECT seller_id FROM products WHERE id = ? AND deleted_at IS NULL")
                .bind(product_id)
                .fetch_optional(self.db.pool())
                .await?
                .ok_or_else(|| {
                    AppError::NotFound(format!("product {product_id} does not exist"))
                })?;
        let seller_id: i64 = product.try_get("seller_id")?;
        if seller_id == caller.user_id {
            return Err(AppError::field(
                "product_id",
                "you cannot buy your own product",
            ));
        }
        let mut tx = self.db.begin().await?;
        let updated = tx
            .execute(
                "UPDATE cart_items SET quantity = ? WHERE buyer_id = ? AND product_id = ?",
                params![quantity, caller.user_id, product_id],
            )
            .await?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO cart_items (buyer_id, product_id, quantity, added_at) VALUES (?, ?, ?, ?)",
                params![caller.user_id, product_id, quantity, now_millis()],
            )
            .await?;
        }
        tx.commit().await?;
        self.cart(caller).await
    }

    pub async fn remove_cart_item(&self, caller: Caller, product_id: i64) -> AppResult<Cart> {
        self.db
            .write(
                "DELETE FROM cart_items WHERE buyer_id = ? AND product_id = ?",
                params![caller.user_id, product_id],
            )
            .await?;
        self.cart(caller).await
    }

    pub async fn cart(&self, caller: Caller) -> AppResult<Cart> {
        let rows = sqlx::query(
            "SELECT c.product_id, p.name, p.price, c.quantity FROM cart_items c \
             JOIN products p ON p.id = c.product_id \
             WHERE c.buyer_id = ? AND p.deleted_at IS NULL ORDER BY c.added_at, c.product_id",
        )
        .bind(caller.user_id)
        .fetch_all(self.db.pool())
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        // A plain sum, not `Won`: a cart stays readable and editable whatever its prices
        // became since; checkout refuses a total no order may have.
        let mut total: i64 = 0;
        for row in rows {
            let line = CartLine {
                product_id: row.try_get("product_id")?,
                name: row.try_get("name")?,
                price: row.try_get("price")?,
                quantity: row.try_get("quantity")?,
            };
            total = total.saturating_add(line.price.saturating_mul(line.quantity));
            items.push(line);
        }
        Ok(Cart {
            items,
            total_amount: total,
        })
    }

    // ---- orders ----

    /// Creates one order per seller and reserves the stock, all or nothing. Returns the
    /// orders as the transaction wrote them, so the caller needs no read to show them.
    pub async fn create(
        &self,
        caller: Caller,
        source: OrderSource,
        shipping: Shipping,
    ) -> AppResult<Vec<OrderView>> {
        let from_cart = matches!(source, OrderSource::Cart);
        let lines = match source {
            OrderSource::Lines(lines) => lines,
            OrderSource::Cart => {
                let cart = self.cart(caller).await?;
                cart.items
                    .iter()
                    .map(|l| (l.product_id, l.quantity))
                    .collect()
            }
        };
        let mut errors = FieldErrors::new();
        if lines.is_empty() {
            errors.add(
                if from_cart { "from_cart" } else { "items" },
                "there is nothing to order",
            );
        }
        if lines.len() > MAX_LINES {
            errors.add("items", format!("at most {MAX_LINES} products per order"));
        }
        // Merge repeated products; BTreeMap also gives the lock order (ascending ids), so
        // concurrent orders take row locks in the same order and cannot deadlock.
        let mut wanted: BTreeMap<i64, i64> = BTreeMap::new();
        for (index, (product_id, quantity)) in lines.iter().enumerate() {
            if *product_id <= 0 {
                errors.add(format!("items[{index}].product_id"), "must be a product id");
            }
            if let Err(message) = quantity_ok(*quantity) {
                errors.add(format!("items[{index}].quantity"), message);
            }
            *wanted.entry(*product_id).or_default() += quantity;
        }
        errors.finish()?;

        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .create_once(caller, &wanted, &shipping, from_cart)
                .await
            {
                Err(AppError::Conflict(_)) if attempts < 8 => {
                    // Another order of the same products won (on Galera, another node's, at
                    // commit): at once, the retry mostly meets the others' retries again.
                    let most = 10u64 << attempts.min(6);
                    let pause = rand::thread_rng().gen_range(0..=most);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
    }

    /// Refuses an order that would take the buyer past what they may hold unpaid.
    async fn check_unpaid(
        &self,
        tx: &mut Tx,
        buyer_id: i64,
        wanted: &BTreeMap<i64, i64>,
    ) -> AppResult<()> {
        // The buyer's row lock serialises their concurrent orders on MariaDB, so two cannot
        // both pass the check (SQLite has one writer anyway).
        tx.execute(
            "UPDATE users SET updated_at = updated_at WHERE id = ?",
            params![buyer_id],
        )
        .await?;
        // The unpaid orders first, then their items: joined in one statement, MariaDB planned
        // a table just created by scanning every order item ever (BENCHMARKS.md), and a buyer
        // mostly has no unpaid order, so the items' read is rarely needed.
        let unpaid: Vec<Param> = tx
            .fetch_all(
                "SELECT id FROM orders WHERE buyer_id = ? AND status = ?",
                params![buyer_id, OrderStatus::PendingPayment.as_str()],
                |row| -> AppResult<_> { Ok(Param::from(row.int("id")?)) },
            )
            .await?;
        let mut held: BTreeMap<i64, i64> = BTreeMap::new();
        if !unpaid.is_empty() {
            let sql = format!(
                "SELECT product_id, quantity FROM order_items WHERE order_id IN ({})",
                placeholders(unpaid.len())
            );
            let items = tx
                .fetch_all(&sql, &unpaid, |row| -> AppResult<_> {
                    Ok((row.int("product_id")?, row.int("quantity")?))
                })
                .await?;
            for (product_id, quantity) in items {
                *held.entry(product_id).or_default() += quantity;
            }
        }
        let limits = self.unpaid;
        for (&product_id, &quantity) in wanted {
            let after = held.get(&product_id).copied().unwrap_or(0) + quantity;
            if after > limits.per_product {
                return Err(AppError::UnpaidLimit(format!(
                    "you may hold at most {} units of product {product_id} in unpaid orders \
                     (this order would make {after}); pay or cancel one first",
                    limits.per_product
                )));
            }
        }
        let total = held.values().sum::<i64>() + wanted.values().sum::<i64>();
        if total > limits.total {
            return Err(AppError::UnpaidLimit(format!(
                "you may hold at most {} units in unpaid orders (this order would make \
                 {total}); pay or cancel one first",
                limits.total
            )));
        }
        Ok(())
    }

    async fn create_once(
        &self,
        caller: Caller,
        wanted: &BTreeMap<i64, i64>,
        shipping: &Shipping,
        from_cart: bool,
    ) -> AppResult<Vec<OrderView>> {
        let now = now_millis();
        let expires_at = now + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 4);
        let mut tx = self.db.begin().await?;
        self.check_unpaid(&mut tx, caller.user_id, wanted).await?;
        let mut by_seller: BTreeMap<i64, Vec<OrderItem>> = BTreeMap::new();
        for (&product_id, &quantity) in wanted {
            let (seller_id, name, price) = tx
                .fetch_optional(
                    "SELECT seller_id, name, price FROM products WHERE id = ? AND deleted_at IS NULL",
                    params![product_id],
                    |row| -> AppResult<_> {
                        Ok((row.int("seller_id")?, row.text("name")?, row.int("price")?))
                    },
                )
                .await?
                .ok_or_else(|| AppError::NotFound(format!("product {product_id} does not exist")))?;
            if seller_id == caller.user_id {
                return Err(AppError::field("items", "you cannot buy your own product"));
            }
            let reserved = tx
                .execute(
                    "UPDATE products SET stock = stock - ?, updated_at = ? \
                     WHERE id = ? AND deleted_at IS NULL AND stock >= ?",
                    params![quantity, now, product_id, quantity],
                )
                .await?;
            if reserved == 0 {
                return Err(AppError::InsufficientStock(format!(
                    "product {product_id} does not have {quantity} in stock"
                )));
            }
            by_seller.entry(seller_id).or_default().push(OrderItem {
                product_id,
                name,
                price,
                quantity,
            });
        }
        let mut orders = Vec::new();
        for (seller_id, items) in by_seller {
            let mut total = Won::ZERO;
            for item in &items {
                total = Won::new(item.price)
                    .and_then(|p| p.times(item.quantity))
                    .and_then(|line| total.checked_add(line))
                    .map_err(|e| AppError::field("items", format!("the order total {e}")))?;
            }
            let order_id = tx
                .insert_returning_id(
                    "INSERT INTO orders (buyer_id, seller_id, status, total_amount, receiver_name, receiver_phone, \
                     address, postcode, expires_at, from_cart, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![
                        caller.user_id,
                        seller_id,
                        OrderStatus::PendingPayment.as_str(),
                        total.get(),
                        &shipping.receiver_name,
                        &shipping.receiver_phone,
                        &shipping.address,
                        &shipping.postcode,
                        expires_at,
                        i64::from(from_cart),
                        now,
                        now
                    ],
                )
                .await?;
            for item in &items {
                tx.execute(
                    "INSERT INTO order_items (order_id, product_id, name, price, quantity) VALUES (?, ?, ?, ?, ?)",
                    params![order_id, item.product_id, &item.name, item.price, item.quantity],
                )
                .await?;
            }
            let actor = Actor::member(caller.role, caller.user_id);
            records::history(
                &mut tx,
                order_id,
                "order",
                None,
                OrderStatus::PendingPayment.as_str(),
                &actor,
                None,
            )
            .await?;
            records::event(
                &mut tx,
                "order.created",
                order_id,
                serde_json::json!({"buyer_id": caller.user_id, "seller_id": seller_id, "total_amount": total.get()}),
            )
            .await?;
            orders.push(OrderView {
                id: order_id,
                buyer_id: caller.user_id,
                seller_id,
                status: OrderStatus::PendingPayment,
                total_amount: total.get(),
                // In insertion order, which is `load_order`'s order (by item id).
                items,
                shipping: shipping.clone(),
                created_at: now,
                expires_at,
                payment: None,
                shipment: None,
            });
        }
        tx.commit().await?;
        Ok(orders)
    }

    /// One order, for its buyer, its seller or an admin.
    pub async fn get(&self, caller: Caller, order_id: i64) -> AppResult<OrderView> {
        let view = load_order(&self.db, order_id).await?;
        if !(caller.is_admin()
            || caller.user_id == view.buyer_id
            || caller.user_id == view.seller_id)
        {
            return Err(AppError::Forbidden("this order is not yours".into()));
        }
        Ok(view)
    }

    /// Orders waiting for an admin's decision, newest first.
    pub async fn list_disputed(
        &self,
        caller: Caller,
        page: PageRequest,
    ) -> AppResult<Page<OrderView>> {
        if !caller.is_admin() {
            return Err(AppError::Forbidden("admins only".into()));
        }
        self.page_where("status = 'disputed'", None, page).await
    }

    /// The caller's orders as buyer or as seller, newest first.
    pub async fn list(
        &self,
        caller: Caller,
        as_seller: bool,
        page: PageRequest,
    ) -> AppResult<Page<OrderView>> {
        let filter = if as_seller {
            "seller_id = ?"
        } else {
            "buyer_id = ?"
        };
        self.page_where(filter, Some(caller.user_id), page).await
    }

    /// One keyset page of the orders matching `filter` (one optional `?` bound to `value`).
    async fn page_where(
        &self,
        filter: &str,
        value: Option<i64>,
        page: PageRequest,
    ) -> AppResult<Page<OrderView>> {
        // One statement for the whole page: the page's ids in a derived table (MariaDB
        // refuses LIMIT directly inside IN), each order's rows together, items in order.
        let mut ids = format!("SELECT id FROM orders WHERE {filter}");
        if page.before_id.is_some() {
            ids.push_str(" AND id < ?");
        }
        ids.push_str(" ORDER BY id DESC LIMIT ?");
        let sql = format!(
            "SELECT {ORDER_VIEW_COLUMNS} FROM {ORDER_VIEW_FROM} \
             WHERE o.id IN (SELECT id FROM ({ids}) page) ORDER BY o.id DESC, i.id"
        );
        let mut query = sqlx::query(&sql);
        if let Some(value) = value {
            query = query.bind(value);
        }
        if let Some(before) = page.before_id {
            query = query.bind(before);
        }
        let rows = query.bind(page.limit + 1).fetch_all(self.db.pool()).await?;
        let mut views = Vec::new();
        for order_rows in rows.chunk_by(|a, b| a.int("order_id").ok() == b.int("order_id").ok()) {
            let head_wanted = AtomicBool::new(true);
            let mapped = order_rows
                .iter()
                .map(|row| order_view_row(row, &head_wanted, |_| Ok(())))
                .collect::<AppResult<Vec<_>>>()?;
            views.extend(order_view_from_rows(mapped).map(|(view, ())| view));
        }
        Ok(page.into_page(views, |v| v.id))
    }
}

/// Gives reserved stock back (cancel, expiry, a failed payment).
pub async fn return_stock(tx: &mut Tx, order_id: i64) -> AppResult<()> {
    let items = tx
        .fetch_all(
            "SELECT product_id, quantity FROM order_items WHERE order_id = ? ORDER BY product_id",
            params![order_id],
            |row| -> AppResult<(i64, i64)> { Ok((row.int("product_id")?, row.int("quantity")?)) },
        )
        .await?;
    for (product_id, quantity) in items {
        tx.execute(
            "UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?",
            params![quantity, now_millis(), product_id],
        )
        .await?;
    }
    Ok(())
}

pub fn parse_order_status(text: &str) -> AppResult<OrderStatus> {
    OrderStatus::parse(text).map_err(|e| AppError::internal("stored order status", e))
}

/// The columns of an order view (`ORDER_VIEW_FROM`): the order, one item per row, its
/// latest payment and that payment's shipment, read in one statement.
pub(crate) const ORDER_VIEW_COLUMNS: &str =
    "o.id AS order_id, o.buyer_id, o.seller_id, o.status AS order_status, o.total_amount, \
    o.receiver_name, o.receiver_phone, o.address, o.postcode, o.created_at, o.expires_at, \
    i.id AS item_id, i.product_id AS item_product_id, i.name AS item_name, i.price AS item_price, \
    i.quantity AS item_quantity, lp.id AS payment_id, lp.status AS payment_status, \
    lp.escrow_status AS payment_escrow_status, lp.amount AS payment_amount, \
    lp.refunded_amount AS payment_refunded_amount, lp.merchant_uid AS payment_merchant_uid, \
    lp.imp_uid AS payment_imp_uid, sh.courier AS shipment_courier, \
    sh.invoice_number AS shipment_invoice_number, sh.sent_at AS shipment_sent_at";

/// Joins of `ORDER_VIEW_COLUMNS`; the latest payment is the one with the highest id. Order
/// the rows by `i.id` for the items' order.
pub(crate) const ORDER_VIEW_FROM: &str = "orders o \
    LEFT JOIN order_items i ON i.order_id = o.id \
    LEFT JOIN payments lp ON lp.id = (SELECT MAX(id) FROM payments WHERE order_id = o.id) \
    LEFT JOIN shipments sh ON sh.payment_id = lp.id";

/// The shipment of a row with the columns `shipment_courier`, `shipment_invoice_number`
/// and `shipment_sent_at` (all NULL: none).
pub(crate) fn shipment_from_row(row: &dyn ReadRow) -> AppResult<Option<ShipmentView>> {
    match row.opt_text("shipment_courier")? {
        Some(courier) => Ok(Some(ShipmentView {
            courier,
            invoice_number: row.text("shipment_invoice_number")?,
            sent_at: row.int("shipment_sent_at")?,
        })),
        None => Ok(None),
    }
}

/// One mapped row of an order view: on the first row the order with its latest payment
/// and shipment and what the statement reads after `ORDER_VIEW_COLUMNS`; on every row its
/// item, if any.
pub(crate) type OrderViewRow<H> = JoinedRow<(OrderView, H), OrderItem>;

/// Maps a row of `ORDER_VIEW_COLUMNS` (see [`joined_row`]); the first row also maps
/// `head_rest`, the statement's columns after them.
pub(crate) fn order_view_row<H>(
    row: &dyn ReadRow,
    head_wanted: &AtomicBool,
    head_rest: impl FnOnce(&dyn ReadRow) -> AppResult<H>,
) -> AppResult<OrderViewRow<H>> {
    joined_row(
        row,
        head_wanted,
        |row| Ok((order_head(row)?, head_rest(row)?)),
        |row| {
            let Some(item_id) = row.opt_int("item_id")? else {
                return Ok(None);
            };
            let item = OrderItem {
                product_id: row.int("item_product_id")?,
                name: row.text("item_name")?,
                price: row.int("item_price")?,
                quantity: row.int("item_quantity")?,
            };
            Ok(Some((item_id, item)))
        },
    )
}

/// The order of a row of `ORDER_VIEW_COLUMNS`, with its latest payment and shipment and
/// no items yet.
fn order_head(row: &dyn ReadRow) -> AppResult<OrderView> {
    let payment = match row.opt_int("payment_id")? {
        Some(payment_id) => Some(PaymentSummary {
            payment_id,
            status: row.text("payment_status")?,
            escrow_status: row.text("payment_escrow_status")?,
            amount: row.int("payment_amount")?,
            refunded_amount: row.int("payment_refunded_amount")?,
            merchant_uid: row.text("payment_merchant_uid")?,
            imp_uid: row.opt_text("payment_imp_uid")?,
        }),
        None => None,
    };
    Ok(OrderView {
        id: row.int("order_id")?,
        buyer_id: row.int("buyer_id")?,
        seller_id: row.int("seller_id")?,
        status: parse_order_status(&row.text("order_status")?)?,
        total_amount: row.int("total_amount")?,
        items: Vec::new(),
        shipping: Shipping {
            receiver_name: row.text("receiver_name")?,
            receiver_phone: row.text("receiver_phone")?,
            address: row.text("address")?,
            postcode: row.text("postcode")?,
        },
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        payment,
        shipment: shipment_from_row(row)?,
    })
}

/// Builds an order view from its rows, the items in id order; `None` when there are
/// none, i.e. no such order.
pub(crate) fn order_view_from_rows<H>(rows: Vec<OrderViewRow<H>>) -> Option<(OrderView, H)> {
    let ((mut view, rest), items) = assemble(rows)?;
    view.items = items;
    Some((view, rest))
}

/// Loads an order with its items, its latest payment and its shipment, in one statement
/// on the hot-read path ([`escrow_store::Reads`]).
pub async fn load_order(db: &Db, order_id: i64) -> AppResult<OrderView> {
    let sql = format!("SELECT {ORDER_VIEW_COLUMNS} FROM {ORDER_VIEW_FROM} WHERE o.id IN (?)");
    let head_wanted = AtomicBool::new(true);
    let rows = db
        .reads()
        .fetch_by_key(&sql, order_id, |row| {
            order_view_row(row, &head_wanted, |_| Ok(()))
        })
        .await?;
    order_view_from_rows(rows)
        .map(|(view, ())| view)
        .ok_or_else(|| AppError::NotFound(format!("order {order_id} does not exist")))
}
