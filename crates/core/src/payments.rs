//! Escrow payments: creation with amount pre-registration, verified completion (browser or
//! webhook, in any order, once), shipment, delivery, confirmation and release, cancels and
//! refunds (gateway first, then our record), disputes, settlements, the ledger, and
//! reconciliation with the gateway.
//!
//! Every state change is a conditional `UPDATE ... WHERE id = ? AND <expected state>`
//! inside one transaction with its history, ledger rows and outbox event; zero rows changed
//! means another request won, never a second effect.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::joined::{assemble, joined_row, JoinedRow};
use crate::orders::{
    self, load_order, return_stock, OrderView, Shipping, ORDER_VIEW_COLUMNS, ORDER_VIEW_FROM,
};
use crate::records::{self, account, Actor};
use crate::turns::Turns;
use escrow_domain::{EscrowStatus, OrderStatus, PaymentStatus, Role, Won};
use escrow_store::{now_millis, params, Db, Param, ReadRow, Tx};
use portone::{CancelRequest, PortOne, PortOneError};
use sqlx::Row;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the payment flows.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub imp_code: String,
    /// The PG named in the browser checkout.
    pub pg: String,
    /// Where the gateway sends webhooks: `<public url>/webhooks/portone`.
    pub notice_url: String,
    pub fee_bps: u32,
    pub auto_confirm_after: Duration,
}

/// A payment row with the order fields its rules need.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    pub amount: i64,
    pub refunded_amount: i64,
    pub released_amount: i64,
    pub status: PaymentStatus,
    pub escrow: bool,
    pub escrow_status: EscrowStatus,
    pub pg_provider: Option<String>,
    pub pay_method: Option<String>,
    pub paid_at: Option<i64>,
    pub failure_code: Option<String>,
    pub buyer_id: i64,
    pub seller_id: i64,
    pub order_status: OrderStatus,
    pub from_cart: bool,
}

impl PaymentRecord {
    /// What can still be refunded or released.
    pub fn left(&self) -> i64 {
        self.amount - self.refunded_amount - self.released_amount
    }
}

/// What the browser passes to `IMP.init` / `IMP.request_pay`.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub imp_code: String,
    pub pg: String,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: String,
    pub amount: i64,
    pub buyer_email: String,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_addr: String,
    pub buyer_postcode: String,
    pub escrow: bool,
    pub notice_url: String,
}

#[derive(Debug, Clone)]
pub struct PaymentCreated {
    pub payment: PaymentRecord,
    pub checkout: Checkout,
}

/// The seed's form of `POST /payments`, which creates the order too.
#[derive(Debug, Clone)]
pub struct SeedPayment {
    pub product_id: i64,
    pub quantity: i64,
    pub buyer_id: i64,
    pub seller_id: i64,
    pub price: i64,
    pub shipping: Option<Shipping>,
}

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: i64,
    pub entity: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
}

/// `GET /payments/{id}/status`.
#[derive(Debug, Clone)]
pub struct PaymentStatusView {
    pub payment: PaymentRecord,
    pub shipment: Option<orders::ShipmentView>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Release,
    Refund,
}

#[derive(Debug, Clone)]
pub struct Settlement {
    pub payment_id: i64,
    pub order_id: i64,
    pub gross_amount: i64,
    pub fee_amount: i64,
    pub net_amount: i64,
    pub released_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub paid: i64,
    pub refunded: i64,
    pub held: i64,
    pub released: i64,
    pub payments_checked: i64,
    /// Payments whose recorded amounts differ from their ledger rows.
    pub mismatched_payments: Vec<i64>,
    pub balanced: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileReport {
    pub checked: u64,
    pub repaired: u64,
}

#[derive(Clone)]
pub struct Payments {
    db: Db,
    gateway: Arc<dyn PortOne>,
    settings: Arc<PaymentSettings>,
    /// The buyer's completion and the gateway's webhook of one payment arrive together
    /// (the usual race): in turn, the second finds the payment verified and asks the
    /// gateway nothing (BENCHMARKS.md, round 11).
    verifying: Turns,
}

const PAYMENT_COLUMNS: &str =
    "p.id AS payment_id, p.order_id, p.merchant_uid, p.imp_uid, p.amount, \
    p.refunded_amount, p.released_amount, p.status AS payment_status, p.escrow, p.escrow_status, \
    p.pg_provider, p.pay_method, p.paid_at, p.failure_code, o.buyer_id, o.seller_id, \
    o.status AS order_status, o.from_cart";

/// Maps the columns of `PAYMENT_COLUMNS` (the row's others are the caller's).
fn record_from_row(row: &dyn ReadRow) -> AppResult<PaymentRecord> {
    let status = row.text("payment_status")?;
    let escrow_status = row.text("escrow_status")?;
    let order_status = row.text("order_status")?;
    Ok(PaymentRecord {
        id: row.int("payment_id")?,
        order_id: row.int("order_id")?,
        merchant_uid: row.text("merchant_uid")?,
        imp_uid: row.opt_text("imp_uid")?,
        amount: row.int("amount")?,
        refunded_amount: row.int("refunded_amount")?,
        released_amount: row.int("released_amount")?,
        status: PaymentStatus::parse(&status)
            .map_err(|e| AppError::internal("stored status", e))?,
        escrow: row.int("escrow")? != 0,
        escrow_status: EscrowStatus::parse(&escrow_status)
            .map_err(|e| AppError::internal("stored escrow status", e))?,
        pg_provider: row.opt_text("pg_provider")?,
        pay_method: row.opt_text("pay_method")?,
        paid_at: row.opt_int("paid_at")?,
        failure_code: row.opt_text("failure_code")?,
        buyer_id: row.int("buyer_id")?,
        seller_id: row.int("seller_id")?,
        order_status: orders::parse_order_status(&order_status)?,
        from_cart: row.int("from_cart")? != 0,
    })
}

fn gateway_error(err: PortOneError) -> AppError {
    tracing::warn!(gateway.error = err.kind(), error = %err, "gateway call failed");
    AppError::Gateway(err.kind().replace('_', " "))
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::InvalidState(message.into())
}

fn lost_race() -> AppError {
    AppError::Conflict("the payment changed meanwhile; reload it and retry".into())
}

/// A value `claim_order` sets beside the status.
#[derive(Debug, Clone, Copy)]
enum Set<'a> {
    Int(i64),
    Text(&'a str),
}

/// The conditional update of one order's status, without its history row; `also` names
/// more columns to set in the same statement (a transition's own fields).
async fn claim_order(
    tx: &mut Tx,
    order_id: i64,
    from: OrderStatus,
    to: OrderStatus,
    also: &[(&str, Set<'_>)],
) -> AppResult<()> {
    if !from.can_become(to) {
        return Err(invalid(format!(
            "an order that is {from} cannot become {to}"
        )));
    }
    let mut sql = String::from("UPDATE orders SET status = ?, updated_at = ?");
    for (column, _) in also {
        sql.push_str(", ");
        sql.push_str(column);
        sql.push_str(" = ?");
    }
    sql.push_str(" WHERE id = ? AND status = ?");
    let mut params = vec![Param::from(to.as_str()), Param::from(now_millis())];
    params.extend(also.iter().map(|(_, value)| match *value {
        Set::Int(v) => Param::from(v),
        Set::Text(v) => Param::from(v),
    }));
    params.extend([Param::from(order_id), Param::from(from.as_str())]);
    let changed = tx.execute(&sql, &params).await?;
    if changed == 0 {
        return Err(lost_race());
    }
    Ok(())
}

/// A conditional update of one order's status, with its history row.
async fn move_order(
    tx: &mut Tx,
    order_id: i64,
    from: OrderStatus,
    to: OrderStatus,
    actor: &Actor,
    reason: Option<&str>,
) -> AppResult<()> {
    move_order_setting(tx, order_id, from, to, &[], actor, reason).await
}

/// `move_order` that also sets the transition's own columns in the same UPDATE.
async fn move_order_setting(
    tx: &mut Tx,
    order_id: i64,
    from: OrderStatus,
    to: OrderStatus,
    also: &[(&str, Set<'_>)],
    actor: &Actor,
    reason: Option<&str>,
) -> AppResult<()> {
    claim_order(tx, order_id, from, to, also).await?;
    records::history(
        tx,
        order_id,
        "order",
        Some(from.as_str()),
        to.as_str(),
        actor,
        reason,
    );
    Ok(())
}

/// The history row of an escrow moving to `to`, when it has one.
fn escrow_change(p: &PaymentRecord, to: EscrowStatus) -> Option<records::Change<'static>> {
    (p.escrow && p.escrow_status.can_become(to)).then(|| records::Change {
        entity: "escrow",
        from: Some(p.escrow_status.as_str()),
        to: to.as_str(),
    })
}

fn escrow_history(
    tx: &mut Tx,
    p: &PaymentRecord,
    to: EscrowStatus,
    actor: &Actor,
    reason: Option<&str>,
) {
    if let Some(change) = escrow_change(p, to) {
        records::histories(tx, p.order_id, &[change], actor, reason);
    }
}

/// What the status view reads after `SELECT {PAYMENT_COLUMNS}, `: the shipment, and one
/// history row per result row (none: `history_id` is NULL), in one statement. A look-up by
/// key (`IN (?)`, see [`escrow_store::Reads::fetch_by_key`]), so its rows come in no
/// promised order: the history is sorted by id after.
const STATUS_VIEW_REST: &str = "s.courier AS shipment_courier, \
    s.invoice_number AS shipment_invoice_number, s.sent_at AS shipment_sent_at, h.id AS history_id, \
    h.at AS history_at, h.entity AS history_entity, h.from_state AS history_from, \
    h.to_state AS history_to, h.actor AS history_actor, h.reason AS history_reason \
    FROM payments p JOIN orders o ON o.id = p.order_id \
    LEFT JOIN shipments s ON s.payment_id = p.id \
    LEFT JOIN state_history h ON h.order_id = p.order_id \
    WHERE p.id IN (?)";

/// A payment with what the gateway's delivery registration names: the order's receiver
/// and the seller (`None` if the seller's row is gone).
struct ShipmentSubject {
    payment: PaymentRecord,
    receiver: Shipping,
    seller_name: Option<String>,
    seller_phone: Option<String>,
}

/// What `ship` reads after `SELECT {PAYMENT_COLUMNS}, `, by key.
const SHIPMENT_SUBJECT_REST: &str = "o.receiver_name, o.receiver_phone, o.address, o.postcode, \
    u.name AS seller_name, u.phone AS seller_phone \
    FROM payments p JOIN orders o ON o.id = p.order_id LEFT JOIN users u ON u.id = o.seller_id \
    WHERE p.id IN (?)";

/// Maps `PAYMENT_COLUMNS`, the receiver's four columns and the seller's two.
fn shipment_subject(row: &dyn ReadRow) -> AppResult<ShipmentSubject> {
    Ok(ShipmentSubject {
        payment: record_from_row(row)?,
        receiver: Shipping {
            receiver_name: row.text("receiver_name")?,
            receiver_phone: row.text("receiver_phone")?,
            address: row.text("address")?,
            postcode: row.text("postcode")?,
        },
        seller_name: row.opt_text("seller_name")?,
        seller_phone: row.opt_text("seller_phone")?,
    })
}

/// One mapped row of the status view: on the first row the payment and its shipment, on
/// every row one history entry, if any.
type StatusRow = JoinedRow<(PaymentRecord, Option<orders::ShipmentView>), HistoryEntry>;

/// Maps a status view row (see [`joined_row`]).
fn status_row(row: &dyn ReadRow, head_wanted: &AtomicBool) -> AppResult<StatusRow> {
    joined_row(
        row,
        head_wanted,
        |row| {
            let shipment = orders::shipment_from_row(row)?;
            Ok((record_from_row(row)?, shipment))
        },
        |row| {
            let Some(id) = row.opt_int("history_id")? else {
                return Ok(None);
            };
            let entry = HistoryEntry {
                at: row.int("history_at")?,
                entity: row.text("history_entity")?,
                from: row.opt_text("history_from")?,
                to: row.text("history_to")?,
                actor: row.text("history_actor")?,
                reason: row.opt_text("history_reason")?,
            };
            Ok(Some((id, entry)))
        },
    )
}

/// Builds the status view from its rows, the history in id order; `None` when there are
/// none.
fn status_view_from_rows(rows: Vec<StatusRow>) -> Option<PaymentStatusView> {
    let ((payment, shipment), history) = assemble(rows)?;
    Some(PaymentStatusView {
        payment,
        shipment,
        history,
    })
}

/// What `create` reads after `ORDER_VIEW_COLUMNS`: whether the order came from the cart,
/// the caller's contact details (`None` if the caller's row is gone), and the order's
/// latest unpaid payment.
struct PayerColumns {
    from_cart: bool,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    ready_id: Option<i64>,
}

fn payer_columns(row: &dyn ReadRow) -> AppResult<PayerColumns> {
    Ok(PayerColumns {
        from_cart: row.int("from_cart")? != 0,
        email: row.opt_text("payer_email")?,
        name: row.opt_text("payer_name")?,
        phone: row.opt_text("payer_phone")?,
        ready_id: row.opt_int("ready_payment_id")?,
    })
}

/// The merchant_uid of a new payment of an order: unique (the gateway refuses a repeated
/// one), and naming the order, so that a webhook's payment is found by its order's id.
fn new_merchant_uid(order_id: i64) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("escrow-{order_id}-{}", &unique[..12])
}

/// The order a merchant_uid of [`new_merchant_uid`]'s form names.
fn order_of_merchant_uid(merchant_uid: &str) -> Option<i64> {
    let (order_id, _) = merchant_uid.strip_prefix("escrow-")?.split_once('-')?;
    order_id.parse().ok()
}

/// Its buyer, its seller and admins may see a payment.
fn may_see(caller: Caller, payment: &PaymentRecord) -> AppResult<()> {
    if caller.is_admin()
        || caller.user_id == payment.buyer_id
        || caller.user_id == payment.seller_id
    {
        Ok(())
    } else {
        Err(AppError::Forbidden("this payment is not yours".into()))
    }
}

impl Payments {
    pub fn new(db: Db, gateway: Arc<dyn PortOne>, settings: PaymentSettings) -> Self {
        Self {
            db,
            gateway,
            settings: Arc::new(settings),
            verifying: Turns::default(),
        }
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// A primary-key look-up, so on the hot-read path ([`escrow_store::Reads`]): every
    /// payment call reads its payment first, and some read it again after their commit.
    pub async fn load(&self, payment_id: i64) -> AppResult<PaymentRecord> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id IN (?)");
        self.db
            .reads()
            .fetch_by_key(&sql, payment_id, record_from_row)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))
    }

    /// A webhook names its payment by merchant_uid, which names the payment's order
    /// ([`new_merchant_uid`]): the order's payments are read on the hot-read path (which
    /// binds only integers), and the one with this merchant_uid taken.
    async fn load_by_merchant_uid(&self, merchant_uid: &str) -> AppResult<PaymentRecord> {
        let not_found = || AppError::NotFound("no payment has this merchant_uid".into());
        let order_id = order_of_merchant_uid(merchant_uid).ok_or_else(not_found)?;
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.order_id = ?");
        self.db
            .reads()
            .fetch_all(&sql, &[order_id], record_from_row)
            .await?
            .into_iter()
            .find(|payment| payment.merchant_uid == merchant_uid)
            .ok_or_else(not_found)
    }

    /// Loads a payment its buyer, its seller or an admin may see.
    async fn load_for(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load(payment_id).await?;
        may_see(caller, &payment)?;
        Ok(payment)
    }

    /// The policy check of an action: 403 naming who may do it.
    fn only(allowed: bool, who: &str) -> AppResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("only {who} can do this")))
        }
    }

    // ---- creation ----

    /// Creates a payment for an order, registers its amount with the gateway first, and
    /// returns what the browser needs. An unpaid payment of the order is reused.
    pub async fn create(
        &self,
        caller: Caller,
        order_id: i64,
        escrow: bool,
    ) -> AppResult<PaymentCreated> {
        // One statement on the hot-read path: the order view, the caller's contact details,
        // and the order's latest unpaid payment (reused below). The status is our own
        // constant, so it is written into the text: the hot-read path binds only integers.
        let sql = format!(
            "SELECT {ORDER_VIEW_COLUMNS}, o.from_cart, u.email AS payer_email, \
             u.name AS payer_name, u.phone AS payer_phone, \
             (SELECT MAX(r.id) FROM payments r WHERE r.order_id = o.id AND r.status = '{ready}') \
             AS ready_payment_id \
             FROM {ORDER_VIEW_FROM} LEFT JOIN users u ON u.id = ? WHERE o.id = ?",
            ready = PaymentStatus::Ready.as_str(),
        );
        let head_wanted = AtomicBool::new(true);
        let rows = self
            .db
            .reads()
            .fetch_all(&sql, &[caller.user_id, order_id], |row| {
                orders::order_view_row(row, &head_wanted, payer_columns)
            })
            .await?;
        let (order, payer) = orders::order_view_from_rows(rows)
            .ok_or_else(|| AppError::NotFound(format!("order {order_id} does not exist")))?;
        if order.buyer_id != caller.user_id {
            return Err(AppError::Forbidden(
                "only the order's buyer can pay for it".into(),
            ));
        }
        if order.status != OrderStatus::PendingPayment || order.expires_at <= now_millis() {
            return Err(invalid(format!(
                "the order is {} and cannot be paid",
                order.status
            )));
        }
        // The caller's row must exist, as a lookup of it by id would require.
        let buyer_email = payer
            .email
            .ok_or_else(|| AppError::NotFound("no such user".into()))?;
        let PayerColumns {
            name: buyer_name,
            phone: buyer_phone,
            from_cart,
            ready_id: existing,
            ..
        } = payer;
        let payment = match existing {
            Some(id) => self.load(id).await?,
            None => {
                let merchant_uid = new_merchant_uid(order_id);
                // Gateway first: a payment we record is always one the gateway will hold to
                // this amount. A failure here leaves nothing behind.
                self.gateway
                    .prepare(&merchant_uid, order.total_amount)
                    .await
                    .map_err(gateway_error)?;
                crate::chaos::crash_point("after-gateway-prepare");
                let now = now_millis();
                let mut tx = self.db.begin().await?;
                let escrow_status = if escrow {
                    EscrowStatus::Pending
                } else {
                    EscrowStatus::Inactive
                };
                let id = tx
                    .insert_returning_id(
                        "INSERT INTO payments (order_id, merchant_uid, amount, status, escrow, escrow_status, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        params![
                            order_id,
                            &merchant_uid,
                            order.total_amount,
                            PaymentStatus::Ready.as_str(),
                            i64::from(escrow),
                            escrow_status.as_str(),
                            now,
                            now
                        ],
                    )
                    .await?;
                let actor = Actor::member(caller.role, caller.user_id);
                records::history(
                    &mut tx,
                    order_id,
                    "payment",
                    None,
                    PaymentStatus::Ready.as_str(),
                    &actor,
                    None,
                );
                tx.commit().await?;
                // What the transaction wrote; no need to read it back.
                PaymentRecord {
                    id,
                    order_id,
                    merchant_uid,
                    imp_uid: None,
                    amount: order.total_amount,
                    refunded_amount: 0,
                    released_amount: 0,
                    status: PaymentStatus::Ready,
                    escrow,
                    escrow_status: if escrow {
                        EscrowStatus::Pending
                    } else {
                        EscrowStatus::Inactive
                    },
                    pg_provider: None,
                    pay_method: None,
                    paid_at: None,
                    failure_code: None,
                    buyer_id: order.buyer_id,
                    seller_id: order.seller_id,
                    order_status: order.status,
                    from_cart,
                }
            }
        };
        let name = match order.items.as_slice() {
            [only] => only.name.clone(),
            [first, rest @ ..] => format!("{} 외 {}건", first.name, rest.len()),
            [] => format!("주문 {order_id}"),
        };
        let checkout = Checkout {
            imp_code: self.settings.imp_code.clone(),
            pg: self.settings.pg.clone(),
            pay_method: "card".into(),
            merchant_uid: payment.merchant_uid.clone(),
            name,
            amount: payment.amount,
            buyer_email,
            buyer_name: buyer_name.unwrap_or_default(),
            buyer_tel: buyer_phone.unwrap_or_default(),
            buyer_addr: order.shipping.address.clone(),
            buyer_postcode: order.shipping.postcode.clone(),
            escrow: payment.escrow,
            notice_url: self.settings.notice_url.clone(),
        };
        Ok(PaymentCreated { payment, checkout })
    }

    /// The seed's form: checks what the client claims against the server's truth, then
    /// creates the order and its payment.
    pub async fn create_seed(
        &self,
        caller: Caller,
        orders: &orders::Orders,
        seed: SeedPayment,
        escrow: bool,
    ) -> AppResult<PaymentCreated> {
        if seed.buyer_id != caller.user_id {
            return Err(AppError::Forbidden(
                "buyer_id must be your own user id".into(),
            ));
        }
        if !(1..=orders::MAX_QUANTITY).contains(&seed.quantity) {
            return Err(AppError::field(
                "quantity",
                format!("must be between 1 and {}", orders::MAX_QUANTITY),
            ));
        }
        let product = sqlx::query(
            "SELECT seller_id, price FROM products WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(seed.product_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("product {} does not exist", seed.product_id)))?;
        let seller_id: i64 = product.try_get("seller_id")?;
        let price: i64 = product.try_get("price")?;
        if seed.seller_id != seller_id {
            return Err(AppError::Forbidden(
                "seller_id is not this product's seller".into(),
            ));
        }
        let total = Won::new(price)
            .and_then(|p| p.times(seed.quantity))
            .map_err(|e| AppError::field("quantity", e.to_string()))?;
        if seed.price != total.get() {
            return Err(AppError::AmountMismatch(format!(
                "price must be the server's total, {} won",
                total.get()
            )));
        }
        let shipping = match seed.shipping {
            Some(shipping) => shipping,
            None => {
                let buyer = sqlx::query("SELECT name, phone FROM users WHERE id = ?")
                    .bind(caller.user_id)
                    .fetch_one(self.db.pool())
                    .await?;
                Shipping {
                    receiver_name: buyer.try_get("name")?,
                    receiver_phone: buyer
                        .try_get::<Option<String>, _>("phone")?
                        .unwrap_or_else(|| "-".into()),
                    address: "-".into(),
                    postcode: "00000".into(),
                }
            }
        };
        let created = orders
            .create(
                caller,
                orders::OrderSource::Lines(vec![(seed.product_id, seed.quantity)]),
                shipping,
            )
            .await?;
        let order_id = created
            .first()
            .map(|order| order.id)
            .ok_or_else(|| AppError::Internal("no order created".into()))?;
        self.create(caller, order_id, escrow).await
    }

    // ---- completion and synchronisation with the gateway ----

    /// The browser's report of a finished checkout: verified with the gateway, never trusted.
    pub async fn complete(
        &self,
        caller: Caller,
        payment_id: i64,
        imp_uid: &str,
    ) -> AppResult<PaymentStatusView> {
        let mut payment = self.load_for(caller, payment_id).await?;
        Self::only(caller.user_id == payment.buyer_id, "the buyer")?;
        if Self::verified_paid(&payment, imp_uid) {
            // A repeated callback, or one the webhook beat: nothing to ask the gateway.
            return self.status_view(payment_id).await;
        }
        let turn = self.verifying.take(payment.id).await;
        if turn.waited {
            payment = self.load(payment_id).await?;
            if Self::verified_paid(&payment, imp_uid) {
                // The webhook verified it while we waited.
                drop(turn);
                return self.status_view(payment_id).await;
            }
        }
        let gw = self
            .gateway
            .get_payment(imp_uid)
            .await
            .map_err(|err| match err {
                PortOneError::NotFound { .. } => {
                    AppError::field("imp_uid", "the gateway has no such payment")
                }
                other => gateway_error(other),
            })?;
        if gw.merchant_uid != payment.merchant_uid {
            return Err(AppError::field(
                "imp_uid",
                "this gateway payment belongs to another order",
            ));
        }
        self.apply_gateway(&payment, &gw, &Actor::member(caller.role, caller.user_id))
            .await?;
        drop(turn);
        // Read back (a racing webhook may have written instead of us) with the shipment and
        // the history, in one statement.
        let after = self.status_view(payment_id).await?;
        if after.payment.status == PaymentStatus::Failed
            && after.payment.failure_code.as_deref() == Some("amount_mismatch")
        {
            return Err(AppError::AmountMismatch(
                "the amount paid differs from the order; the payment was cancelled".into(),
            ));
        }
        Ok(after)
    }

    /// A webhook: only a hint to look the payment up at the gateway. `notice_status` is
    /// the status the notice claims; it is never trusted, only used to skip the look-up
    /// when the notice could not change anything.
    pub async fn webhook(
        &self,
        imp_uid: &str,
        merchant_uid: &str,
        notice_status: Option<&str>,
    ) -> AppResult<bool> {
        let mut payment = self.load_by_merchant_uid(merchant_uid).await?;
        // The notice of a payment the completion already verified and recorded (the usual
        // race): a look-up would find what we hold. Cancels still look it up.
        let known = |payment: &PaymentRecord| {
            notice_status == Some("paid") && Self::verified_paid(payment, imp_uid)
        };
        if known(&payment) {
            return Ok(false);
        }
        let turn = self.verifying.take(payment.id).await;
        if turn.waited {
            payment = self.load_by_merchant_uid(merchant_uid).await?;
            if known(&payment) {
                return Ok(false);
            }
        }
        let gw = self
            .gateway
            .get_payment(imp_uid)
            .await
            .map_err(|err| match err {
                PortOneError::NotFound { .. } => {
                    AppError::NotFound("the gateway has no such payment".into())
                }
                other => gateway_error(other),
            })?;
        if gw.merchant_uid != payment.merchant_uid {
            return Err(AppError::NotFound(
                "no such payment for this merchant_uid".into(),
            ));
        }
        self.apply_gateway(&payment, &gw, &Actor::gateway()).await
    }

    /// Whether we already fetched `imp_uid` from the gateway, found it paid, and hold its
    /// money: only then is its look-up worth skipping (a refused payment may still need
    /// its cancel finished, an unpaid one its verification).
    fn verified_paid(payment: &PaymentRecord, imp_uid: &str) -> bool {
        payment.status.holds_money() && payment.imp_uid.as_deref() == Some(imp_uid)
    }

    /// Brings our record in line with the gateway's. Returns whether anything changed.
    /// The one place that turns gateway state into ours: completion, webhooks, expiry
    /// checks and reconciliation all come here.
    async fn apply_gateway(
        &self,
        payment: &PaymentRecord,
        gw: &portone::Payment,
        actor: &Actor,
    ) -> AppResult<bool> {
        use portone::PaymentStatus as Gw;
        crate::chaos::crash_point("after-gateway-fetch");
        match (payment.status, gw.status) {
            (PaymentStatus::Ready, Gw::Paid) => {
                // Everything the buyer's browser could have changed: the amount, escrow
                // turned off, another currency.
                let matches = gw.amount == payment.amount
                    && gw.cancel_amount == 0
                    && gw.escrow == payment.escrow
                    && gw.currency.eq_ignore_ascii_case("KRW");
                if matches {
                    self.mark_paid(payment, gw, actor).await
                } else {
                    self.refuse_mismatch(payment, gw, actor)
                        .await
                        .map(|()| true)
                }
            }
            (PaymentStatus::Ready, Gw::Failed) => {
                let reason = gw
                    .fail_reason
                    .as_deref()
                    .unwrap_or("the gateway refused the payment");
                let mut tx = self.db.begin().await?;
                let won = Self::close_ready(
                    &mut tx,
                    payment,
                    &gw.imp_uid,
                    PaymentStatus::Failed,
                    "gateway_failed",
                    actor,
                    reason,
                )
                .await?;
                tx.commit().await?;
                Ok(won)
            }
            (PaymentStatus::Paid | PaymentStatus::PartiallyRefunded, Gw::Paid | Gw::Cancelled)
                if gw.cancel_amount > payment.refunded_amount =>
            {
                // Refunds the gateway did that we have not recorded (a crash, a lost answer,
                // a cancel in the gateway's console).
                let delta = gw.cancel_amount - payment.refunded_amount;
                let mut tx = self.db.begin().await?;
                self.record_refund(
                    &mut tx,
                    payment,
                    delta,
                    actor,
                    "recorded from the gateway's record",
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }
            (PaymentStatus::Failed | PaymentStatus::Cancelled, Gw::Paid)
                if gw.cancellable_amount() > 0 =>
            {
                // We refused this payment (mismatch, late payment) but the gateway still
                // holds the money: finish the cancel.
                self.cancel_refused(gw).await
            }
            _ => Ok(false),
        }
    }

    /// Cancels in full a payment we refused. Racing callers (a completion and a webhook)
    /// may both try; the gateway refuses the second, which is success for us once the
    /// gateway shows nothing left to cancel.
    async fn cancel_refused(&self, gw: &portone::Payment) -> AppResult<bool> {
        let request = CancelRequest::full(
            gw.imp_uid.clone(),
            gw.cancellable_amount(),
            "escrow: refused payment",
        );
        match self.gateway.cancel(&request).await {
            Ok(_) => Ok(true),
            Err(PortOneError::Refused { .. }) => {
                let now = self
                    .gateway
                    .get_payment(&gw.imp_uid)
                    .await
                    .map_err(gateway_error)?;
                if now.cancellable_amount() == 0 {
                    Ok(false)
                } else {
                    Err(AppError::Gateway(
                        "the gateway refused to cancel a refused payment".into(),
                    ))
                }
            }
            Err(err) => Err(gateway_error(err)),
        }
    }

    async fn mark_paid(
        &self,
        payment: &PaymentRecord,
        gw: &portone::Payment,
        actor: &Actor,
    ) -> AppResult<bool> {
        let mut tx = self.db.begin().await?;
        let escrow_to = if payment.escrow {
            EscrowStatus::Held
        } else {
            EscrowStatus::Inactive
        };
        let paid_at = if gw.paid_at > 0 {
            gw.paid_at * 1000
        } else {
            now_millis()
        };
        let changed = tx
            .execute(
                "UPDATE payments SET status = ?, imp_uid = ?, pg_provider = ?, pay_method = ?, \
                 paid_at = ?, escrow_status = ?, updated_at = ? WHERE id = ? AND status = ?",
                params![
                    PaymentStatus::Paid.as_str(),
                    &gw.imp_uid,
                    gw.pg_provider.as_deref(),
                    gw.pay_method.as_deref(),
                    paid_at,
                    escrow_to.as_str(),
                    now_millis(),
                    payment.id,
                    PaymentStatus::Ready.as_str(),
                ],
            )
            .await?;
        if changed == 0 {
            // Someone else completed it first. On SQLite the other's change may still
            // wait for a COMMIT this one shares, and the caller answers from it next: a
            // commit (of nothing) waits for that COMMIT without blocking, where dropping
            // would make the rollback sync it on this thread.
            tx.commit().await?;
            return Ok(false);
        }
        let order_moved = tx
            .execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                params![
                    OrderStatus::Paid.as_str(),
                    now_millis(),
                    payment.order_id,
                    OrderStatus::PendingPayment.as_str()
                ],
            )
            .await?;
        if order_moved == 0 {
            // The order expired or was cancelled before the money arrived: its stock is gone,
            // so the payment is refused and given back.
            drop(tx);
            return self.refuse_late(payment, gw, actor).await.map(|()| true);
        }
        let changes = [
            records::Change {
                entity: "payment",
                from: Some("ready"),
                to: "paid",
            },
            records::Change {
                entity: "order",
                from: Some("pending_payment"),
                to: "paid",
            },
            records::Change {
                entity: "escrow",
                from: Some("pending"),
                to: "held",
            },
        ];
        let changes = if payment.escrow {
            &changes[..]
        } else {
            &changes[..2]
        };
        records::histories(&mut tx, payment.order_id, changes, actor, None);
        records::ledger(
            &mut tx,
            payment.id,
            "capture",
            account::BUYER,
            account::ESCROW,
            payment.amount,
        );
        if payment.from_cart {
            tx.execute(
                "DELETE FROM cart_items WHERE buyer_id = ? AND product_id IN \
                 (SELECT product_id FROM order_items WHERE order_id = ?)",
                params![payment.buyer_id, payment.order_id],
            )
            .await?;
        }
        records::event(
            &mut tx,
            "payment.paid",
            payment.order_id,
            serde_json::json!({"payment_id": payment.id, "amount": payment.amount, "imp_uid": gw.imp_uid}),
        );
        tx.commit().await?;
        Ok(true)
    }

    /// Closes a `ready` payment the gateway reported on, with its history row, in `tx`:
    /// the conditional claim that makes racing callers do what follows once. Returns
    /// whether this caller won.
    async fn close_ready(
        tx: &mut Tx,
        payment: &PaymentRecord,
        imp_uid: &str,
        to: PaymentStatus,
        failure_code: &str,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<bool> {
        let claimed = tx
            .execute(
                "UPDATE payments SET status = ?, imp_uid = ?, failure_code = ?, updated_at = ? \
                 WHERE id = ? AND status = ?",
                params![
                    to.as_str(),
                    imp_uid,
                    failure_code,
                    now_millis(),
                    payment.id,
                    PaymentStatus::Ready.as_str(),
                ],
            )
            .await?;
        if claimed == 0 {
            return Ok(false);
        }
        records::history(
            tx,
            payment.order_id,
            "payment",
            Some("ready"),
            to.as_str(),
            actor,
            Some(reason),
        );
        Ok(true)
    }

    /// The gateway's amount differs from the order's: claim the failure first (so racing
    /// completions do it once), give the stock back, then cancel at the gateway at once.
    async fn refuse_mismatch(
        &self,
        payment: &PaymentRecord,
        gw: &portone::Payment,
        actor: &Actor,
    ) -> AppResult<()> {
        let reason = format!(
            "amount_mismatch: paid {} {} (escrow {}) for an order of {} KRW (escrow {})",
            gw.amount, gw.currency, gw.escrow, payment.amount, payment.escrow
        );
        let mut tx = self.db.begin().await?;
        if !Self::close_ready(
            &mut tx,
            payment,
            &gw.imp_uid,
            PaymentStatus::Failed,
            "amount_mismatch",
            actor,
            &reason,
        )
        .await?
        {
            return Ok(());
        }
        if payment.order_status == OrderStatus::PendingPayment {
            move_order(
                &mut tx,
                payment.order_id,
                OrderStatus::PendingPayment,
                OrderStatus::Cancelled,
                actor,
                Some(&reason),
            )
            .await?;
            return_stock(&mut tx, payment.order_id).await?;
        }
        records::event(
            &mut tx,
            "payment.failed",
            payment.order_id,
            serde_json::json!({"payment_id": payment.id, "code": "amount_mismatch"}),
        );
        tx.commit().await?;
        tracing::warn!(payment.id = payment.id, payment.imp_uid = %gw.imp_uid, "amount mismatch: cancelling at the gateway");
        if let Err(err) = self.cancel_refused(gw).await {
            // Reconciliation finishes it: a failed payment still paid at the gateway.
            tracing::error!(payment.id = payment.id, error = %err, "cancelling a mismatched payment failed");
        }
        Ok(())
    }

    /// Money arrived for an order that is no longer payable.
    async fn refuse_late(
        &self,
        payment: &PaymentRecord,
        gw: &portone::Payment,
        actor: &Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        if !Self::close_ready(
            &mut tx,
            payment,
            &gw.imp_uid,
            PaymentStatus::Cancelled,
            "order_closed",
            actor,
            "paid after the order closed",
        )
        .await?
        {
            return Ok(());
        }
        tx.commit().await?;
        if let Err(err) = self.cancel_refused(gw).await {
            tracing::error!(payment.id = payment.id, error = %err, "cancelling a late payment failed");
        }
        Ok(())
    }

    // ---- reads ----

    pub async fn status(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentStatusView> {
        let view = self.status_view(payment_id).await?;
        may_see(caller, &view.payment)?;
        Ok(view)
    }

    /// The payment with its shipment and its order's history, in one statement.
    async fn status_view(&self, payment_id: i64) -> AppResult<PaymentStatusView> {
        let sql = format!("SELECT {PAYMENT_COLUMNS}, {STATUS_VIEW_REST}");
        let head_wanted = AtomicBool::new(true);
        let rows = self
            .db
            .reads()
            .fetch_by_key(&sql, payment_id, |row| status_row(row, &head_wanted))
            .await?;
        status_view_from_rows(rows)
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))
    }

    pub async fn order_view(&self, payment: &PaymentRecord) -> AppResult<OrderView> {
        load_order(&self.db, payment.order_id).await
    }

    // ---- shipment, delivery, confirmation ----

    /// Registers (or updates) the delivery with the gateway's escrow API, then records it.
    /// Returns the payment as it is after the shipment (its order `shipping`).
    pub async fn ship(
        &self,
        caller: Caller,
        payment_id: i64,
        courier: &str,
        invoice: &str,
        sent_at: Option<i64>,
    ) -> AppResult<PaymentRecord> {
        // One statement: the payment, and the receiver and the seller the gateway's
        // delivery registration names.
        let sql = format!("SELECT {PAYMENT_COLUMNS}, {SHIPMENT_SUBJECT_REST}");
        let ShipmentSubject {
            payment,
            receiver,
            seller_name,
            seller_phone,
        } = self
            .db
            .reads()
            .fetch_by_key(&sql, payment_id, shipment_subject)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))?;
        may_see(caller, &payment)?;
        Self::only(caller.user_id == payment.seller_id, "the seller")?;
        let first = match payment.order_status {
            OrderStatus::Paid => true,
            OrderStatus::Shipping => false,
            other => return Err(invalid(format!("a {other} order cannot be shipped"))),
        };
        let sent_at = sent_at.unwrap_or_else(now_millis);
        if payment.escrow {
            let imp_uid = payment
                .imp_uid
                .clone()
                .ok_or_else(|| invalid("the payment has no gateway id"))?;
            let shipping = receiver;
            // The seller's row must exist, as a lookup of it by id would require.
            let seller_name = seller_name.ok_or(sqlx::Error::RowNotFound)?;
            let logis = portone::EscrowLogis {
                sender: portone::EscrowSender {
                    name: Some(seller_name),
                    tel: Some(seller_phone.unwrap_or_else(|| "-".into())),
                    addr: Some("-".into()),
                    postcode: Some("00000".into()),
                    relationship: Some("판매자".into()),
                },
                logis: portone::EscrowLogisInfo {
                    company: courier.to_string(),
                    invoice: invoice.to_string(),
                    sent_at: sent_at / 1000,
                    receiving_at: None,
                    address: Some(shipping.address.clone()),
                },
                receiver: portone::EscrowReceiver {
                    name: Some(shipping.receiver_name),
                    tel: Some(shipping.receiver_phone),
                    addr: Some(shipping.address),
                    postcode: Some(shipping.postcode),
                },
            };
            let registered = if first {
                self.gateway.register_escrow_logis(&imp_uid, &logis).await
            } else {
                self.gateway.update_escrow_logis(&imp_uid, &logis).await
            };
            match registered {
                Ok(_) => {}
                // Registered by an earlier attempt whose answer we lost: update instead.
                Err(PortOneError::Refused { status: 409, .. }) if first => {
                    self.gateway
                        .update_escrow_logis(&imp_uid, &logis)
                        .await
                        .map_err(gateway_error)?;
                }
                Err(err) => return Err(gateway_error(err)),
            }
        }
        let actor = Actor::member(caller.role, caller.user_id);
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let insert = "INSERT INTO shipments (payment_id, courier, invoice_number, sent_at, registered_at, updated_at) \
            VALUES (?, ?, ?, ?, ?, ?)";
        let insert_params = params![payment.id, courier, invoice, sent_at, now, now];
        if first {
            // Claiming the paid order first makes this the one first shipment: a shipment
            // row is only written together with this move, so there is none to update.
            move_order(
                &mut tx,
                payment.order_id,
                OrderStatus::Paid,
                OrderStatus::Shipping,
                &actor,
                Some(&format!("{courier} {invoice}")),
            )
            .await?;
            tx.execute(insert, insert_params).await?;
            records::event(
                &mut tx,
                "order.shipped",
                payment.order_id,
                serde_json::json!({"payment_id": payment.id, "courier": courier, "invoice_number": invoice}),
            );
        } else {
            let updated = tx
                .execute(
                    "UPDATE shipments SET courier = ?, invoice_number = ?, sent_at = ?, \
                     updated_at = ? WHERE payment_id = ?",
                    params![courier, invoice, sent_at, now, payment.id],
                )
                .await?;
            if updated == 0 {
                tx.execute(insert, insert_params).await?;
            }
        }
        tx.commit().await?;
        // Read again, not built from `payment`: a refund may have committed since it was read
        // (while the gateway registered the delivery, say), and the answer must show it.
        self.load(payment.id).await
    }

    /// Returns the payment as it is after the delivery (its order `delivered`).
    pub async fn delivered(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        Self::only(
            caller.user_id == payment.seller_id || caller.is_admin(),
            "the seller or an admin",
        )?;
        if payment.order_status != OrderStatus::Shipping {
            return Err(invalid(format!(
                "a {} order cannot be marked delivered",
                payment.order_status
            )));
        }
        let now = now_millis();
        let confirm_at = now
            + i64::try_from(self.settings.auto_confirm_after.as_millis()).unwrap_or(i64::MAX / 4);
        let actor = Actor::member(caller.role, caller.user_id);
        let mut tx = self.db.begin().await?;
        // The move and its dates in one UPDATE.
        move_order_setting(
            &mut tx,
            payment.order_id,
            OrderStatus::Shipping,
            OrderStatus::Delivered,
            &[
                ("delivered_at", Set::Int(now)),
                ("auto_confirm_at", Set::Int(confirm_at)),
            ],
            &actor,
            None,
        )
        .await?;
        records::event(
            &mut tx,
            "order.delivered",
            payment.order_id,
            serde_json::json!({"payment_id": payment.id, "auto_confirm_at": confirm_at}),
        );
        tx.commit().await?;
        // Read again: a refund may have committed since `payment` was read (see `ship`).
        self.load(payment.id).await
    }

    /// Returns the payment as the release left it.
    pub async fn confirm(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        Self::only(caller.user_id == payment.buyer_id, "the buyer")?;
        if !payment.order_status.awaits_confirmation() {
            return Err(invalid(format!(
                "a {} order cannot be confirmed",
                payment.order_status
            )));
        }
        let actor = Actor::member(caller.role, caller.user_id);
        let mut tx = self.db.begin().await?;
        let released = self
            .release(&mut tx, &payment, &actor, "purchase confirmed by the buyer")
            .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// Releases what is left of the payment to the seller, less the platform fee. Returns
    /// the payment as this leaves it (the conditional UPDATE pins every field it shows).
    async fn release(
        &self,
        tx: &mut Tx,
        p: &PaymentRecord,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<PaymentRecord> {
        if !p.status.holds_money() || p.released_amount > 0 {
            return Err(invalid(format!(
                "a {} payment cannot be released",
                p.status
            )));
        }
        let gross = p.left();
        let escrow_to = if p.escrow {
            EscrowStatus::Released
        } else {
            EscrowStatus::Inactive
        };
        let changed = tx
            .execute(
                "UPDATE payments SET released_amount = ?, escrow_status = ?, updated_at = ? \
             WHERE id = ? AND released_amount = 0 AND refunded_amount = ? AND status = ?",
                params![
                    gross,
                    escrow_to.as_str(),
                    now_millis(),
                    p.id,
                    p.refunded_amount,
                    p.status.as_str()
                ],
            )
            .await?;
        if changed == 0 {
            return Err(lost_race());
        }
        claim_order(tx, p.order_id, p.order_status, OrderStatus::Confirmed, &[]).await?;
        // The order's and the escrow's history rows in one INSERT.
        let order_change = records::Change {
            entity: "order",
            from: Some(p.order_status.as_str()),
            to: OrderStatus::Confirmed.as_str(),
        };
        let changes: Vec<records::Change<'_>> = std::iter::once(order_change)
            .chain(escrow_change(p, EscrowStatus::Released))
            .collect();
        records::histories(tx, p.order_id, &changes, actor, Some(reason));
        let fee = Won::new(gross)
            .map(|g| g.fee(self.settings.fee_bps).get())
            .unwrap_or(0);
        let now = now_millis();
        tx.execute(
            "INSERT INTO settlements (payment_id, seller_id, gross_amount, fee_amount, \
             net_amount, released_at) VALUES (?, ?, ?, ?, ?, ?)",
            params![p.id, p.seller_id, gross, fee, gross - fee, now],
        )
        .await?;
        records::ledger(tx, p.id, "release", account::ESCROW, account::SELLER, gross);
        records::event(
            tx,
            "escrow.released",
            p.order_id,
            serde_json::json!({"payment_id": p.id, "gross_amount": gross, "fee_amount": fee}),
        );
        Ok(PaymentRecord {
            released_amount: gross,
            escrow_status: escrow_to,
            order_status: OrderStatus::Confirmed,
            ..p.clone()
        })
    }

    // ---- cancels and refunds ----

    /// Before shipment, by the buyer or the seller: an unpaid order is simply cancelled; a
    /// paid one is cancelled in full at the gateway first.
    pub async fn cancel(
        &self,
        caller: Caller,
        payment_id: i64,
        reason: Option<&str>,
    ) -> AppResult<PaymentRecord> {
        let mut payment = self.load_for(caller, payment_id).await?;
        Self::only(
            caller.user_id == payment.buyer_id || caller.user_id == payment.seller_id,
            "the buyer or the seller",
        )?;
        let actor = Actor::member(caller.role, caller.user_id);
        let reason = reason.unwrap_or("cancelled");
        if payment.order_status == OrderStatus::PendingPayment
            && payment.status == PaymentStatus::Ready
        {
            // The buyer may have just paid: ask the gateway before cancelling.
            if let Some(gw) = self.find_at_gateway(&payment).await? {
                if self.apply_gateway(&payment, &gw, &Actor::gateway()).await? {
                    payment = self.load(payment_id).await?;
                }
            }
        }
        match (payment.order_status, payment.status) {
            (OrderStatus::PendingPayment, PaymentStatus::Ready | PaymentStatus::Failed) => {
                let mut tx = self.db.begin().await?;
                move_order(
                    &mut tx,
                    payment.order_id,
                    OrderStatus::PendingPayment,
                    OrderStatus::Cancelled,
                    &actor,
                    Some(reason),
                )
                .await?;
                let changed = tx
                    .execute(
                        "UPDATE payments SET status = ?, updated_at = ? WHERE id = ? AND \
                         status = ?",
                        params![
                            PaymentStatus::Cancelled.as_str(),
                            now_millis(),
                            payment.id,
                            PaymentStatus::Ready.as_str(),
                        ],
                    )
                    .await?;
                if changed > 0 {
                    records::history(
                        &mut tx,
                        payment.order_id,
                        "payment",
                        Some("ready"),
                        "cancelled",
                        &actor,
                        Some(reason),
                    );
                }
                return_stock(&mut tx, payment.order_id).await?;
                records::event(
                    &mut tx,
                    "order.cancelled",
                    payment.order_id,
                    serde_json::json!({"payment_id": payment.id}),
                );
                tx.commit().await?;
            }
            (OrderStatus::Paid, PaymentStatus::Paid | PaymentStatus::PartiallyRefunded) => {
                self.refund_at_gateway(&payment, payment.left(), &actor, reason)
                    .await?;
            }
            (order, _) => {
                return Err(invalid(format!(
                    "a {order} order cannot be cancelled; open a dispute or ask for a refund"
                )))
            }
        }
        self.load(payment_id).await
    }

    /// Refunds all or part of what is left, by the rules of the contract.
    pub async fn refund(
        &self,
        caller: Caller,
        payment_id: i64,
        amount: Option<i64>,
        reason: &str,
    ) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        let is_buyer = caller.user_id == payment.buyer_id;
        let is_seller = caller.user_id == payment.seller_id;
        Self::only(
            is_buyer || is_seller || caller.is_admin(),
            "the buyer, the seller or an admin",
        )?;
        if !payment.status.holds_money()
            || payment.released_amount > 0
            || payment.order_status.is_final()
        {
            return Err(invalid(format!(
                "a {} payment of a {} order cannot be refunded",
                payment.status, payment.order_status
            )));
        }
        let left = payment.left();
        let amount = amount.unwrap_or(left);
        if amount <= 0 {
            return Err(AppError::field("amount", "must be greater than 0"));
        }
        if amount > left {
            return Err(AppError::RefundExceedsBalance(format!(
                "only {left} won is left to refund"
            )));
        }
        if is_buyer && !is_seller && !caller.is_admin() {
            if payment.order_status != OrderStatus::Paid {
                return Err(invalid(
                    "after shipment the buyer opens a dispute instead of a refund",
                ));
            }
            if amount != left {
                return Err(AppError::field("amount", "a buyer refunds in full"));
            }
        }
        let actor = Actor::member(caller.role, caller.user_id);
        self.refund_at_gateway(&payment, amount, &actor, reason)
            .await?;
        self.load(payment_id).await
    }

    /// The gateway first (with the checksum, so a stale view can never refund twice), then
    /// our record. A failure leaves our record as it was: 502, and a retry is safe.
    async fn refund_at_gateway(
        &self,
        p: &PaymentRecord,
        amount: i64,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<()> {
        let imp_uid = p
            .imp_uid
            .clone()
            .ok_or_else(|| invalid("the payment has no gateway id"))?;
        let left = p.left();
        let request = if amount == left {
            CancelRequest::full(imp_uid.clone(), left, reason)
        } else {
            CancelRequest::partial(imp_uid.clone(), amount, left, reason)
        };
        match self.gateway.cancel(&request).await {
            Ok(gw) => {
                crate::chaos::crash_point("after-gateway-cancel");
                let mut tx = self.db.begin().await?;
                match self.record_refund(&mut tx, p, amount, actor, reason).await {
                    Ok(()) => {
                        tx.commit().await?;
                        Ok(())
                    }
                    Err(AppError::Conflict(_)) => {
                        drop(tx);
                        // Someone recorded meanwhile (reconciliation); converge on the gateway.
                        let fresh = self.load(p.id).await?;
                        self.apply_gateway(&fresh, &gw, actor).await.map(|_| ())
                    }
                    Err(err) => Err(err),
                }
            }
            Err(PortOneError::Refused { message, .. }) => {
                // Usually a checksum mismatch: our view is stale. Converge, then report.
                if let Ok(gw) = self.gateway.get_payment(&imp_uid).await {
                    let fresh = self.load(p.id).await?;
                    self.apply_gateway(&fresh, &gw, &Actor::gateway()).await?;
                }
                Err(AppError::Conflict(format!(
                    "the gateway refused the refund ({message}); reload the payment"
                )))
            }
            Err(err) => Err(gateway_error(err)),
        }
    }

    /// Records `amount` refunded, in the caller's transaction. When that empties the escrow
    /// the order ends: `cancelled` (stock back) if it had not shipped, else `refunded`; and
    /// the payment `cancelled` if it was returned in one go, else `refunded`.
    async fn record_refund(
        &self,
        tx: &mut Tx,
        p: &PaymentRecord,
        amount: i64,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<()> {
        let total = p.refunded_amount + amount;
        let full = total + p.released_amount >= p.amount;
        let before_shipment = p.order_status == OrderStatus::Paid;
        let to_status = match full {
            false => PaymentStatus::PartiallyRefunded,
            true if before_shipment && p.refunded_amount == 0 => PaymentStatus::Cancelled,
            true => PaymentStatus::Refunded,
        };
        if !p.status.can_become(to_status) {
            return Err(invalid(format!(
                "a {} payment cannot become {to_status}",
                p.status
            )));
        }
        let escrow_to = if full && p.escrow {
            EscrowStatus::Returned
        } else {
            p.escrow_status
        };
        let changed = tx
            .execute(
                "UPDATE payments SET refunded_amount = ?, status = ?, escrow_status = ?, \
                 updated_at = ? WHERE id = ? AND refunded_amount = ? AND status = ?",
                params![
                    total,
                    to_status.as_str(),
                    escrow_to.as_str(),
                    now_millis(),
                    p.id,
                    p.refunded_amount,
                    p.status.as_str(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(lost_race());
        }
        records::history(
            tx,
            p.order_id,
            "payment",
            Some(p.status.as_str()),
            to_status.as_str(),
            actor,
            Some(reason),
        );
        records::ledger(
            tx,
            p.id,
            "refund",
            account::ESCROW,
            account::REFUNDS,
            amount,
        );
        if full {
            escrow_history(tx, p, EscrowStatus::Returned, actor, Some(reason));
            let to_order = if before_shipment {
                OrderStatus::Cancelled
            } else {
                OrderStatus::Refunded
            };
            move_order(
                tx,
                p.order_id,
                p.order_status,
                to_order,
                actor,
                Some(reason),
            )
            .await?;
            if before_shipment {
                return_stock(tx, p.order_id).await?;
            }
        }
        records::event(
            tx,
            "payment.refunded",
            p.order_id,
            serde_json::json!({"payment_id": p.id, "amount": amount, "refunded_amount": total}),
        );
        Ok(())
    }

    // ---- disputes ----

    /// Returns the payment as it is after the dispute opened (its order `disputed`).
    pub async fn dispute(
        &self,
        caller: Caller,
        payment_id: i64,
        reason: &str,
    ) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        Self::only(caller.user_id == payment.buyer_id, "the buyer")?;
        if !payment.order_status.awaits_confirmation() {
            return Err(invalid(format!(
                "a {} order cannot be disputed",
                payment.order_status
            )));
        }
        let actor = Actor::member(caller.role, caller.user_id);
        let mut tx = self.db.begin().await?;
        // The move and where it came from in one UPDATE.
        move_order_setting(
            &mut tx,
            payment.order_id,
            payment.order_status,
            OrderStatus::Disputed,
            &[("disputed_from", Set::Text(payment.order_status.as_str()))],
            &actor,
            Some(reason),
        )
        .await?;
        records::event(
            &mut tx,
            "order.disputed",
            payment.order_id,
            serde_json::json!({"payment_id": payment.id, "reason": reason}),
        );
        tx.commit().await?;
        // Read again: a refund may have committed since `payment` was read (see `ship`).
        self.load(payment.id).await
    }

    /// An admin decides a dispute: release to the seller, or refund (all, or `amount` with
    /// the rest released).
    pub async fn resolve(
        &self,
        caller: Caller,
        payment_id: i64,
        outcome: Resolution,
        amount: Option<i64>,
    ) -> AppResult<PaymentRecord> {
        if caller.role != Role::Admin {
            return Err(AppError::Forbidden(
                "only an admin resolves disputes".into(),
            ));
        }
        let payment = self.load(payment_id).await?;
        if payment.order_status != OrderStatus::Disputed {
            return Err(invalid(format!(
                "a {} order has no dispute to resolve",
                payment.order_status
            )));
        }
        let actor = Actor::member(caller.role, caller.user_id);
        match outcome {
            Resolution::Release => {
                let mut tx = self.db.begin().await?;
                self.release(
                    &mut tx,
                    &payment,
                    &actor,
                    "dispute resolved: released to the seller",
                )
                .await?;
                tx.commit().await?;
            }
            Resolution::Refund => {
                let left = payment.left();
                let amount = amount.unwrap_or(left);
                if amount <= 0 {
                    return Err(AppError::field("amount", "must be greater than 0"));
                }
                if amount > left {
                    return Err(AppError::RefundExceedsBalance(format!(
                        "only {left} won is left to refund"
                    )));
                }
                self.refund_at_gateway(&payment, amount, &actor, "dispute resolved: refunded")
                    .await?;
                if amount < left {
                    let rest = self.load(payment_id).await?;
                    let mut tx = self.db.begin().await?;
                    self.release(
                        &mut tx,
                        &rest,
                        &actor,
                        "dispute resolved: the rest released",
                    )
                    .await?;
                    tx.commit().await?;
                }
            }
        }
        self.load(payment_id).await
    }

    // ---- settlements and the ledger ----

    pub async fn settlements(&self, caller: Caller) -> AppResult<Vec<Settlement>> {
        let rows = sqlx::query(
            "SELECT s.payment_id, p.order_id, s.gross_amount, s.fee_amount, s.net_amount, s.released_at \
             FROM settlements s JOIN payments p ON p.id = s.payment_id WHERE s.seller_id = ? ORDER BY s.payment_id DESC",
        )
        .bind(caller.user_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Settlement {
                    payment_id: row.try_get("payment_id")?,
                    order_id: row.try_get("order_id")?,
                    gross_amount: row.try_get("gross_amount")?,
                    fee_amount: row.try_get("fee_amount")?,
                    net_amount: row.try_get("net_amount")?,
                    released_at: row.try_get("released_at")?,
                })
            })
            .collect()
    }

    /// Totals from the ledger, and whether every payment's record agrees with its entries.
    pub async fn ledger(&self) -> AppResult<Ledger> {
        let rows = sqlx::query(
            "SELECT payment_id, kind, CAST(SUM(amount) AS SIGNED) AS total FROM ledger_entries GROUP BY payment_id, kind",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut per_payment: std::collections::BTreeMap<i64, (i64, i64, i64)> = Default::default();
        for row in rows {
            let id: i64 = row.try_get("payment_id")?;
            let kind: String = row.try_get("kind")?;
            let total: i64 = row.try_get("total")?;
            let entry = per_payment.entry(id).or_default();
            match kind.as_str() {
                "capture" => entry.0 += total,
                "refund" => entry.1 += total,
                "release" => entry.2 += total,
                _ => {}
            }
        }
        let payments = sqlx::query(
            "SELECT id, amount, refunded_amount, released_amount, status FROM payments WHERE paid_at IS NOT NULL",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut ledger = Ledger::default();
        for row in payments {
            let id: i64 = row.try_get("id")?;
            let amount: i64 = row.try_get("amount")?;
            let refunded: i64 = row.try_get("refunded_amount")?;
            let released: i64 = row.try_get("released_amount")?;
            let (paid, ledger_refunded, ledger_released) =
                per_payment.remove(&id).unwrap_or_default();
            let held = paid - ledger_refunded - ledger_released;
            ledger.payments_checked += 1;
            if paid != amount
                || ledger_refunded != refunded
                || ledger_released != released
                || held < 0
            {
                ledger.mismatched_payments.push(id);
            }
            ledger.paid += paid;
            ledger.refunded += ledger_refunded;
            ledger.released += ledger_released;
            ledger.held += held;
        }
        // Entries for payments never marked paid would be money from nowhere.
        ledger.mismatched_payments.extend(per_payment.keys());
        ledger.balanced = ledger.mismatched_payments.is_empty()
            && ledger.paid == ledger.refunded + ledger.held + ledger.released;
        Ok(ledger)
    }

    // ---- background work and reconciliation ----

    async fn find_at_gateway(
        &self,
        payment: &PaymentRecord,
    ) -> AppResult<Option<portone::Payment>> {
        let found = match &payment.imp_uid {
            Some(imp_uid) => self.gateway.get_payment(imp_uid).await,
            None => self.gateway.find_payment(&payment.merchant_uid).await,
        };
        match found {
            Ok(gw) if gw.merchant_uid == payment.merchant_uid => Ok(Some(gw)),
            Ok(_) | Err(PortOneError::NotFound { .. }) => Ok(None),
            Err(err) => Err(gateway_error(err)),
        }
    }

    /// Compares every payment that is not final with the gateway and repairs ours.
    pub async fn reconcile(&self) -> AppResult<ReconcileReport> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM payments WHERE status IN ('ready', 'paid', 'partially_refunded') \
             OR (status IN ('failed', 'cancelled') AND imp_uid IS NOT NULL AND failure_code IN ('amount_mismatch', 'order_closed')) \
             ORDER BY id LIMIT 1000",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut report = ReconcileReport::default();
        for id in ids {
            let payment = self.load(id).await?;
            report.checked += 1;
            match self.find_at_gateway(&payment).await {
                Ok(Some(gw)) => match self.apply_gateway(&payment, &gw, &Actor::system()).await {
                    Ok(true) => report.repaired += 1,
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(payment.id = id, error = %err, "reconciling a payment failed")
                    }
                },
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(payment.id = id, error = %err, "gateway lookup failed while reconciling")
                }
            }
        }
        Ok(report)
    }

    /// Expires unpaid orders past their time, giving their stock back. A payment the
    /// gateway already holds is completed instead.
    pub async fn expire_due(&self) -> AppResult<u64> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM orders WHERE status = ? AND expires_at <= ? ORDER BY expires_at LIMIT 100",
        )
        .bind(OrderStatus::PendingPayment.as_str())
        .bind(now_millis())
        .fetch_all(self.db.pool())
        .await?;
        let mut expired = 0;
        for order_id in ids {
            let payment_id = sqlx::query_scalar::<_, i64>("SELECT id FROM payments WHERE order_id = ? AND status = 'ready' ORDER BY id DESC LIMIT 1")
                .bind(order_id)
                .fetch_optional(self.db.pool())
                .await?;
            if let Some(payment_id) = payment_id {
                let payment = self.load(payment_id).await?;
                match self.find_at_gateway(&payment).await {
                    Ok(Some(gw)) if gw.status == portone::PaymentStatus::Paid => {
                        self.apply_gateway(&payment, &gw, &Actor::system()).await?;
                        continue;
                    }
                    Ok(_) => {}
                    // Unsure whether it was paid: try again on the next run.
                    Err(_) => continue,
                }
            }
            let actor = Actor::system();
            let mut tx = self.db.begin().await?;
            match move_order(
                &mut tx,
                order_id,
                OrderStatus::PendingPayment,
                OrderStatus::Expired,
                &actor,
                Some("not paid in time"),
            )
            .await
            {
                Ok(()) => {}
                Err(AppError::Conflict(_)) => continue,
                Err(err) => return Err(err),
            }
            let cancelled = tx
                .execute(
                    "UPDATE payments SET status = ?, updated_at = ? WHERE order_id = ? AND \
                     status = ?",
                    params![
                        PaymentStatus::Cancelled.as_str(),
                        now_millis(),
                        order_id,
                        PaymentStatus::Ready.as_str(),
                    ],
                )
                .await?;
            if cancelled > 0 {
                records::history(
                    &mut tx,
                    order_id,
                    "payment",
                    Some("ready"),
                    "cancelled",
                    &actor,
                    Some("order expired"),
                );
            }
            return_stock(&mut tx, order_id).await?;
            records::event(&mut tx, "order.expired", order_id, serde_json::json!({}));
            tx.commit().await?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Releases delivered orders whose confirmation period is over (disputed ones are not
    /// `delivered`, so a dispute stops this).
    pub async fn confirm_due(&self) -> AppResult<u64> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT p.id FROM orders o JOIN payments p ON p.order_id = o.id \
             WHERE o.status = ? AND o.auto_confirm_at <= ? AND p.status IN ('paid', 'partially_refunded') \
             ORDER BY o.auto_confirm_at LIMIT 100",
        )
        .bind(OrderStatus::Delivered.as_str())
        .bind(now_millis())
        .fetch_all(self.db.pool())
        .await?;
        let mut released = 0;
        for payment_id in ids {
            let payment = self.load(payment_id).await?;
            if payment.order_status != OrderStatus::Delivered {
                continue;
            }
            let mut tx = self.db.begin().await?;
            match self
                .release(
                    &mut tx,
                    &payment,
                    &Actor::system(),
                    "confirmed automatically after delivery",
                )
                .await
            {
                Ok(_) => {
                    tx.commit().await?;
                    released += 1;
                }
                Err(AppError::Conflict(_) | AppError::InvalidState(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merchant_uid_names_its_order() {
        let uid = new_merchant_uid(4217);
        assert_eq!(order_of_merchant_uid(&uid), Some(4217));
        assert_ne!(uid, new_merchant_uid(4217));
        for foreign in [
            "",
            "escrow-",
            "escrow-12",
            "escrow-x-1",
            "order-12-ab",
            "12-ab",
        ] {
            assert_eq!(order_of_merchant_uid(foreign), None, "{foreign}");
        }
    }
}
