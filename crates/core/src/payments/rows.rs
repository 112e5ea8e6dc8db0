//! The payment flows' reads: which columns, and rows mapped to records by column name.

use super::model::{HistoryEntry, PaymentRecord, PaymentStatusView, Refund};
use super::transitions::Subject;
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::joined::{assemble, joined_row, JoinedRow};
use crate::orders::{self, Shipping};
use escrow_domain::{EscrowStatus, FailureCode, OrderStatus, PaymentStatus, RefundStatus, Won};
use escrow_store::{params, ReadRow};
use std::sync::atomic::AtomicBool;

pub(super) const PAYMENT_COLUMNS: &str =
    "p.id AS payment_id, p.order_id, p.merchant_uid, p.imp_uid, p.amount, \
    p.refunded_amount, p.released_amount, p.refunding_amount, p.version, \
    p.status AS payment_status, p.escrow, p.escrow_status, p.pg_provider, p.pay_method, \
    p.paid_at, p.failure_code, o.buyer_id, o.seller_id, o.status AS order_status, o.from_cart";

fn won(row: &dyn ReadRow, column: &str) -> AppResult<Won> {
    Won::new(row.int(column)?).map_err(|e| AppError::internal(column, e))
}

fn parsed<T>(text: String, parse: impl Fn(&str) -> Result<T, String>, what: &str) -> AppResult<T> {
    parse(&text).map_err(|e| AppError::internal(what, e))
}

/// Maps the columns of `PAYMENT_COLUMNS` (the row's others are the caller's).
pub(super) fn record_from_row(row: &dyn ReadRow) -> AppResult<PaymentRecord> {
    Ok(PaymentRecord {
        id: row.int("payment_id")?,
        order_id: row.int("order_id")?,
        merchant_uid: row.text("merchant_uid")?,
        imp_uid: row.opt_text("imp_uid")?,
        amount: won(row, "amount")?,
        refunded_amount: won(row, "refunded_amount")?,
        released_amount: won(row, "released_amount")?,
        refunding_amount: won(row, "refunding_amount")?,
        version: row.int("version")?,
        status: parsed(
            row.text("payment_status")?,
            PaymentStatus::parse,
            "payment status",
        )?,
        escrow: row.int("escrow")? != 0,
        escrow_status: parsed(
            row.text("escrow_status")?,
            EscrowStatus::parse,
            "escrow status",
        )?,
        pg_provider: row.opt_text("pg_provider")?,
        pay_method: row.opt_text("pay_method")?,
        paid_at: row.opt_int("paid_at")?,
        failure_code: row
            .opt_text("failure_code")?
            .map(|code| parsed(code, FailureCode::parse, "failure code"))
            .transpose()?,
        buyer_id: row.int("buyer_id")?,
        seller_id: row.int("seller_id")?,
        order_status: orders::parse_order_status(&row.text("order_status")?)?,
        from_cart: row.int("from_cart")? != 0,
    })
}

/// What the status view reads after `SELECT {PAYMENT_COLUMNS}, `: the shipment, and one
/// history row per result row (none: `history_id` is NULL), in one statement. A look-up by
/// key (`IN (?)`, see [`escrow_store::Reads::fetch_by_key`]), so its rows come in no
/// promised order: the history is sorted by id after.
const STATUS_VIEW_REST: &str = "o.auto_confirm_at, s.courier AS shipment_courier, \
    s.invoice_number AS shipment_invoice_number, s.sent_at AS shipment_sent_at, h.id AS history_id, \
    h.at AS history_at, h.entity AS history_entity, h.from_state AS history_from, \
    h.to_state AS history_to, h.actor AS history_actor, h.reason AS history_reason \
    FROM payments p JOIN orders o ON o.id = p.order_id \
    LEFT JOIN shipments s ON s.payment_id = p.id \
    LEFT JOIN state_history h ON h.order_id = p.order_id \
    WHERE p.id IN (?)";

/// A payment with what the gateway's delivery registration names: the order's receiver
/// and the seller (`None` if the seller's row is gone).
pub(super) struct ShipmentSubject {
    pub payment: PaymentRecord,
    pub receiver: Shipping,
    pub seller_name: Option<String>,
    pub seller_phone: Option<String>,
}

/// What `ship` reads after `SELECT {PAYMENT_COLUMNS}, `, by key.
const SHIPMENT_SUBJECT_REST: &str = "o.receiver_name, o.receiver_phone, o.address, o.postcode, \
    u.name AS seller_name, u.phone AS seller_phone \
    FROM payments p JOIN orders o ON o.id = p.order_id LEFT JOIN users u ON u.id = o.seller_id \
    WHERE p.id IN (?)";

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
type StatusRow =
    JoinedRow<(PaymentRecord, Option<orders::ShipmentView>, Option<i64>), HistoryEntry>;

/// What the status view's own statement reads ([`Payments::status_head`]).
struct StatusHead {
    payment: PaymentRecord,
    shipment: Option<orders::ShipmentView>,
    auto_confirm_at: Option<i64>,
    history: Vec<HistoryEntry>,
}

impl StatusHead {
    /// What every step changes: the payment's version, or the history's length.
    fn mark(&self) -> (i64, usize) {
        (self.payment.version, self.history.len())
    }
}

fn status_row(row: &dyn ReadRow, head_wanted: &AtomicBool) -> AppResult<StatusRow> {
    joined_row(
        row,
        head_wanted,
        |row| {
            let shipment = orders::shipment_from_row(row)?;
            let confirm_at = row.opt_int("auto_confirm_at")?;
            Ok((record_from_row(row)?, shipment, confirm_at))
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

const REFUND_COLUMNS: &str = "id AS refund_id, payment_id, amount, status AS refund_status, \
    reason, actor, requested_at, completed_at, failure, settle_after FROM refunds";

fn refund_from_row(row: &dyn ReadRow) -> AppResult<Refund> {
    Ok(Refund {
        id: row.int("refund_id")?,
        payment_id: row.int("payment_id")?,
        amount: won(row, "amount")?,
        status: parsed(
            row.text("refund_status")?,
            RefundStatus::parse,
            "refund status",
        )?,
        reason: row.text("reason")?,
        actor: row.text("actor")?,
        requested_at: row.int("requested_at")?,
        completed_at: row.opt_int("completed_at")?,
        failure: row.opt_text("failure")?,
        settle_after: row.int("settle_after")?,
    })
}

impl Payments {
    /// A primary-key look-up, on the hot-read path ([`escrow_store::Reads`]): every payment
    /// call reads its payment first.
    pub async fn load(&self, payment_id: i64) -> AppResult<PaymentRecord> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN orders o ON o.id = p.order_id \
             WHERE p.id IN (?)"
        );
        self.db
            .reads()
            .fetch_by_key(&sql, payment_id, record_from_row)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))
    }

    /// An order and its latest payment, if it has one.
    pub(super) async fn load_order_subject(&self, order_id: i64) -> AppResult<Subject> {
        let order_status =
            sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = ?")
                .bind(order_id)
                .fetch_optional(self.db.pool())
                .await?
                .ok_or_else(|| AppError::NotFound(format!("order {order_id} does not exist")))?;
        let latest = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM payments WHERE order_id = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(self.db.pool())
        .await?;
        let payment = match latest {
            Some(id) => Some(self.load(id).await?),
            None => None,
        };
        Ok(Subject {
            order_id,
            order_status: orders::parse_order_status(&order_status)?,
            payment,
        })
    }

    /// A webhook names its payment by merchant_uid.
    pub(super) async fn load_by_merchant_uid(
        &self,
        merchant_uid: &str,
    ) -> AppResult<PaymentRecord> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN orders o ON o.id = p.order_id \
             WHERE p.merchant_uid = ?"
        );
        self.db
            .reads()
            .fetch_all(&sql, params![merchant_uid], record_from_row)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound("no payment has this merchant_uid".into()))
    }

    pub(super) async fn load_shipment_subject(
        &self,
        payment_id: i64,
    ) -> AppResult<ShipmentSubject> {
        let sql = format!("SELECT {PAYMENT_COLUMNS}, {SHIPMENT_SUBJECT_REST}");
        self.db
            .reads()
            .fetch_by_key(&sql, payment_id, shipment_subject)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))
    }

    /// The payment with its shipment, its order's history and its refunds.
    pub(super) async fn status_view(&self, payment_id: i64) -> AppResult<PaymentStatusView> {
        let mut head = self.status_head(payment_id).await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let refunds = self.refunds_of(payment_id).await?;
            let vbank = if head.payment.is_vbank() {
                self.vbank_account(payment_id).await?
            } else {
                None
            };
            // Only an order whose history shows a return has one: most views read no more.
            let asked = OrderStatus::ReturnRequested.as_str();
            let return_request = if head
                .history
                .iter()
                .any(|h| h.entity == "order" && h.to == asked)
            {
                self.latest_return(payment_id).await?
            } else {
                None
            };
            // Refunds and returns, read after the payment, may already show a step the
            // payment's read did not: every step bumps the payment's version or adds history,
            // so an unchanged mark means the parts belong to the same state.
            if (!refunds.is_empty() || return_request.is_some()) && attempts < 3 {
                let newer = self.status_head(payment_id).await?;
                if newer.mark() != head.mark() {
                    head = newer;
                    continue;
                }
            }
            return Ok(PaymentStatusView {
                payment: head.payment,
                shipment: head.shipment,
                history: head.history,
                refunds,
                vbank,
                return_request,
                auto_confirm_at: head.auto_confirm_at,
            });
        }
    }

    /// The status view's own statement: the payment, its shipment, its order's confirmation
    /// deadline and history.
    async fn status_head(&self, payment_id: i64) -> AppResult<StatusHead> {
        let sql = format!("SELECT {PAYMENT_COLUMNS}, {STATUS_VIEW_REST}");
        let head_wanted = AtomicBool::new(true);
        let rows = self
            .db
            .reads()
            .fetch_by_key(&sql, payment_id, |row| status_row(row, &head_wanted))
            .await?;
        let ((payment, shipment, auto_confirm_at), history) = assemble(rows)
            .ok_or_else(|| AppError::NotFound(format!("payment {payment_id} does not exist")))?;
        Ok(StatusHead {
            payment,
            shipment,
            auto_confirm_at,
            history,
        })
    }

    /// A payment's refunds, oldest first.
    pub(super) async fn refunds_of(&self, payment_id: i64) -> AppResult<Vec<Refund>> {
        // No ORDER BY: a batched read on MySQL promises no order, so the rows are sorted here.
        let sql = format!("SELECT {REFUND_COLUMNS} WHERE payment_id = ?");
        let mut refunds = self
            .db
            .reads()
            .fetch_all(&sql, params![payment_id], refund_from_row)
            .await?;
        refunds.sort_by_key(|r| r.id);
        Ok(refunds)
    }

    pub(super) async fn refund_by_id(&self, refund_id: i64) -> AppResult<Refund> {
        let sql = format!("SELECT {REFUND_COLUMNS} WHERE id = ?");
        self.db
            .reads()
            .fetch_all(&sql, params![refund_id], refund_from_row)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("refund {refund_id} does not exist")))
    }
}
