//! Cancels and refunds: the amount is reserved by a refund intent before the gateway is asked,
//! so that no release can take it meanwhile; the intent is settled from the gateway's answer,
//! or, when that answer was lost, from the gateway's record of its cancels.

use super::gateway::gateway_error;
use super::model::{PaymentRecord, Refund, Refunded};
use super::steps::{Applied, Stepped};
use super::transitions::{RefundWrite, Step};
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::gateway::{CancelRequest, GatewayError, PaymentRef};
use crate::records::Actor;
use escrow_domain::banks::RefundAccount;
use escrow_domain::lifecycle::{Party, Transition};
use escrow_domain::{OrderStatus, PaymentStatus, RefundStatus, Won};
use escrow_store::{now_millis, params};

/// How a refund's reason names its intent at the gateway, so that the gateway's record of
/// its cancels tells which of our intents it carried out.
fn tag(refund_id: i64) -> String {
    format!("[refund:{refund_id}]")
}

fn party(caller: Caller, payment: &PaymentRecord) -> Party {
    if caller.is_admin() {
        Party::Admin
    } else if caller.user_id == payment.seller_id {
        Party::Seller
    } else {
        Party::Buyer
    }
}

/// What a new refund asks the gateway for.
struct Intent {
    refund_id: i64,
    payment: PaymentRecord,
    amount: Won,
    reason: String,
    /// Where a virtual-account payment's money goes back.
    refund_account: Option<RefundAccount>,
}

/// A virtual-account payment is refunded by bank transfer to the buyer's own account,
/// which only the caller can name.
pub(super) fn needs_account(
    payment: &PaymentRecord,
    account: Option<&RefundAccount>,
) -> AppResult<()> {
    if payment.is_vbank() && account.is_none() {
        return Err(AppError::field(
            "refund_account",
            "is required to refund a virtual-account payment: {bank_code, account_number, holder}",
        ));
    }
    Ok(())
}

impl Payments {
    /// Refunds all or part of what is left, by the rules of the contract.
    pub async fn refund(
        &self,
        caller: Caller,
        payment_id: i64,
        amount: Option<i64>,
        reason: &str,
        refund_account: Option<RefundAccount>,
    ) -> AppResult<Refunded> {
        let payment = self.load_for(caller, payment_id).await?;
        only(
            caller.user_id == payment.buyer_id
                || caller.user_id == payment.seller_id
                || caller.is_admin(),
            "the buyer, the seller or an admin",
        )?;
        let amount = amount
            .map(|a| Won::new(a).map_err(|e| AppError::field("amount", e.to_string())))
            .transpose()?;
        let actor = Actor::member(caller.role, caller.user_id);
        // A retry of a refund whose answer was lost: the gateway did it, so answer it.
        let settled = self.settle_open_refunds(&payment).await?;
        let retried = settled.into_iter().find(|r| {
            r.status == RefundStatus::Succeeded
                && r.actor == actor.0
                && r.reason == reason
                && amount.is_none_or(|a| a == r.amount)
        });
        if let Some(done) = retried {
            let payment = self.load(payment_id).await?;
            let refund = self.refund_by_id(done.id).await?;
            return Ok(Refunded { payment, refund });
        }
        needs_account(&payment, refund_account.as_ref())?;
        let by = party(caller, &payment);
        self.refund_as(&payment, by, amount, reason, refund_account, &actor)
            .await
    }

    /// Reserves, asks the gateway, settles: the refund of `amount` (all that is left if
    /// `None`) on behalf of `by`.
    pub(super) async fn refund_as(
        &self,
        payment: &PaymentRecord,
        by: Party,
        amount: Option<Won>,
        reason: &str,
        refund_account: Option<RefundAccount>,
        actor: &Actor,
    ) -> AppResult<Refunded> {
        let mut intent = self
            .request_refund(payment, by, amount, reason, actor)
            .await?;
        intent.refund_account = refund_account;
        self.ask_gateway(intent, actor).await
    }

    /// Before shipment, by the buyer or the seller: an unpaid order is simply cancelled; a
    /// paid one is refunded in full at the gateway.
    pub async fn cancel(
        &self,
        caller: Caller,
        payment_id: i64,
        reason: Option<&str>,
        refund_account: Option<RefundAccount>,
    ) -> AppResult<PaymentRecord> {
        let mut payment = self.load_for(caller, payment_id).await?;
        only(
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
        let open_account = payment.is_vbank()
            && matches!(
                payment.status,
                PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
            );
        if payment.order_status == OrderStatus::PendingPayment && open_account {
            // Revoke the account before the order ends, so that no transfer can arrive;
            // a deposit that already came makes this the cancel of a paid order.
            if self.close_account(&payment, &Actor::gateway()).await?
                == super::vbank::AccountClosed::Paid
            {
                payment = self.load(payment_id).await?;
            }
        }
        if payment.order_status == OrderStatus::PendingPayment {
            self.step(
                super::steps::Key::Order(payment.order_id),
                None,
                &actor,
                |_| {
                    Ok(Some(
                        Step::new(Transition::CancelUnpaid)
                            .reason(reason)
                            .data(serde_json::json!({})),
                    ))
                },
            )
            .await?;
            return self.load(payment_id).await;
        }
        if !self.settle_open_refunds(&payment).await?.is_empty() {
            payment = self.load(payment_id).await?;
        }
        if payment.order_status != OrderStatus::Paid {
            return Err(AppError::InvalidState(format!(
                "a {} order cannot be cancelled; open a dispute or ask for a refund",
                payment.order_status
            )));
        }
        if payment.refunding_amount > Won::ZERO {
            return Err(AppError::RefundInProgress(
                "a refund is being asked of the gateway; try again once it is settled".into(),
            ));
        }
        needs_account(&payment, refund_account.as_ref())?;
        let by = party(caller, &payment);
        let refunded = self
            .refund_as(&payment, by, None, reason, refund_account, &actor)
            .await?;
        Ok(refunded.payment)
    }

    /// Records the intent: the amount is reserved from here on.
    async fn request_refund(
        &self,
        payment: &PaymentRecord,
        by: Party,
        amount: Option<Won>,
        reason: &str,
        actor: &Actor,
    ) -> AppResult<Intent> {
        let settle_after = now_millis() + self.gateway_patience();
        let stepped = self
            .step_payment(payment, actor, |payment| {
                if payment.imp_uid.is_none() && payment.status.holds_money() {
                    return Err(AppError::InvalidState(
                        "the payment has no gateway id".into(),
                    ));
                }
                let amount = amount.unwrap_or_else(|| payment.refundable());
                let mut step = Step::new(Transition::RequestRefund { amount, by })
                    .reason(reason)
                    .data(serde_json::json!({"amount": amount.get()}));
                step.refund = Some(RefundWrite::Request {
                    amount,
                    reason: reason.to_string(),
                    settle_after,
                });
                Ok(Some(step))
            })
            .await?;
        match stepped {
            Stepped::Applied(applied) => {
                let Applied {
                    before,
                    plan,
                    refund_id,
                    after,
                } = *applied;
                let refund_id = refund_id
                    .ok_or_else(|| AppError::Internal("a refund request without its id".into()))?;
                let payment = before
                    .payment
                    .ok_or_else(|| AppError::Internal("a refund without its payment".into()))?;
                let reserved = plan.amounts.map_or(Won::ZERO, |a| a.refunding);
                let amount = reserved
                    .checked_sub(payment.refunding_amount)
                    .map_err(|e| AppError::internal("refund amount", e))?;
                Ok(Intent {
                    refund_id,
                    // As the reservation left it, so that settling it needs no read.
                    payment: after.unwrap_or(payment),
                    amount,
                    reason: reason.to_string(),
                    refund_account: None,
                })
            }
            other => Err(AppError::Internal(format!(
                "a refund request did not record its intent: {other:?}"
            ))),
        }
    }

    /// Asks the gateway for an intent's refund and settles it from the answer. A failed
    /// call leaves it `requested` for the next caller or the jobs to settle from the
    /// gateway's record.
    async fn ask_gateway(&self, intent: Intent, actor: &Actor) -> AppResult<Refunded> {
        let imp_uid = intent
            .payment
            .imp_uid
            .clone()
            .ok_or_else(|| AppError::InvalidState("the payment has no gateway id".into()))?;
        // No checksum: the reservation already keeps our requests within what is left, and
        // refunds of one payment may be asked for together.
        let request = CancelRequest {
            payment: PaymentRef::new(intent.payment.merchant_uid.clone(), Some(&imp_uid)),
            amount: Some(intent.amount.get()),
            cancellable: None,
            reason: format!("{} {}", intent.reason, tag(intent.refund_id)),
            refund_account: intent.refund_account.clone(),
            pg_provider: intent.payment.pg_provider.clone(),
        };
        let settled = match self.gateway.cancel(&request).await {
            Ok(_) => {
                crate::chaos::crash_point("after-gateway-cancel");
                let settled = self
                    .settle_refund(
                        &intent.payment,
                        intent.refund_id,
                        intent.amount,
                        Ok(()),
                        actor,
                    )
                    .await;
                match settled {
                    Ok(settled) => settled,
                    Err(err) => {
                        // The gateway refunded; whoever comes next settles it from its record.
                        self.settle_from_now(intent.refund_id).await;
                        return Err(err);
                    }
                }
            }
            Err(GatewayError::Refused { message, .. }) => {
                self.settle_refund(
                    &intent.payment,
                    intent.refund_id,
                    intent.amount,
                    Err(message.clone()),
                    actor,
                )
                .await?;
                return Err(AppError::InvalidState(format!(
                    "the gateway refused the refund ({message}); nothing was refunded"
                )));
            }
            Err(err) => {
                // The outcome is unknown; let the next caller settle it from the gateway.
                self.settle_from_now(intent.refund_id).await;
                return Err(gateway_error(err));
            }
        };
        let payment = self.after_step(intent.payment.id, &settled).await?;
        let refund = self.refund_by_id(intent.refund_id).await?;
        Ok(Refunded { payment, refund })
    }

    /// Lets anyone settle an intent from the gateway's record at once: its request gave up.
    /// Best effort: if this fails too, the intent waits until its patience runs out.
    async fn settle_from_now(&self, refund_id: i64) {
        let moved = self
            .db
            .write(
                "UPDATE refunds SET settle_after = ? WHERE id = ? AND status = ?",
                params![now_millis(), refund_id, RefundStatus::Requested.as_str()],
            )
            .await;
        if let Err(err) = moved {
            tracing::warn!(refund.id = refund_id, error = %err, "could not hand a refund over");
        }
    }

    /// Settles one intent: succeeded (`Ok`) or failed with the gateway's message.
    async fn settle_refund(
        &self,
        payment: &PaymentRecord,
        refund_id: i64,
        amount: Won,
        outcome: Result<(), String>,
        actor: &Actor,
    ) -> AppResult<Stepped> {
        let (transition, to, failure) = match outcome {
            Ok(()) => (
                Transition::RefundSucceeded { amount },
                RefundStatus::Succeeded,
                None,
            ),
            Err(message) => (
                Transition::RefundFailed { amount },
                RefundStatus::Failed,
                Some(message),
            ),
        };
        let reason = match to {
            RefundStatus::Succeeded => "refunded at the gateway",
            _ => "the gateway refused the refund",
        };
        self.step_payment(payment, actor, |_| {
            let mut step = Step::new(transition)
                .reason(reason)
                .data(serde_json::json!({"amount": amount.get()}));
            step.refund = Some(RefundWrite::Settle {
                refund_id,
                to,
                failure: failure.clone(),
            });
            Ok(Some(step))
        })
        .await
    }

    /// Settles the payment's `requested` intents whose request has given up, from the
    /// gateway's record: each is succeeded if the gateway's cancels name it, else failed.
    /// Answers those it settled, as they now are.
    pub(super) async fn settle_open_refunds(
        &self,
        payment: &PaymentRecord,
    ) -> AppResult<Vec<Refund>> {
        if payment.refunding_amount == Won::ZERO {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let settleable: Vec<Refund> = self
            .refunds_of(payment.id)
            .await?
            .into_iter()
            .filter(|r| r.status == RefundStatus::Requested && r.settle_after <= now)
            .collect();
        if settleable.is_empty() {
            return Ok(Vec::new());
        }
        let Some(imp_uid) = payment.imp_uid.as_deref() else {
            return Ok(Vec::new());
        };
        let gw = self
            .gateway
            .payment(&PaymentRef::new(
                payment.merchant_uid.clone(),
                Some(imp_uid),
            ))
            .await
            .map_err(gateway_error)?;
        let actor = Actor::system();
        let mut settled = Vec::with_capacity(settleable.len());
        for mut refund in settleable {
            let done = gw.has_cancellation(&tag(refund.id));
            let outcome = if done {
                Ok(())
            } else {
                Err("the gateway has no record of this refund".to_string())
            };
            refund.status = if done {
                RefundStatus::Succeeded
            } else {
                RefundStatus::Failed
            };
            self.settle_refund(payment, refund.id, refund.amount, outcome, &actor)
                .await?;
            settled.push(refund);
        }
        Ok(settled)
    }

    /// How long the request that made an intent may still be waiting for the gateway.
    fn gateway_patience(&self) -> i64 {
        let timeout = self.settings.gateway_timeout.as_millis();
        i64::try_from(timeout).unwrap_or(i64::MAX / 4) + 1_000
    }

    pub async fn refunds(&self, caller: Caller, payment_id: i64) -> AppResult<Vec<Refund>> {
        self.load_for(caller, payment_id).await?;
        self.refunds_of(payment_id).await
    }
}
