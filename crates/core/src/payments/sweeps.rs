//! The background jobs' bodies: expiry of unpaid orders, automatic confirmation, and
//! reconciliation with the gateway.

use super::model::{PaymentRecord, ReconcileReport};
use super::steps::Key;
use super::transitions::Step;
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::gateway::{ChangedQuery, GatewayPayment, GatewayStatus, PaymentRef};
use crate::records::Actor;
use escrow_domain::lifecycle::{Party, Transition};
use escrow_domain::{FailureCode, OrderStatus, PaymentStatus, RefundStatus};
use escrow_store::{now_millis, params, Param};
use std::collections::HashMap;

/// The gateway's list calls are windows of whole seconds: each round starts this far before
/// where the last one ended, so that a change at the edge is not missed.
const WINDOW_OVERLAP_SECS: i64 = 60;
/// The widest window the gateway answers; also how far back a first round looks.
const MAX_WINDOW_SECS: i64 = 90 * 24 * 3600;
/// Payments looked up per batch call (the gateway's maximum).
const BATCH: usize = 100;
const RECONCILE_MARK: &str = "reconcile";

impl Payments {
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
            let subject = self.load_order_subject(order_id).await?;
            let account = subject.payment.clone().filter(|p| {
                p.is_vbank()
                    && matches!(
                        p.status,
                        PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
                    )
            });
            if let Some(payment) = account {
                // No transfer may arrive once the order expired: revoke the account first.
                match self.close_account(&payment, &Actor::system()).await {
                    Ok(super::vbank::AccountClosed::Closed) => {}
                    Ok(super::vbank::AccountClosed::Paid) => continue,
                    // Unsure whether it was revoked or paid: try again on the next run.
                    Err(_) => continue,
                }
            } else if let Some(payment) =
                subject.payment.filter(|p| p.status == PaymentStatus::Ready)
            {
                match self.find_at_gateway(&payment).await {
                    Ok(Some(gw)) if gw.status == GatewayStatus::Paid => {
                        self.apply_gateway(&payment, &gw, &Actor::system()).await?;
                        continue;
                    }
                    Ok(_) => {}
                    // Unsure whether it was paid: try again on the next run.
                    Err(_) => continue,
                }
            }
            let stepped = self
                .step(Key::Order(order_id), None, &Actor::system(), |s| {
                    if s.order_status != OrderStatus::PendingPayment {
                        return Ok(None);
                    }
                    let awaiting = s
                        .payment
                        .as_ref()
                        .is_some_and(|p| p.status == PaymentStatus::AwaitingDeposit);
                    Ok(Some(if awaiting {
                        Step::new(Transition::ExpireDeposit)
                            .reason("no deposit by the due time; the account was revoked")
                    } else {
                        Step::new(Transition::Expire).reason("not paid in time")
                    }))
                })
                .await;
            match stepped {
                Ok(super::steps::Stepped::Applied(_)) => expired += 1,
                Ok(_) | Err(AppError::InvalidState(_) | AppError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(expired)
    }

    /// Releases delivered orders whose confirmation period is over (a dispute moves the order
    /// out of `delivered`; an open refund makes the release wait for a later round).
    pub async fn confirm_due(&self) -> AppResult<u64> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT p.id FROM orders o JOIN payments p ON p.order_id = o.id \
             WHERE o.status = ? AND o.auto_confirm_at <= ? AND p.status IN (?, ?) \
             ORDER BY o.auto_confirm_at LIMIT 100",
        )
        .bind(OrderStatus::Delivered.as_str())
        .bind(now_millis())
        .bind(PaymentStatus::Paid.as_str())
        .bind(PaymentStatus::PartiallyRefunded.as_str())
        .fetch_all(self.db.pool())
        .await?;
        let mut released = 0;
        for payment_id in ids {
            let payment = self.load(payment_id).await?;
            let done = self
                .release(
                    &payment,
                    Party::System,
                    &Actor::system(),
                    "confirmed automatically after delivery",
                )
                .await;
            match done {
                Ok(_) => released += 1,
                Err(
                    AppError::InvalidState(_)
                    | AppError::RefundInProgress(_)
                    | AppError::Conflict(_)
                    | AppError::Gateway(_),
                ) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(released)
    }

    /// Brings our records in line with the gateway's, at a cost that grows with what is open
    /// or changed, not with how many payments exist:
    /// - refund intents whose request gave up, settled from the gateway's record;
    /// - payments that may still change at the gateway before release (accounts awaiting
    ///   their deposit, refused ones it may still hold), looked up a hundred at a time;
    /// - what the gateway paid, failed or cancelled since the last round (its lists by status
    ///   and time), which also finds a cancel after release.
    pub async fn reconcile(&self) -> AppResult<ReconcileReport> {
        let mut report = ReconcileReport::default();
        self.settle_stale(&mut report).await?;
        self.look_up_open(&mut report).await?;
        self.list_changed(&mut report).await?;
        self.check_recent_journals().await?;
        Ok(report)
    }

    /// Settles, from the gateway's record, the refund intents whose request gave up (a lost
    /// answer, a crash); answers how many.
    pub async fn settle_stale_refunds(&self) -> AppResult<u64> {
        let mut report = ReconcileReport::default();
        self.settle_stale(&mut report).await?;
        Ok(report.repaired)
    }

    async fn settle_stale(&self, report: &mut ReconcileReport) -> AppResult<()> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT payment_id FROM refunds WHERE status = ? AND settle_after <= ?",
        )
        .bind(RefundStatus::Requested.as_str())
        .bind(now_millis())
        .fetch_all(self.db.pool())
        .await?;
        for id in ids {
            let payment = self.load(id).await?;
            report.checked += 1;
            match self.settle_open_refunds(&payment).await {
                Ok(settled) => report.repaired += settled.len() as u64,
                Err(err) => {
                    tracing::warn!(payment.id = id, error = %err, "settling a refund failed")
                }
            }
        }
        Ok(())
    }

    /// Every payment holding money not yet released, and refused ones of the last week the
    /// gateway may still hold, by batch look-ups in id order.
    async fn look_up_open(&self, report: &mut ReconcileReport) -> AppResult<()> {
        let since = now_millis() - 7 * 24 * 3600 * 1000;
        // Two statements, each read through its own index (payments_open of 0010,
        // payments_refused of 0012): as one OR the planner read every paid payment ever released.
        let holding = (
            "SELECT id, merchant_uid, imp_uid FROM payments WHERE status IN (?, ?, ?) AND released_amount = 0 \
             AND imp_uid IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
            vec![
                Param::from(PaymentStatus::Paid.as_str()),
                Param::from(PaymentStatus::PartiallyRefunded.as_str()),
                Param::from(PaymentStatus::AwaitingDeposit.as_str()),
            ],
        );
        let refused = (
            "SELECT id, merchant_uid, imp_uid FROM payments WHERE refused_at >= ? AND failure_code IN (?, ?) \
             AND status IN (?, ?) AND paid_at IS NULL AND imp_uid IS NOT NULL AND id > ? \
             ORDER BY id LIMIT ?",
            vec![
                Param::from(since),
                Param::from(FailureCode::AmountMismatch.as_str()),
                Param::from(FailureCode::OrderClosed.as_str()),
                Param::from(PaymentStatus::Failed.as_str()),
                Param::from(PaymentStatus::Cancelled.as_str()),
            ],
        );
        for (sql, fixed) in [holding, refused] {
            self.look_up_batches(sql, fixed, report).await?;
        }
        Ok(())
    }

    /// Looks up at the gateway, a hundred at a time, the payments `sql` selects after an id
    /// (its last two parameters are that id and the batch size, after `fixed`).
    async fn look_up_batches(
        &self,
        sql: &str,
        fixed: Vec<Param>,
        report: &mut ReconcileReport,
    ) -> AppResult<()> {
        let mut after = 0i64;
        loop {
            let mut params = fixed.clone();
            params.extend([after.into(), (BATCH as i64).into()]);
            let rows = self
                .db
                .reads()
                .fetch_all(sql, &params, |row| {
                    Ok::<_, AppError>((
                        row.int("id")?,
                        row.text("merchant_uid")?,
                        row.text("imp_uid")?,
                    ))
                })
                .await?;
            let Some(&(last, _, _)) = rows.last() else {
                return Ok(());
            };
            after = last;
            let refs: Vec<PaymentRef> = rows
                .iter()
                .map(|(_, reference, gateway_id)| {
                    PaymentRef::new(reference.clone(), Some(gateway_id))
                })
                .collect();
            let ours: HashMap<String, i64> = rows
                .iter()
                .map(|(id, reference, _)| (reference.clone(), *id))
                .collect();
            match self.gateway.payments(&refs).await {
                Ok(found) => {
                    for gw in found {
                        if let Some(id) = ours.get(&gw.reference) {
                            self.reconcile_one(*id, &gw, report).await;
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "gateway batch look-up failed while reconciling")
                }
            }
            if rows.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// What the gateway paid, failed or cancelled since the last round.
    async fn list_changed(&self, report: &mut ReconcileReport) -> AppResult<()> {
        let now = now_millis() / 1000;
        let mark = self.mark(RECONCILE_MARK).await?;
        let from = mark
            .map(|at| at - WINDOW_OVERLAP_SECS)
            .unwrap_or(now - MAX_WINDOW_SECS)
            .max(now - MAX_WINDOW_SECS);
        let mut query = ChangedQuery {
            from,
            to: now,
            cursor: None,
        };
        loop {
            let listed = match self.gateway.changed(&query).await {
                Ok(listed) => listed,
                Err(err) => {
                    // The mark stays: the next round lists this window again.
                    tracing::warn!(error = %err, "gateway list failed while reconciling");
                    return Ok(());
                }
            };
            for gw in &listed.payments {
                match self.load_by_merchant_uid(&gw.reference).await {
                    Ok(payment) => self.reconcile_one(payment.id, gw, report).await,
                    Err(AppError::NotFound(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            match listed.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        self.set_mark(RECONCILE_MARK, now, mark.is_some()).await
    }

    /// Where the periodic sweep `name` got to, if it ever ran.
    pub(super) async fn mark(&self, name: &str) -> AppResult<Option<i64>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT at FROM sweep_marks WHERE name = ?")
                .bind(name)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }

    /// Records that the sweep `name` got to `at`; `existed`: whether it had a mark before.
    pub(super) async fn set_mark(&self, name: &str, at: i64, existed: bool) -> AppResult<()> {
        self.db
            .write(
                "UPDATE sweep_marks SET at = ? WHERE name = ?",
                params![at, name],
            )
            .await?;
        if !existed {
            let inserted = self
                .db
                .write(
                    "INSERT INTO sweep_marks (name, at) VALUES (?, ?)",
                    params![name, at],
                )
                .await;
            if let Err(err) = inserted {
                if err.kind() != escrow_store::DbErrorKind::UniqueViolation {
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }

    async fn reconcile_one(&self, id: i64, gw: &GatewayPayment, report: &mut ReconcileReport) {
        report.checked += 1;
        let payment: PaymentRecord = match self.load(id).await {
            Ok(payment) => payment,
            Err(err) => {
                tracing::warn!(payment.id = id, error = %err, "reading a payment failed while reconciling");
                return;
            }
        };
        if gw.reference != payment.merchant_uid {
            return;
        }
        match self.apply_gateway(&payment, gw, &Actor::system()).await {
            Ok(true) => report.repaired += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(payment.id = id, error = %err, "reconciling a payment failed")
            }
        }
    }
}
