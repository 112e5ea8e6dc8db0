//! After payment: the seller ships (registered with the gateway's escrow delivery API), the
//! parcel is delivered, and the buyer confirms (or the period runs out), which releases the
//! escrow to the seller.

use super::gateway::gateway_error;
use super::model::PaymentRecord;
use super::rows::ShipmentSubject;
use super::steps::Stepped;
use super::transitions::Step;
use super::{only, Payments};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::gateway::{Contact, Delivery, GatewayError, PaymentRef};
use crate::records::Actor;
use escrow_domain::lifecycle::{Party, Transition};
use escrow_domain::{OrderStatus, Won};
use escrow_store::{now_millis, Param};

const INSERT_SHIPMENT: &str = "INSERT INTO shipments (payment_id, courier, invoice_number, \
    sent_at, registered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)";

impl Payments {
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
        let ShipmentSubject {
            payment,
            receiver,
            seller_name,
            seller_phone,
        } = self.load_shipment_subject(payment_id).await?;
        super::may_see(caller, &payment)?;
        only(caller.user_id == payment.seller_id, "the seller")?;
        let first = match payment.order_status {
            OrderStatus::Paid => true,
            OrderStatus::Shipping => false,
            other => {
                return Err(AppError::InvalidState(format!(
                    "a {other} order cannot be shipped"
                )))
            }
        };
        if first && payment.refunding_amount > Won::ZERO {
            return Err(AppError::RefundInProgress(
                "a refund is being asked of the gateway; ship once it is settled".into(),
            ));
        }
        let sent_at = sent_at.unwrap_or_else(now_millis);
        if payment.escrow {
            let imp_uid = payment
                .imp_uid
                .clone()
                .ok_or_else(|| AppError::InvalidState("the payment has no gateway id".into()))?;
            // The seller's row must exist, as a lookup of it by id would require.
            let seller_name =
                seller_name.ok_or_else(|| AppError::NotFound("the seller is gone".into()))?;
            let delivery = Delivery {
                sender: Contact {
                    name: seller_name,
                    phone: seller_phone.unwrap_or_else(|| "-".into()),
                    address: "-".into(),
                    postcode: "00000".into(),
                },
                relationship: "판매자".into(),
                receiver: Contact {
                    name: receiver.receiver_name,
                    phone: receiver.receiver_phone,
                    address: receiver.address,
                    postcode: receiver.postcode,
                },
                courier: courier.to_string(),
                invoice: invoice.to_string(),
                sent_at,
            };
            let at_gateway = PaymentRef::new(payment.merchant_uid.clone(), Some(&imp_uid));
            match self.gateway.ship(&at_gateway, &delivery, first).await {
                Ok(()) => {}
                // Registered by an earlier attempt whose answer we lost: update instead.
                Err(GatewayError::Refused { conflict: true, .. }) if first => {
                    self.gateway
                        .ship(&at_gateway, &delivery, false)
                        .await
                        .map_err(gateway_error)?;
                }
                // The gateway refuses the delivery of a payment a racing cancel emptied
                // meanwhile: answer what our record now says.
                Err(err @ GatewayError::Refused { .. }) => {
                    let now = self.load(payment.id).await?;
                    if now.refunding_amount > Won::ZERO {
                        return Err(AppError::RefundInProgress(
                            "a refund is being asked of the gateway; ship once it is settled"
                                .into(),
                        ));
                    }
                    if now.order_status != payment.order_status {
                        return Err(AppError::InvalidState(format!(
                            "a {} order cannot be shipped",
                            now.order_status
                        )));
                    }
                    return Err(gateway_error(err));
                }
                Err(err) => return Err(gateway_error(err)),
            }
        }
        let actor = Actor::member(caller.role, caller.user_id);
        let now = now_millis();
        if first {
            // The shipment row is written only with the move to `shipping`, so there is one.
            let stepped = self
                .step_payment(&payment, &actor, |p| {
                    let mut step = Step::new(Transition::Ship)
                        .reason(format!("{courier} {invoice}"))
                        .data(serde_json::json!({"courier": courier, "invoice_number": invoice}));
                    step.also.push((
                        INSERT_SHIPMENT,
                        vec![
                            p.id.into(),
                            courier.into(),
                            invoice.into(),
                            sent_at.into(),
                            now.into(),
                            now.into(),
                        ],
                    ));
                    Ok(Some(step))
                })
                .await?;
            return self.after_step(payment.id, &stepped).await;
        } else {
            let updated = self
                .db
                .write(
                    "UPDATE shipments SET courier = ?, invoice_number = ?, sent_at = ?, \
                     updated_at = ? WHERE payment_id = ?",
                    &[
                        courier.into(),
                        invoice.into(),
                        sent_at.into(),
                        now.into(),
                        payment.id.into(),
                    ],
                )
                .await?;
            if updated == 0 {
                let params: Vec<Param> = vec![
                    payment.id.into(),
                    courier.into(),
                    invoice.into(),
                    sent_at.into(),
                    now.into(),
                    now.into(),
                ];
                self.db.write(INSERT_SHIPMENT, &params).await?;
            }
        }
        self.load(payment.id).await
    }

    /// Returns the payment as it is after the delivery (its order `delivered`).
    pub async fn delivered(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        only(
            caller.user_id == payment.seller_id || caller.is_admin(),
            "the seller or an admin",
        )?;
        let now = now_millis();
        let after =
            i64::try_from(self.settings.auto_confirm_after.as_millis()).unwrap_or(i64::MAX / 4);
        let confirm_at = now.saturating_add(after);
        let actor = Actor::member(caller.role, caller.user_id);
        let stepped = self
            .step_payment(&payment, &actor, |_| {
                let mut step = Step::new(Transition::Deliver)
                    .data(serde_json::json!({"auto_confirm_at": confirm_at}));
                step.order_columns = vec![
                    ("delivered_at", Param::from(now)),
                    ("auto_confirm_at", Param::from(confirm_at)),
                ];
                Ok(Some(step))
            })
            .await?;
        self.after_step(payment_id, &stepped).await
    }

    /// The buyer confirms receipt: the escrow is released to the seller.
    pub async fn confirm(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load_for(caller, payment_id).await?;
        only(caller.user_id == payment.buyer_id, "the buyer")?;
        let actor = Actor::member(caller.role, caller.user_id);
        let released = self
            .release(
                &payment,
                Party::Buyer,
                &actor,
                "purchase confirmed by the buyer",
            )
            .await?;
        self.after_step(payment_id, &released).await
    }

    /// Releases what is left to the seller, less the fee and its VAT. An open refund intent
    /// whose request gave up is settled from the gateway first; one still being asked makes
    /// this `refund_in_progress`.
    pub(super) async fn release(
        &self,
        payment: &PaymentRecord,
        by: Party,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<Stepped> {
        self.settle_open_refunds(payment).await?;
        let stepped = self
            .step_payment(payment, actor, |_| {
                Ok(Some(
                    Step::new(Transition::Release { by })
                        .reason(reason)
                        .data(serde_json::json!({})),
                ))
            })
            .await?;
        if payment.escrow {
            self.confirm_at_pg(payment).await;
        }
        Ok(stepped)
    }

    /// Tells the PG the purchase is confirmed (V2's `/escrow/complete`; V1 has no such
    /// call). After the release, best effort: the release stands, and a PG not told
    /// confirms by itself at the end of its own period.
    async fn confirm_at_pg(&self, payment: &PaymentRecord) {
        let at = PaymentRef::new(payment.merchant_uid.clone(), payment.imp_uid.as_deref());
        if let Err(err) = self.gateway.complete_escrow(&at).await {
            tracing::warn!(payment.id = payment.id, error = %err, "telling the PG of the confirmation failed");
        }
    }
}
