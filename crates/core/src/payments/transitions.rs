//! The only code that writes the status of a payment, an order or a refund: it applies a plan
//! of `escrow_domain::lifecycle` in one transaction, conditional on the state it was planned
//! from, with its history rows, journal, stock, settlement and event.

use super::model::PaymentRecord;
use crate::error::AppError;
use crate::orders::return_stock;
use crate::records::{self, Actor};
use escrow_domain::ledger::JournalKind;
use escrow_domain::lifecycle::{Plan, Refusal, Snapshot};
use escrow_domain::settlement::{format_date, korean_date, Calendar};
use escrow_domain::{OrderStatus, RefundStatus, Won};
use escrow_store::{now_millis, Param, Tx};

/// The subject of a transition: an order and its latest payment, as read.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub order_id: i64,
    pub order_status: OrderStatus,
    pub payment: Option<PaymentRecord>,
}

impl Subject {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            order: self.order_status,
            payment: self.payment.as_ref().map(PaymentRecord::facts),
        }
    }
}

impl Subject {
    /// The payment as `plan` and `step` leave it, so that a flow can answer without reading
    /// it again; `None` when the step writes payment columns the plan does not describe.
    pub fn payment_after(&self, plan: &Plan, step: &Step) -> Option<PaymentRecord> {
        let before = self.payment.as_ref()?;
        let amounts = plan.amounts?;
        if !step.payment_columns.is_empty() {
            return None;
        }
        Some(PaymentRecord {
            status: plan.payment.map_or(before.status, |m| m.to),
            escrow_status: plan.escrow.map_or(before.escrow_status, |m| m.to),
            order_status: plan.order.map_or(before.order_status, |m| m.to),
            refunded_amount: amounts.refunded,
            released_amount: amounts.released,
            refunding_amount: amounts.refunding,
            failure_code: plan.failure.or(before.failure_code),
            version: before.version + 1,
            ..before.clone()
        })
    }
}

impl From<PaymentRecord> for Subject {
    fn from(payment: PaymentRecord) -> Self {
        Subject {
            order_id: payment.order_id,
            order_status: payment.order_status,
            payment: Some(payment),
        }
    }
}

/// What a refund intent's row becomes with a transition.
#[derive(Debug, Clone)]
pub(crate) enum RefundWrite {
    /// Recorded before the gateway is asked; `settle_after` is when another caller may settle
    /// it from the gateway's record (the asking request has given up by then).
    Request {
        amount: Won,
        reason: String,
        settle_after: i64,
    },
    /// A refund the gateway made without our asking, recorded as done.
    Found { amount: Won, reason: String },
    /// Settled from the gateway's answer or record; only a `requested` or `pending` one.
    Settle {
        refund_id: i64,
        to: RefundStatus,
        failure: Option<String>,
    },
}

/// One transition as a flow asks for it: the domain's transition and what the flow writes
/// beside it in the same transaction.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub transition: escrow_domain::lifecycle::Transition,
    pub reason: Option<String>,
    /// Columns of the payment or the order the transition sets beside their status.
    pub payment_columns: Vec<(&'static str, Param)>,
    pub order_columns: Vec<(&'static str, Param)>,
    pub refund: Option<RefundWrite>,
    /// More statements of the flow's own (a shipment row, the cart's lines).
    pub also: Vec<(&'static str, Vec<Param>)>,
    /// The event's data beside the payment's and order's ids.
    pub data: serde_json::Value,
}

impl Step {
    pub fn new(transition: escrow_domain::lifecycle::Transition) -> Self {
        Step {
            transition,
            reason: None,
            payment_columns: Vec::new(),
            order_columns: Vec::new(),
            refund: None,
            also: Vec::new(),
            data: serde_json::json!({}),
        }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// Why `apply` wrote nothing.
#[derive(Debug)]
pub(crate) enum NotApplied {
    /// The subject changed since it was read: plan again from a fresh read.
    Stale,
    /// The refund intent was settled by someone else meanwhile.
    RefundSettled,
    Failed(AppError),
}

impl From<AppError> for NotApplied {
    fn from(err: AppError) -> Self {
        NotApplied::Failed(err)
    }
}

impl From<escrow_store::StoreError> for NotApplied {
    fn from(err: escrow_store::StoreError) -> Self {
        NotApplied::Failed(err.into())
    }
}

/// The refusal of a plan as the contract's error.
pub(crate) fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::InvalidState(message) => AppError::InvalidState(message),
        Refusal::RefundInProgress => AppError::RefundInProgress(
            "a refund is being asked of the gateway; try again once it is settled".into(),
        ),
        Refusal::ExceedsBalance { left } => {
            AppError::RefundExceedsBalance(format!("only {} won is left to refund", left.get()))
        }
        Refusal::Field { field, message } => AppError::field(field, message),
        Refusal::OrderClosed => AppError::InvalidState("the order is no longer payable".into()),
    }
}

/// Writes `plan` for `subject` in `tx`. Returns the new refund's id for a `Request`.
pub(crate) async fn apply(
    tx: &mut Tx,
    subject: &Subject,
    plan: &Plan,
    step: &Step,
    actor: &Actor,
    calendar: &Calendar,
) -> Result<Option<i64>, NotApplied> {
    let now = now_millis();
    let reason = step.reason.as_deref();
    if let (Some(p), Some(amounts)) = (&subject.payment, plan.amounts) {
        let status = plan.payment.map_or(p.status, |m| m.to);
        let escrow = plan.escrow.map_or(p.escrow_status, |m| m.to);
        let mut sql = String::from(
            "UPDATE payments SET status = ?, escrow_status = ?, refunded_amount = ?, \
             released_amount = ?, refunding_amount = ?, version = version + 1, updated_at = ?",
        );
        let mut params: Vec<Param> = vec![
            status.as_str().into(),
            escrow.as_str().into(),
            amounts.refunded.get().into(),
            amounts.released.get().into(),
            amounts.refunding.get().into(),
            now.into(),
        ];
        if let Some(code) = plan.failure {
            sql.push_str(", failure_code = ?, refused_at = ?");
            params.extend([code.as_str().into(), now.into()]);
        }
        for (column, value) in &step.payment_columns {
            sql.push_str(&format!(", {column} = ?"));
            params.push(value.clone());
        }
        sql.push_str(" WHERE id = ? AND version = ?");
        params.extend([p.id.into(), p.version.into()]);
        if tx.execute(&sql, &params).await? == 0 {
            return Err(NotApplied::Stale);
        }
    }
    if let Some(m) = plan.order {
        let mut sql = String::from("UPDATE orders SET status = ?, updated_at = ?");
        let mut params: Vec<Param> = vec![m.to.as_str().into(), now.into()];
        for (column, value) in &step.order_columns {
            sql.push_str(&format!(", {column} = ?"));
            params.push(value.clone());
        }
        sql.push_str(" WHERE id = ? AND status = ?");
        params.extend([subject.order_id.into(), m.from.as_str().into()]);
        if tx.execute(&sql, &params).await? == 0 {
            return Err(NotApplied::Stale);
        }
    }
    let refund_id = match (&step.refund, &subject.payment) {
        (Some(write), Some(p)) => write_refund(tx, p.id, write, actor, now).await?,
        _ => None,
    };
    let changes: Vec<records::Change<'_>> = [
        plan.payment.map(|m| records::Change {
            entity: "payment",
            from: Some(m.from.as_str()),
            to: m.to.as_str(),
        }),
        plan.order.map(|m| records::Change {
            entity: "order",
            from: Some(m.from.as_str()),
            to: m.to.as_str(),
        }),
        plan.escrow.map(|m| records::Change {
            entity: "escrow",
            from: Some(m.from.as_str()),
            to: m.to.as_str(),
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    records::histories(tx, subject.order_id, &changes, actor, reason).await?;
    let payment_id = subject.payment.as_ref().map(|p| p.id);
    if let Some(journal) = &plan.journal {
        records::journal(tx, payment_id, journal).await?;
    }
    if plan.returns_stock {
        return_stock(tx, subject.order_id).await?;
    }
    if let (Some(line), Some(p)) = (plan.settlement, &subject.payment) {
        tx.execute(
            "INSERT INTO settlements (payment_id, seller_id, kind, gross_amount, fee_amount, \
             fee_vat_amount, net_amount, released_at, available_on) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                p.id.into(),
                p.seller_id.into(),
                JournalKind::Release.as_str().into(),
                line.gross.get().into(),
                line.fee.get().into(),
                line.fee_vat.get().into(),
                line.net.get().into(),
                now.into(),
                format_date(calendar.available_on(korean_date(now))).into(),
            ],
        )
        .await?;
    }
    for (sql, params) in &step.also {
        tx.execute(sql, params).await?;
    }
    let mut data = step.data.clone();
    if let (Some(object), Some(id)) = (data.as_object_mut(), payment_id) {
        object.insert("payment_id".into(), id.into());
        if let Some(refund_id) = refund_id.or(match &step.refund {
            Some(RefundWrite::Settle { refund_id, .. }) => Some(*refund_id),
            _ => None,
        }) {
            object.insert("refund_id".into(), refund_id.into());
        }
    }
    records::event(tx, plan.event.name(), subject.order_id, data).await?;
    Ok(refund_id)
}

async fn write_refund(
    tx: &mut Tx,
    payment_id: i64,
    write: &RefundWrite,
    actor: &Actor,
    now: i64,
) -> Result<Option<i64>, NotApplied> {
    match write {
        RefundWrite::Request {
            amount,
            reason,
            settle_after,
        } => {
            let reason: String = reason.chars().take(500).collect();
            let id = tx
                .insert_returning_id(
                    "INSERT INTO refunds (payment_id, amount, status, reason, actor, requested_at, \
                     settle_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &[
                        payment_id.into(),
                        amount.get().into(),
                        RefundStatus::Requested.as_str().into(),
                        reason.as_str().into(),
                        actor.0.as_str().into(),
                        now.into(),
                        (*settle_after).into(),
                    ],
                )
                .await?;
            Ok(Some(id))
        }
        RefundWrite::Found { amount, reason } => {
            let reason: String = reason.chars().take(500).collect();
            let id = tx
                .insert_returning_id(
                    "INSERT INTO refunds (payment_id, amount, status, reason, actor, requested_at, \
                     completed_at, settle_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        payment_id.into(),
                        amount.get().into(),
                        RefundStatus::Succeeded.as_str().into(),
                        reason.as_str().into(),
                        actor.0.as_str().into(),
                        now.into(),
                        now.into(),
                        now.into(),
                    ],
                )
                .await?;
            Ok(Some(id))
        }
        RefundWrite::Settle {
            refund_id,
            to,
            failure,
        } => {
            let failure = failure
                .as_deref()
                .map(|f| f.chars().take(500).collect::<String>());
            let completed = (*to != RefundStatus::Pending).then_some(now);
            let changed = tx
                .execute(
                    "UPDATE refunds SET status = ?, completed_at = ?, failure = ? \
                     WHERE id = ? AND payment_id = ? AND status IN (?, ?)",
                    &[
                        to.as_str().into(),
                        completed.into(),
                        failure.as_deref().into(),
                        (*refund_id).into(),
                        payment_id.into(),
                        RefundStatus::Requested.as_str().into(),
                        RefundStatus::Pending.as_str().into(),
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(NotApplied::RefundSettled);
            }
            Ok(None)
        }
    }
}
