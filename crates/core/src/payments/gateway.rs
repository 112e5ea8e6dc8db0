//! Bringing our record in line with the gateway's: the one place that turns the gateway's
//! state into ours (completion, webhooks, expiry checks, reconciliation all come here).

use super::model::PaymentRecord;
use super::steps::Stepped;
use super::transitions::{RefundWrite, Step};
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::gateway::{
    CancelRequest, EscrowAtPg, GatewayError, GatewayPayment, GatewayStatus, PaymentRef,
};
use crate::records::Actor;
use escrow_domain::lifecycle::{Event, Party, Transition};
use escrow_domain::{EscrowStatus, OrderStatus, PaymentStatus, Won};
use escrow_store::Param;

pub(super) fn gateway_error(err: GatewayError) -> AppError {
    tracing::warn!(gateway.error = err.kind(), error = %err, "gateway call failed");
    AppError::Gateway(err.kind().replace('_', " "))
}

/// What the gateway's record means for ours.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Paid as the order asked.
    Pay,
    /// A virtual account for the order's amount was issued: its deposit is awaited.
    AwaitDeposit,
    /// A virtual account is open for a payment we ended: revoke it.
    Revoke,
    /// Paid, but not what the order asked (amount, escrow flag, currency).
    Mismatch,
    Failed,
    /// The gateway refunded more than we recorded.
    RefundedThere(Won),
    /// We refused this payment and the gateway still holds money: finish the cancel.
    FinishCancel,
    /// The buyer confirmed the purchase at the PG (V2 reports it): release.
    ConfirmedAtPg,
    /// The buyer refused the goods at the PG: a dispute for an admin to decide.
    RejectedAtPg,
    Nothing,
}

fn verdict(ours: &PaymentRecord, gw: &GatewayPayment) -> Verdict {
    use GatewayStatus as Gw;
    let is_account = gw.vbank.is_some();
    let unpaid = matches!(
        ours.status,
        PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
    );
    match (ours.status, gw.status) {
        (PaymentStatus::Ready, Gw::Ready) if is_account => {
            if gw.amount == ours.amount.get() && gw.escrow == ours.escrow {
                Verdict::AwaitDeposit
            } else {
                Verdict::Mismatch
            }
        }
        (PaymentStatus::Failed | PaymentStatus::Cancelled, Gw::Ready) if is_account => {
            Verdict::Revoke
        }
        (_, Gw::Paid) if unpaid => {
            let matches = gw.amount == ours.amount.get()
                && gw.cancelled == 0
                && gw.escrow == ours.escrow
                && gw.currency.eq_ignore_ascii_case("KRW");
            if matches {
                Verdict::Pay
            } else {
                Verdict::Mismatch
            }
        }
        (_, Gw::Failed) if unpaid => Verdict::Failed,
        (PaymentStatus::Failed | PaymentStatus::Cancelled, Gw::Paid)
            if gw.cancellable() > 0 && ours.paid_at.is_none() =>
        {
            Verdict::FinishCancel
        }
        (_, Gw::Paid | Gw::Cancelled)
            if ours.paid_at.is_some() && gw.cancelled > ours.refunded_amount.get() =>
        {
            // What our open intents reserve is theirs to settle, not an unknown refund.
            let known = ours.refunded_amount.get() + ours.refunding_amount.get();
            match Won::new(gw.cancelled - known) {
                Ok(extra) if extra > Won::ZERO => Verdict::RefundedThere(extra),
                _ => Verdict::Nothing,
            }
        }
        (_, Gw::Paid)
            if ours.escrow_status == EscrowStatus::Held
                && ours.order_status.awaits_confirmation() =>
        {
            match gw.escrow_at_pg {
                Some(EscrowAtPg::Confirmed) => Verdict::ConfirmedAtPg,
                Some(EscrowAtPg::Rejected) => Verdict::RejectedAtPg,
                _ => Verdict::Nothing,
            }
        }
        _ => Verdict::Nothing,
    }
}

/// A move the PG reported that our record no longer allows (a refund under way, a release
/// or dispute that came first) changes nothing: reconciliation looks again next round.
fn not_now(done: AppResult<bool>) -> AppResult<bool> {
    match done {
        Err(AppError::InvalidState(_) | AppError::RefundInProgress(_)) => Ok(false),
        other => other,
    }
}

impl Payments {
    /// Brings our record in line with the gateway's. Returns whether anything changed.
    pub(super) async fn apply_gateway(
        &self,
        payment: &PaymentRecord,
        gw: &GatewayPayment,
        actor: &Actor,
    ) -> AppResult<bool> {
        crate::chaos::crash_point("after-gateway-fetch");
        let fresh;
        let payment = if !self.settle_open_refunds(payment).await?.is_empty() {
            fresh = self.load(payment.id).await?;
            &fresh
        } else {
            payment
        };
        let changed = match verdict(payment, gw) {
            Verdict::Pay => self.mark_paid(payment, gw, actor).await?,
            Verdict::AwaitDeposit => self.await_deposit(payment, gw, actor).await?,
            Verdict::Revoke => {
                self.revoke_logged(payment, &gw.to_ref()).await;
                false
            }
            Verdict::Mismatch => {
                let reason = format!(
                    "amount_mismatch: paid {} {} (escrow {}) for an order of {} KRW (escrow {})",
                    gw.amount,
                    gw.currency,
                    gw.escrow,
                    payment.amount.get(),
                    payment.escrow
                );
                let won = self
                    .close_ready(payment, gw, Transition::RefuseMismatch, &reason, actor)
                    .await?;
                if won && gw.status == GatewayStatus::Ready {
                    tracing::warn!(
                        payment.id = payment.id,
                        "virtual account of another amount: revoking it"
                    );
                    self.revoke_logged(payment, &gw.to_ref()).await;
                } else if won {
                    tracing::warn!(
                        payment.id = payment.id,
                        "amount mismatch: cancelling at the gateway"
                    );
                    self.cancel_refused_logged(payment, gw).await;
                }
                won
            }
            Verdict::Failed => {
                let reason = gw
                    .fail_reason
                    .clone()
                    .unwrap_or_else(|| "the gateway refused the payment".into());
                self.close_ready(payment, gw, Transition::Fail, &reason, actor)
                    .await?
            }
            Verdict::RefundedThere(_) => {
                self.record_gateway_refund(payment, gw.cancelled, actor)
                    .await?
            }
            Verdict::FinishCancel => self.cancel_refused(gw).await?,
            Verdict::ConfirmedAtPg => {
                let reason = "purchase confirmed by the buyer at the PG";
                let released = self.release(payment, Party::Buyer, actor, reason).await;
                not_now(released.map(|_| true))?
            }
            Verdict::RejectedAtPg => {
                let reason = "the buyer refused the goods at the PG";
                let disputed = self.open_dispute(payment, actor, reason).await;
                not_now(disputed.map(|_| true))?
            }
            Verdict::Nothing => false,
        };
        Ok(changed)
    }

    /// Pays the order, or, when it closed before the money arrived (its stock is gone),
    /// refuses the payment and gives the money back.
    async fn mark_paid(
        &self,
        payment: &PaymentRecord,
        gw: &GatewayPayment,
        actor: &Actor,
    ) -> AppResult<bool> {
        let paid_at = gw.paid_at.unwrap_or_else(escrow_store::now_millis);
        let stepped = self
            .step_payment(payment, actor, |p| {
                if !matches!(
                    p.status,
                    PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
                ) {
                    return Ok(None);
                }
                if p.order_status != OrderStatus::PendingPayment {
                    let mut step = Step::new(Transition::RefuseLate)
                        .reason("paid after the order closed")
                        .data(serde_json::json!({"imp_uid": gw.gateway_id}));
                    step.payment_columns = vec![("imp_uid", Param::from(gw.gateway_id.as_str()))];
                    return Ok(Some(step));
                }
                let mut step = Step::new(Transition::Pay).data(serde_json::json!({
                    "amount": p.amount.get(), "imp_uid": gw.gateway_id,
                }));
                step.payment_columns = vec![
                    ("imp_uid", Param::from(gw.gateway_id.as_str())),
                    ("pg_provider", Param::from(gw.pg_provider.as_deref())),
                    ("pay_method", Param::from(gw.pay_method.as_deref())),
                    ("paid_at", Param::from(paid_at)),
                ];
                if p.from_cart {
                    step.also.push((
                        "DELETE FROM cart_items WHERE buyer_id = ? AND product_id IN \
                         (SELECT product_id FROM order_items WHERE order_id = ?)",
                        vec![p.buyer_id.into(), p.order_id.into()],
                    ));
                }
                Ok(Some(step))
            })
            .await?;
        match stepped {
            Stepped::Applied(applied) => {
                if applied.plan.event == Event::PaymentRefused {
                    self.cancel_refused_logged(payment, gw).await;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Records the virtual account the gateway issued: the payment awaits its deposit. An
    /// account for an order that closed meanwhile is revoked instead.
    async fn await_deposit(
        &self,
        payment: &PaymentRecord,
        gw: &GatewayPayment,
        actor: &Actor,
    ) -> AppResult<bool> {
        let account = gw.vbank.clone().unwrap_or_default();
        let bank_name = account
            .bank_name
            .clone()
            .or_else(|| escrow_domain::banks::bank_name(&account.bank_code).map(str::to_owned))
            .unwrap_or_default();
        let (bank_code, account_number, holder, due_at) = (
            account.bank_code,
            account.account_number,
            account.holder,
            account.due_at,
        );
        let issued_at = account.issued_at.unwrap_or_else(escrow_store::now_millis);
        let mut closed = false;
        let stepped = self
            .step_payment(payment, actor, |p| {
                if p.status != PaymentStatus::Ready {
                    return Ok(None);
                }
                if p.order_status != OrderStatus::PendingPayment {
                    closed = true;
                    return Ok(None);
                }
                let mut step = Step::new(Transition::AwaitDeposit).data(serde_json::json!({
                    "amount": p.amount.get(), "imp_uid": gw.gateway_id, "bank_code": bank_code,
                    "bank_name": bank_name, "account_number": account_number, "holder": holder,
                    "due_at": due_at,
                }));
                step.payment_columns = vec![
                    ("imp_uid", Param::from(gw.gateway_id.as_str())),
                    ("pg_provider", Param::from(gw.pg_provider.as_deref())),
                ];
                step.also.push((
                    "INSERT INTO vbank_accounts (payment_id, bank_code, bank_name, account_number, holder, due_at, issued_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        p.id.into(),
                        bank_code.as_str().into(),
                        bank_name.as_str().into(),
                        account_number.as_str().into(),
                        holder.as_str().into(),
                        due_at.into(),
                        issued_at.into(),
                    ],
                ));
                Ok(Some(step))
            })
            .await?;
        if closed {
            self.revoke_logged(payment, &gw.to_ref()).await;
        }
        Ok(matches!(stepped, Stepped::Applied(_)))
    }

    /// Ends a `ready` payment the gateway reported on; returns whether this caller did it
    /// (racing callers then do what follows once).
    async fn close_ready(
        &self,
        payment: &PaymentRecord,
        gw: &GatewayPayment,
        transition: Transition,
        reason: &str,
        actor: &Actor,
    ) -> AppResult<bool> {
        let stepped = self
            .step_payment(payment, actor, |p| {
                if !matches!(
                    p.status,
                    PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
                ) {
                    return Ok(None);
                }
                let mut step = Step::new(transition)
                    .reason(reason)
                    .data(serde_json::json!({
                        "imp_uid": gw.gateway_id,
                    }));
                step.payment_columns = vec![("imp_uid", Param::from(gw.gateway_id.as_str()))];
                Ok(Some(step))
            })
            .await?;
        Ok(matches!(stepped, Stepped::Applied(_)))
    }

    /// Records a refund the gateway made that we did not ask for. After release it cannot be
    /// repaired: a divergence is recorded instead.
    ///
    /// What is theirs is decided on our record as the step writes it, not as read before
    /// the gateway was: a refund of ours reserved or settled meanwhile (its webhook is what
    /// brought us here) is ours, not an unknown one.
    async fn record_gateway_refund(
        &self,
        payment: &PaymentRecord,
        cancelled_there: i64,
        actor: &Actor,
    ) -> AppResult<bool> {
        let mut amount = Won::ZERO;
        let recorded = self
            .step_payment(payment, actor, |p| {
                let known = p.refunded_amount.get() + p.refunding_amount.get();
                amount = match Won::new(cancelled_there - known) {
                    Ok(extra) if extra > Won::ZERO => extra,
                    _ => return Ok(None),
                };
                let reason = "refunded at the gateway, recorded from its record";
                let mut step = Step::new(Transition::RefundedAtGateway { amount })
                    .reason(reason)
                    .data(serde_json::json!({"amount": amount.get()}));
                step.refund = Some(RefundWrite::Found {
                    amount,
                    reason: reason.into(),
                });
                Ok(Some(step))
            })
            .await;
        match recorded {
            Ok(stepped) => Ok(matches!(stepped, Stepped::Applied(_))),
            Err(AppError::InvalidState(_) | AppError::RefundExceedsBalance(_)) => {
                let found = format!(
                    "the gateway cancelled {} won more than we recorded; ours: refunded {}, released {}",
                    amount.get(),
                    payment.refunded_amount.get(),
                    payment.released_amount.get()
                );
                self.record_divergence(payment.id, "gateway_cancelled_more", &found)
                    .await?;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    async fn cancel_refused_logged(&self, payment: &PaymentRecord, gw: &GatewayPayment) {
        if let Err(err) = self.cancel_refused(gw).await {
            // Reconciliation finishes it: a refused payment still paid at the gateway.
            tracing::error!(payment.id = payment.id, error = %err, "cancelling a refused payment failed");
        }
    }

    /// Cancels in full a payment we refused. Racing callers may both try; the gateway refuses
    /// the second, which is success for us once the gateway shows nothing left to cancel.
    pub(super) async fn cancel_refused(&self, gw: &GatewayPayment) -> AppResult<bool> {
        let request = CancelRequest {
            payment: gw.to_ref(),
            amount: None,
            cancellable: Some(gw.cancellable()),
            reason: "escrow: refused payment".into(),
            refund_account: None,
            pg_provider: gw.pg_provider.clone(),
        };
        match self.gateway.cancel(&request).await {
            Ok(_) => Ok(true),
            Err(GatewayError::Refused { .. }) => {
                let now = self
                    .gateway
                    .payment(&gw.to_ref())
                    .await
                    .map_err(gateway_error)?;
                if now.cancellable() == 0 {
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

    pub(super) async fn find_at_gateway(
        &self,
        payment: &PaymentRecord,
    ) -> AppResult<Option<GatewayPayment>> {
        let found = self
            .gateway
            .payment(&PaymentRef::new(
                payment.merchant_uid.clone(),
                payment.imp_uid.as_deref(),
            ))
            .await;
        match found {
            Ok(gw) if gw.reference == payment.merchant_uid => Ok(Some(gw)),
            Ok(_) | Err(GatewayError::NotFound(_)) => Ok(None),
            Err(err) => Err(gateway_error(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escrow_domain::EscrowStatus;

    fn ours(status: PaymentStatus, refunded: i64, refunding: i64) -> PaymentRecord {
        PaymentRecord {
            id: 1,
            order_id: 1,
            merchant_uid: "m".into(),
            imp_uid: Some("imp_1".into()),
            amount: Won::new(10_000).unwrap_or(Won::ZERO),
            refunded_amount: Won::new(refunded).unwrap_or(Won::ZERO),
            released_amount: Won::ZERO,
            refunding_amount: Won::new(refunding).unwrap_or(Won::ZERO),
            version: 0,
            status,
            escrow: true,
            escrow_status: EscrowStatus::Held,
            pg_provider: None,
            pay_method: None,
            paid_at: (status != PaymentStatus::Ready && status != PaymentStatus::Failed)
                .then_some(1),
            failure_code: None,
            buyer_id: 2,
            seller_id: 3,
            order_status: OrderStatus::Paid,
            from_cart: false,
        }
    }

    fn theirs(status: GatewayStatus, amount: i64, cancelled: i64) -> GatewayPayment {
        GatewayPayment {
            reference: "m".into(),
            gateway_id: "imp_1".into(),
            status,
            amount,
            cancelled,
            currency: "KRW".into(),
            escrow: true,
            pg_provider: None,
            pay_method: None,
            paid_at: None,
            fail_reason: None,
            cancellations: Vec::new(),
            vbank: None,
            escrow_at_pg: None,
        }
    }

    #[test]
    fn verdicts() {
        use GatewayStatus as Gw;
        use PaymentStatus as P;
        let cases = [
            (
                "paid as asked",
                ours(P::Ready, 0, 0),
                theirs(Gw::Paid, 10_000, 0),
                Verdict::Pay,
            ),
            (
                "paid another amount",
                ours(P::Ready, 0, 0),
                theirs(Gw::Paid, 9_000, 0),
                Verdict::Mismatch,
            ),
            (
                "failed",
                ours(P::Ready, 0, 0),
                theirs(Gw::Failed, 10_000, 0),
                Verdict::Failed,
            ),
            (
                "in line",
                ours(P::Paid, 0, 0),
                theirs(Gw::Paid, 10_000, 0),
                Verdict::Nothing,
            ),
            (
                "console refund",
                ours(P::Paid, 0, 0),
                theirs(Gw::Paid, 10_000, 3_000),
                Verdict::RefundedThere(Won::new(3_000).unwrap_or(Won::ZERO)),
            ),
            (
                "our intent, not theirs",
                ours(P::Paid, 0, 3_000),
                theirs(Gw::Paid, 10_000, 3_000),
                Verdict::Nothing,
            ),
            (
                "beyond our intent",
                ours(P::Paid, 0, 3_000),
                theirs(Gw::Cancelled, 10_000, 10_000),
                Verdict::RefundedThere(Won::new(7_000).unwrap_or(Won::ZERO)),
            ),
            (
                "refused, still paid there",
                ours(P::Failed, 0, 0),
                theirs(Gw::Paid, 9_000, 0),
                Verdict::FinishCancel,
            ),
            (
                "refused and cancelled",
                ours(P::Failed, 0, 0),
                theirs(Gw::Cancelled, 9_000, 9_000),
                Verdict::Nothing,
            ),
        ];
        for (name, ours, theirs, expected) in cases {
            assert_eq!(verdict(&ours, &theirs), expected, "{name}");
        }
    }

    #[test]
    fn the_pgs_escrow_state_matters_only_while_the_buyer_may_confirm() {
        let at_order = |order: OrderStatus| PaymentRecord {
            order_status: order,
            ..ours(PaymentStatus::Paid, 0, 0)
        };
        let at_pg = |state: EscrowAtPg| GatewayPayment {
            escrow_at_pg: Some(state),
            ..theirs(GatewayStatus::Paid, 10_000, 0)
        };
        let cases = [
            (
                OrderStatus::Delivered,
                EscrowAtPg::Confirmed,
                Verdict::ConfirmedAtPg,
            ),
            (
                OrderStatus::Shipping,
                EscrowAtPg::Confirmed,
                Verdict::ConfirmedAtPg,
            ),
            (
                OrderStatus::Delivered,
                EscrowAtPg::Rejected,
                Verdict::RejectedAtPg,
            ),
            (
                OrderStatus::Delivered,
                EscrowAtPg::Delivered,
                Verdict::Nothing,
            ),
            (OrderStatus::Paid, EscrowAtPg::Confirmed, Verdict::Nothing),
            (
                OrderStatus::Disputed,
                EscrowAtPg::Rejected,
                Verdict::Nothing,
            ),
        ];
        for (order, state, expected) in cases {
            assert_eq!(
                verdict(&at_order(order), &at_pg(state)),
                expected,
                "{order} {state:?}"
            );
        }
    }
}
