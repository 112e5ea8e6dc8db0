//! Disputes: the buyer stops the release after shipment; an admin decides.

use super::model::{PaymentRecord, Resolution};
use super::steps::Stepped;
use super::transitions::Step;
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::records::Actor;
use escrow_domain::lifecycle::{Party, Transition};
use escrow_domain::{OrderStatus, Won};
use escrow_store::Param;

impl Payments {
    /// Returns the payment as it is after the dispute opened (its order `disputed`).
    pub async fn dispute(
        &self,
        caller: Caller,
        payment_id: i64,
        reason: &str,
    ) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        only(caller.user_id == payment.buyer_id, "the buyer")?;
        let actor = Actor::member(caller.role, caller.user_id);
        let stepped = self.open_dispute(&payment, &actor, reason).await?;
        self.after_step(payment_id, &stepped).await
    }

    /// The order becomes `disputed`: the buyer's here, or the buyer's rejection at the PG.
    pub(super) async fn open_dispute(
        &self,
        payment: &PaymentRecord,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<Stepped> {
        self.step_payment(payment, actor, |p| {
            let mut step = Step::new(Transition::Dispute)
                .reason(reason)
                .data(serde_json::json!({"reason": reason}));
            step.order_columns = vec![("disputed_from", Param::from(p.order_status.as_str()))];
            Ok(Some(step))
        })
        .await
    }

    /// An admin decides a dispute: release to the seller, or refund (all, or `amount` with
    /// the rest released).
    pub async fn resolve(
        &self,
        caller: Caller,
        payment_id: i64,
        outcome: Resolution,
        amount: Option<i64>,
        refund_account: Option<escrow_domain::banks::RefundAccount>,
    ) -> AppResult<PaymentRecord> {
        only(caller.is_admin(), "an admin")?;
        let payment = self.load(payment_id).await?;
        if payment.order_status != OrderStatus::Disputed {
            return Err(AppError::InvalidState(format!(
                "a {} order has no dispute to resolve",
                payment.order_status
            )));
        }
        let actor = Actor::member(caller.role, caller.user_id);
        match outcome {
            Resolution::Release => {
                self.release(
                    &payment,
                    Party::Admin,
                    &actor,
                    "dispute resolved: released to the seller",
                )
                .await?;
            }
            Resolution::Refund => {
                let amount = amount
                    .map(|a| Won::new(a).map_err(|e| AppError::field("amount", e.to_string())))
                    .transpose()?;
                super::refunds::needs_account(&payment, refund_account.as_ref())?;
                self.settle_open_refunds(&payment).await?;
                let refunded = self
                    .refund_as(
                        &payment,
                        Party::Admin,
                        amount,
                        "dispute resolved: refunded",
                        refund_account,
                        &actor,
                    )
                    .await?;
                if refunded.payment.order_status == OrderStatus::Disputed {
                    self.release(
                        &refunded.payment,
                        Party::Admin,
                        &actor,
                        "dispute resolved: the rest released",
                    )
                    .await?;
                }
            }
        }
        self.load(payment_id).await
    }
}
