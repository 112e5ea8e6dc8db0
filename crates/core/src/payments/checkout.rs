//! Checkout: a payment created with its amount pre-registered at the gateway, then verified
//! with the gateway when the browser or the gateway's webhook reports it (in any order, once).

use super::gateway::gateway_error;
use super::model::{
    Checkout, PayMethod, PaymentCreated, PaymentRecord, PaymentStatusView, SeedPayment,
};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::gateway::{GatewayError, PaymentRef};
use crate::orders::{self, Shipping, ORDER_VIEW_COLUMNS, ORDER_VIEW_FROM};
use crate::records::{self, Actor};
use escrow_domain::{EscrowStatus, FailureCode, OrderStatus, PaymentStatus, Won};
use escrow_store::{now_millis, params, ReadRow};
use sqlx::Row;
use std::sync::atomic::AtomicBool;

/// What `create` reads after `ORDER_VIEW_COLUMNS`: whether the order came from the cart,
/// the caller's contact details (`None` if the caller's row is gone), and the order's
/// latest unpaid payment.
struct PayerColumns {
    from_cart: bool,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    ready_id: Option<i64>,
    awaiting_id: Option<i64>,
}

fn payer_columns(row: &dyn ReadRow) -> AppResult<PayerColumns> {
    Ok(PayerColumns {
        from_cart: row.int("from_cart")? != 0,
        email: row.opt_text("payer_email")?,
        name: row.opt_text("payer_name")?,
        phone: row.opt_text("payer_phone")?,
        ready_id: row.opt_int("ready_payment_id")?,
        awaiting_id: row.opt_int("awaiting_payment_id")?,
    })
}

/// The merchant_uid of a new payment of an order: unique (the gateway refuses a repeated
/// one), and naming the order, so that a webhook's payment is found by its order's id.
pub(super) fn new_merchant_uid(order_id: i64) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("escrow-{order_id}-{}", &unique[..12])
}

impl Payments {
    /// Creates a payment for an order, registers its amount with the gateway first, and
    /// returns what the browser needs. An unpaid payment of the order is reused.
    pub async fn create(
        &self,
        caller: Caller,
        order_id: i64,
        escrow: bool,
        pay_method: PayMethod,
    ) -> AppResult<PaymentCreated> {
        // One statement on the hot-read path: the order view, the caller's contact details,
        // and the order's latest unpaid payment (reused below).
        let sql = format!(
            "SELECT {ORDER_VIEW_COLUMNS}, o.from_cart, u.email AS payer_email, \
             u.name AS payer_name, u.phone AS payer_phone, \
             (SELECT MAX(r.id) FROM payments r WHERE r.order_id = o.id AND r.status = ?) \
             AS ready_payment_id, \
             (SELECT MAX(a.id) FROM payments a WHERE a.order_id = o.id AND a.status = ?) \
             AS awaiting_payment_id \
             FROM {ORDER_VIEW_FROM} LEFT JOIN users u ON u.id = ? WHERE o.id = ?"
        );
        let head_wanted = AtomicBool::new(true);
        let rows = self
            .db
            .reads()
            .fetch_all(
                &sql,
                params![
                    PaymentStatus::Ready.as_str(),
                    PaymentStatus::AwaitingDeposit.as_str(),
                    caller.user_id,
                    order_id
                ],
                |row| orders::order_view_row(row, &head_wanted, payer_columns),
            )
            .await?;
        let (order, payer) = orders::order_view_from_rows(rows)
            .ok_or_else(|| AppError::NotFound(format!("order {order_id} does not exist")))?;
        if order.buyer_id != caller.user_id {
            return Err(AppError::Forbidden(
                "only the order's buyer can pay for it".into(),
            ));
        }
        if order.status != OrderStatus::PendingPayment || order.expires_at <= now_millis() {
            return Err(AppError::InvalidState(format!(
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
            awaiting_id,
            ..
        } = payer;
        if awaiting_id.is_some() {
            return Err(AppError::InvalidState(
                "a virtual account of this order awaits its deposit; cancel it to pay otherwise"
                    .into(),
            ));
        }
        let existing = match existing {
            Some(id) => Some(self.load(id).await?),
            None => None,
        };
        // A payment not yet at the gateway is reused when it asks for the same method.
        let reusable = existing.filter(|p| p.is_vbank() == (pay_method == PayMethod::Vbank));
        let payment = match reusable {
            Some(payment) => payment,
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
                        "INSERT INTO payments (order_id, merchant_uid, amount, status, escrow, escrow_status, pay_method, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        params![
                            order_id,
                            &merchant_uid,
                            order.total_amount,
                            PaymentStatus::Ready.as_str(),
                            i64::from(escrow),
                            escrow_status.as_str(),
                            pay_method.as_str(),
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
                )
                .await?;
                tx.commit().await?;
                // What the transaction wrote; no need to read it back.
                PaymentRecord {
                    id,
                    order_id,
                    merchant_uid,
                    imp_uid: None,
                    amount: Won::new(order.total_amount)
                        .map_err(|e| AppError::internal("order total", e))?,
                    refunded_amount: Won::ZERO,
                    released_amount: Won::ZERO,
                    refunding_amount: Won::ZERO,
                    version: 0,
                    status: PaymentStatus::Ready,
                    escrow,
                    escrow_status: if escrow {
                        EscrowStatus::Pending
                    } else {
                        EscrowStatus::Inactive
                    },
                    pg_provider: None,
                    pay_method: Some(pay_method.as_str().to_owned()),
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
        let vbank_due_at = match pay_method {
            PayMethod::Card => None,
            PayMethod::Vbank => Some(self.extend_to_vbank_due(order_id).await?),
        };
        let checkout = Checkout {
            imp_code: self.settings.imp_code.clone(),
            pg: self.settings.pg.clone(),
            pay_method: pay_method.as_str().into(),
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
            vbank_due: vbank_due_at.map(|at| super::vbank::pg_due_text(&self.settings.pg, at)),
        };
        Ok(PaymentCreated {
            payment,
            checkout,
            vbank_due_at,
        })
    }

    /// The seed's form: checks what the client claims against the server's truth, then
    /// creates the order and its payment.
    pub async fn create_seed(
        &self,
        caller: Caller,
        orders: &orders::Orders,
        seed: SeedPayment,
        escrow: bool,
        pay_method: PayMethod,
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
        self.create(caller, order_id, escrow, pay_method).await
    }

    /// The browser's report of a finished checkout: verified with the gateway, never trusted.
    pub async fn complete(
        &self,
        caller: Caller,
        payment_id: i64,
        imp_uid: &str,
    ) -> AppResult<PaymentStatusView> {
        let mut payment = self.load_for(caller, payment_id).await?;
        only(caller.user_id == payment.buyer_id, "the buyer")?;
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
            .payment(&PaymentRef::new(
                payment.merchant_uid.clone(),
                Some(imp_uid),
            ))
            .await
            .map_err(|err| match err {
                GatewayError::NotFound(_) => {
                    AppError::field("imp_uid", "the gateway has no such payment")
                }
                other => gateway_error(other),
            })?;
        if gw.reference != payment.merchant_uid {
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
            && after.payment.failure_code == Some(FailureCode::AmountMismatch)
        {
            return Err(AppError::AmountMismatch(
                "the amount paid differs from the order: the payment was refused and cancelled at \
                 the gateway, so the money goes back to the buyer"
                    .into(),
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
            .payment(&PaymentRef::new(
                payment.merchant_uid.clone(),
                Some(imp_uid),
            ))
            .await
            .map_err(|err| match err {
                GatewayError::NotFound(_) => {
                    AppError::NotFound("the gateway has no such payment".into())
                }
                other => gateway_error(other),
            })?;
        if gw.reference != payment.merchant_uid {
            return Err(AppError::NotFound(
                "no such payment for this merchant_uid".into(),
            ));
        }
        self.apply_gateway(&payment, &gw, &Actor::gateway()).await
    }

    /// Whether we already fetched `imp_uid` from the gateway, found it paid, and hold its
    /// money: only then is its look-up worth skipping (a refused payment may still need
    /// its cancel finished, an unpaid one its verification).
    pub(super) fn verified_paid(payment: &PaymentRecord, imp_uid: &str) -> bool {
        payment.status.holds_money() && payment.imp_uid.as_deref() == Some(imp_uid)
    }
}
