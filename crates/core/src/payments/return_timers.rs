//! The returns' timers, run by every instance's jobs: a return not sent back in time lapses
//! (automatic confirmation resumes with what was left of its period), a seller silent past
//! the inspection period has accepted (no fee), and an accepted return's refund that did not
//! go through is asked again. Each is a conditional transition: two instances never do one
//! twice, and a dead instance's work is picked up on the next tick.

use super::steps::{Key, Stepped};
use super::transitions::Step;
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::records::Actor;
use escrow_domain::escrow::ReturnOutcome;
use escrow_domain::lifecycle::Transition;
use escrow_domain::{OrderStatus, Won};
use escrow_store::{now_millis, params, Param};

/// Refusals a timer meets when a person or another instance acted first: the next round
/// sees the new state.
fn lost_race(err: &AppError) -> bool {
    matches!(
        err,
        AppError::InvalidState(_)
            | AppError::RefundInProgress(_)
            | AppError::Conflict(_)
            | AppError::Gateway(_)
    )
}

impl Payments {
    async fn orders_due(&self, status: OrderStatus) -> AppResult<Vec<i64>> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT id FROM orders WHERE status = ? AND return_due_at <= ? \
             ORDER BY return_due_at LIMIT 100",
        )
        .bind(status.as_str())
        .bind(now_millis())
        .fetch_all(self.db.pool())
        .await?)
    }

    /// Returns not sent back by their time go back to `delivered`; the confirmation period
    /// goes on from what was left of it when the return was asked for.
    pub async fn lapse_returns_due(&self) -> AppResult<u64> {
        let mut lapsed = 0;
        for order_id in self.orders_due(OrderStatus::ReturnRequested).await? {
            let subject = self.load_order_subject(order_id).await?;
            let Some(payment) = subject.payment.clone() else {
                continue;
            };
            let Some(open) = self
                .latest_return(payment.id)
                .await?
                .filter(|r| r.closed_at.is_none())
            else {
                continue;
            };
            let now = now_millis();
            let confirm_at = now.saturating_add(open.confirm_left);
            let stepped = self
                .step(Key::Order(order_id), Some(subject), &Actor::system(), |s| {
                    if s.order_status != OrderStatus::ReturnRequested {
                        return Ok(None);
                    }
                    let mut step = Step::new(Transition::LapseReturn)
                        .reason("the return was not sent back in time")
                        .data(serde_json::json!({"auto_confirm_at": confirm_at}));
                    step.order_columns = vec![
                        ("auto_confirm_at", Param::from(confirm_at)),
                        ("return_due_at", Param::Null),
                    ];
                    step.also.push(super::returns::close(
                        open.id,
                        ReturnOutcome::Lapsed,
                        now,
                        Won::ZERO,
                    ));
                    Ok(Some(step))
                })
                .await;
            match stepped {
                Ok(Stepped::Applied(_)) => lapsed += 1,
                Ok(_) => {}
                Err(err) if lost_race(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(lapsed)
    }

    /// Returns the seller neither accepted nor rejected within the inspection period are
    /// accepted, with no fee.
    pub async fn accept_returns_due(&self) -> AppResult<u64> {
        let mut accepted = 0;
        for order_id in self.orders_due(OrderStatus::ReturnReceived).await? {
            let Some(payment) = self.load_order_subject(order_id).await?.payment else {
                continue;
            };
            let done = self
                .accept_as(
                    &payment,
                    Won::ZERO,
                    &Actor::system(),
                    "accepted: the seller did not decide within the inspection period",
                )
                .await;
            match done {
                Ok(()) => accepted += 1,
                Err(err) if lost_race(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(accepted)
    }

    /// Accepted returns whose refund is not done yet, once their own request may have given
    /// up: asked again, or, when nothing is owed any more, no longer looked at.
    pub async fn refund_returns_owed(&self) -> AppResult<u64> {
        let mut asked = 0;
        for order_id in self.orders_due(OrderStatus::Returned).await? {
            let Some(payment) = self.load_order_subject(order_id).await?.payment else {
                continue;
            };
            let owed = payment.refundable() > Won::ZERO || payment.refunding_amount > Won::ZERO;
            if !owed {
                self.db
                    .write(
                        "UPDATE orders SET return_due_at = NULL WHERE id = ? AND status = ?",
                        params![order_id, OrderStatus::Returned.as_str()],
                    )
                    .await?;
                continue;
            }
            match self.refund_owed(&payment).await {
                Ok(()) => asked += 1,
                Err(err) if lost_race(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(asked)
    }

    /// The return timers of one round, before automatic confirmation.
    pub async fn run_return_timers(&self) -> AppResult<u64> {
        let lapsed = self.lapse_returns_due().await?;
        let accepted = self.accept_returns_due().await?;
        let refunded = self.refund_returns_owed().await?;
        Ok(lapsed + accepted + refunded)
    }
}
