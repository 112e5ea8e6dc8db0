//! Returns and exchanges (api.md §10): the buyer refuses delivered goods within the
//! inspection period and sends them back; the seller receives them, then accepts (a return is
//! refunded through a refund intent, less an optional fee released to the seller; an exchange
//! goes back to `paid` for a new shipment) or rejects (an admin decides). The order's status is
//! the return's state; the `returns` row keeps what each step said. The timers are in
//! `return_timers.rs`.

use super::model::{PaymentRecord, ReturnAsk, ReturnRecord};
use super::steps::Stepped;
use super::transitions::{RefundWrite, Step};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::records::Actor;
use escrow_domain::banks::RefundAccount;
use escrow_domain::escrow::{ReturnKind, ReturnOutcome, ReturnReason};
use escrow_domain::lifecycle::{Party, Transition};
use escrow_domain::{OrderStatus, Won};
use escrow_store::{now_millis, params, Param, ReadRow};

const RETURN_COLUMNS: &str = "id, kind, reason_code, reason, requested_at, ship_by, \
    confirm_left, courier, invoice_number, shipped_at, received_at, inspect_by, outcome, \
    closed_at, fee, refund_bank_code, refund_account_number, refund_holder FROM returns";

/// Closes return `id` with its outcome, in the transition's transaction.
pub(super) fn close(
    id: i64,
    outcome: ReturnOutcome,
    now: i64,
    fee: Won,
) -> (&'static str, Vec<Param>) {
    (
        "UPDATE returns SET outcome = ?, closed_at = ?, fee = ? WHERE id = ? AND closed_at IS NULL",
        vec![
            outcome.as_str().into(),
            now.into(),
            fee.get().into(),
            id.into(),
        ],
    )
}

/// Who takes a step of a return.
#[derive(Debug, Clone, Copy)]
enum Side {
    Buyer,
    Seller,
}

fn parsed<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> AppResult<T> {
    parse(text).map_err(|e| AppError::internal("return row", e))
}

fn return_from_row(row: &dyn ReadRow) -> AppResult<ReturnRecord> {
    let account = match (
        row.opt_text("refund_bank_code")?,
        row.opt_text("refund_account_number")?,
        row.opt_text("refund_holder")?,
    ) {
        (Some(bank_code), Some(account_number), Some(holder)) => Some(RefundAccount {
            bank_code,
            account_number,
            holder,
        }),
        _ => None,
    };
    Ok(ReturnRecord {
        id: row.int("id")?,
        kind: parsed(&row.text("kind")?, ReturnKind::parse)?,
        reason_code: parsed(&row.text("reason_code")?, ReturnReason::parse)?,
        reason: row.text("reason")?,
        requested_at: row.int("requested_at")?,
        ship_by: row.int("ship_by")?,
        confirm_left: row.int("confirm_left")?,
        courier: row.opt_text("courier")?,
        invoice_number: row.opt_text("invoice_number")?,
        shipped_at: row.opt_int("shipped_at")?,
        received_at: row.opt_int("received_at")?,
        inspect_by: row.opt_int("inspect_by")?,
        outcome: row
            .opt_text("outcome")?
            .map(|o| parsed(&o, ReturnOutcome::parse))
            .transpose()?,
        closed_at: row.opt_int("closed_at")?,
        fee: Won::new(row.int("fee")?).map_err(|e| AppError::internal("return fee", e))?,
        refund_account: account,
    })
}

pub(super) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

fn actor_of(caller: Caller) -> Actor {
    Actor::member(caller.role, caller.user_id)
}

impl Payments {
    /// The payment's latest return, open or closed.
    pub(super) async fn latest_return(&self, payment_id: i64) -> AppResult<Option<ReturnRecord>> {
        // No ORDER BY: a batched read on MySQL promises no order; a payment has few returns.
        let sql = format!("SELECT {RETURN_COLUMNS} WHERE payment_id = ?");
        let returns = self
            .db
            .reads()
            .fetch_all(&sql, params![payment_id], return_from_row)
            .await?;
        Ok(returns.into_iter().max_by_key(|r| r.id))
    }

    async fn open_return(&self, payment_id: i64) -> AppResult<Option<ReturnRecord>> {
        Ok(self
            .latest_return(payment_id)
            .await?
            .filter(|r| r.closed_at.is_none()))
    }

    /// The payment and its open return, for its buyer or its seller alone.
    async fn for_side(
        &self,
        caller: Caller,
        payment_id: i64,
        side: Side,
    ) -> AppResult<(PaymentRecord, Option<ReturnRecord>)> {
        let payment = self.load_for(caller, payment_id).await?;
        match side {
            Side::Buyer => only(caller.user_id == payment.buyer_id, "the buyer")?,
            Side::Seller => only(caller.user_id == payment.seller_id, "the seller")?,
        }
        let open = self.open_return(payment_id).await?;
        Ok((payment, open))
    }

    /// The caller's step, answering the payment as it is afterwards.
    async fn return_step(
        &self,
        caller: Caller,
        payment: &PaymentRecord,
        mut make: impl FnMut(&PaymentRecord) -> AppResult<Step>,
    ) -> AppResult<PaymentRecord> {
        let stepped = self
            .step_payment(payment, &actor_of(caller), |p| make(p).map(Some))
            .await?;
        self.after_step(payment.id, &stepped).await
    }

    /// The buyer refuses delivered goods, before the inspection period ends.
    pub async fn request_return(
        &self,
        caller: Caller,
        payment_id: i64,
        ask: ReturnAsk,
    ) -> AppResult<PaymentRecord> {
        let (payment, _) = self.for_side(caller, payment_id, Side::Buyer).await?;
        if ask.kind == ReturnKind::Return {
            super::refunds::needs_account(&payment, ask.refund_account.as_ref())?;
        }
        let confirm_at =
            sqlx::query_scalar::<_, Option<i64>>("SELECT auto_confirm_at FROM orders WHERE id = ?")
                .bind(payment.order_id)
                .fetch_one(self.db.pool())
                .await?;
        let now = now_millis();
        let ship_by = now.saturating_add(millis(self.settings.return_ship_within));
        let confirm_left = confirm_at.map_or(0, |at| (at - now).max(0));
        let account = ask.refund_account.as_ref();
        self.return_step(caller, &payment, |p| {
            // The domain refuses other states; a delivered order past its period is the
            // automatic confirmation's, even if its round has not come yet.
            if p.order_status == OrderStatus::Delivered && confirm_left == 0 {
                return Err(AppError::InvalidState(
                    "the inspection period is over; the purchase is being confirmed".into(),
                ));
            }
            let mut step = Step::new(Transition::RequestReturn)
                .reason(format!(
                    "{} ({}): {}",
                    ask.kind, ask.reason_code, ask.reason
                ))
                .data(serde_json::json!({
                    "kind": ask.kind.as_str(),
                    "reason_code": ask.reason_code.as_str(),
                    "ship_by": ship_by,
                }));
            step.order_columns = vec![("return_due_at", Param::from(ship_by))];
            step.also.push((
                "INSERT INTO returns (payment_id, order_id, kind, reason_code, reason, \
                 requested_at, ship_by, confirm_left, refund_bank_code, refund_account_number, \
                 refund_holder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    p.id.into(),
                    p.order_id.into(),
                    ask.kind.as_str().into(),
                    ask.reason_code.as_str().into(),
                    ask.reason.as_str().into(),
                    now.into(),
                    ship_by.into(),
                    confirm_left.into(),
                    account.map(|a| a.bank_code.as_str()).into(),
                    account.map(|a| a.account_number.as_str()).into(),
                    account.map(|a| a.holder.as_str()).into(),
                ],
            ));
            Ok(step)
        })
        .await
    }

    /// The buyer sends the goods back (a second call corrects the parcel's details).
    pub async fn ship_return(
        &self,
        caller: Caller,
        payment_id: i64,
        courier: &str,
        invoice: &str,
    ) -> AppResult<PaymentRecord> {
        let (payment, open) = self.for_side(caller, payment_id, Side::Buyer).await?;
        let now = now_millis();
        let parcel =
            |id: i64| -> Vec<Param> { vec![courier.into(), invoice.into(), now.into(), id.into()] };
        const SHIPPED: &str = "UPDATE returns SET courier = ?, invoice_number = ?, \
            shipped_at = ? WHERE id = ? AND closed_at IS NULL";
        if let (OrderStatus::ReturnShipping, Some(open)) = (payment.order_status, &open) {
            self.db.write(SHIPPED, &parcel(open.id)).await?;
            return self.load(payment_id).await;
        }
        let open_id = open.map(|r| r.id);
        self.return_step(caller, &payment, |_| {
            let mut step = Step::new(Transition::ShipReturn)
                .reason(format!("{courier} {invoice}"))
                .data(serde_json::json!({"courier": courier, "invoice_number": invoice}));
            // In transit, no deadline runs: the seller's starts on receipt.
            step.order_columns = vec![("return_due_at", Param::Null)];
            if let Some(id) = open_id {
                step.also.push((SHIPPED, parcel(id)));
            }
            Ok(step)
        })
        .await
    }

    /// The seller has the goods back: their inspection period starts.
    pub async fn receive_return(
        &self,
        caller: Caller,
        payment_id: i64,
    ) -> AppResult<PaymentRecord> {
        let (payment, open) = self.for_side(caller, payment_id, Side::Seller).await?;
        let now = now_millis();
        let inspect_by = now.saturating_add(millis(self.settings.return_inspection));
        let open_id = open.map(|r| r.id);
        self.return_step(caller, &payment, |_| {
            let mut step = Step::new(Transition::ReceiveReturn)
                .reason("the returned goods arrived")
                .data(serde_json::json!({"inspect_by": inspect_by}));
            step.order_columns = vec![("return_due_at", Param::from(inspect_by))];
            if let Some(id) = open_id {
                step.also.push((
                    "UPDATE returns SET received_at = ?, inspect_by = ? WHERE id = ?",
                    vec![now.into(), inspect_by.into(), id.into()],
                ));
            }
            Ok(step)
        })
        .await
    }

    /// The seller refuses the returned goods: the order is disputed for an admin.
    pub async fn reject_return(
        &self,
        caller: Caller,
        payment_id: i64,
        reason: &str,
    ) -> AppResult<PaymentRecord> {
        let (payment, open) = self.for_side(caller, payment_id, Side::Seller).await?;
        let now = now_millis();
        self.return_step(caller, &payment, |p| {
            let mut step = Step::new(Transition::RejectReturn)
                .reason(reason)
                .data(serde_json::json!({"reason": reason}));
            step.order_columns = vec![
                ("disputed_from", Param::from(p.order_status.as_str())),
                ("return_due_at", Param::Null),
            ];
            if let Some(open) = &open {
                step.also
                    .push(close(open.id, ReturnOutcome::Rejected, now, Won::ZERO));
            }
            Ok(step)
        })
        .await
    }

    /// The seller accepts the returned goods, keeping `fee` of a return the buyer changed
    /// their mind about.
    pub async fn accept_return(
        &self,
        caller: Caller,
        payment_id: i64,
        fee: Option<i64>,
    ) -> AppResult<PaymentRecord> {
        let (payment, _) = self.for_side(caller, payment_id, Side::Seller).await?;
        let fee =
            Won::new(fee.unwrap_or(0)).map_err(|e| AppError::field("return_fee", e.to_string()))?;
        self.accept_as(
            &payment,
            fee,
            &actor_of(caller),
            "return accepted by the seller",
        )
        .await?;
        self.load(payment_id).await
    }

    /// Accepts the open return (the seller, or the jobs after the inspection period); a
    /// retry after an accepted return's refund did not go through asks for it again.
    pub(super) async fn accept_as(
        &self,
        payment: &PaymentRecord,
        fee: Won,
        actor: &Actor,
        why: &str,
    ) -> AppResult<()> {
        let Some(open) = self.open_return(payment.id).await? else {
            if payment.order_status == OrderStatus::Returned {
                return self.refund_owed(payment).await;
            }
            return Err(AppError::InvalidState(format!(
                "a {} order has no return to accept",
                payment.order_status
            )));
        };
        let now = now_millis();
        // From when on the jobs may ask again for a refund this request did not finish.
        let owed_check = now.saturating_add(self.gateway_patience());
        let stepped = self
            .step_payment(payment, actor, |p| {
                let mut step = Step::new(Transition::AcceptReturn {
                    kind: open.kind,
                    reason: open.reason_code,
                    fee,
                })
                .reason(why)
                .data(serde_json::json!({"kind": open.kind.as_str(), "return_fee": fee.get()}));
                step.also
                    .push(close(open.id, ReturnOutcome::Accepted, now, fee));
                let rest = p.refundable().checked_sub(fee).unwrap_or(Won::ZERO);
                match open.kind {
                    ReturnKind::Exchange => {
                        // The new parcel takes the shipment's place; the first one stays in
                        // the history.
                        step.order_columns = vec![("return_due_at", Param::Null)];
                        step.also.push((
                            "DELETE FROM shipments WHERE payment_id = ?",
                            vec![p.id.into()],
                        ));
                    }
                    ReturnKind::Return => {
                        step.order_columns = vec![("return_due_at", Param::from(owed_check))];
                        if rest > Won::ZERO {
                            step.refund = Some(RefundWrite::Request {
                                amount: rest,
                                reason: why.to_string(),
                                settle_after: owed_check,
                            });
                        }
                    }
                }
                Ok(Some(step))
            })
            .await?;
        match stepped {
            Stepped::Applied(applied) if applied.refund_id.is_some() => {
                self.ask_for_recorded(*applied, why, open.refund_account.clone(), actor)
                    .await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Asks again for what an accepted return still owes the buyer (its refund was refused,
    /// or a crash left its intent to be settled as failed). Nothing when nothing is owed.
    pub(super) async fn refund_owed(&self, payment: &PaymentRecord) -> AppResult<()> {
        self.settle_open_refunds(payment).await?;
        let payment = self.load(payment.id).await?;
        if payment.order_status != OrderStatus::Returned
            || payment.refunding_amount > Won::ZERO
            || payment.refundable() == Won::ZERO
            || !payment.status.holds_money()
        {
            return Ok(());
        }
        let account = self
            .latest_return(payment.id)
            .await?
            .and_then(|r| r.refund_account);
        self.refund_as(
            &payment,
            Party::System,
            None,
            "return accepted: refunded",
            account,
            &Actor::system(),
        )
        .await?;
        Ok(())
    }
}
