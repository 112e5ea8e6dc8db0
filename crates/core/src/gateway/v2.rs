//! The port over PortOne V2 (`portone::v2`): the payment is read by its `paymentId` (our
//! reference) and its `transactionId` is the gateway's id; banks and couriers go by V2's
//! enum names; the escrow's state at the PG is reported; `/escrow/complete` tells the PG
//! of the buyer's confirmation. V2 pre-registers no amount, so `prepare` does nothing.

use super::port::{
    CancelRequest, Cancellation, ChangedPage, ChangedQuery, Delivery, EscrowAtPg, Gateway,
    GatewayError, GatewayPayment, GatewayStatus, IssuedAccount, PaymentRef,
};
use async_trait::async_trait;
use escrow_domain::banks::{bank_name, kftc_of_v2_bank, v2_bank};
use escrow_domain::escrow::v2_courier;
use portone::v2::{self as wire, PortOneV2, V2Error};
use std::sync::Arc;
use time::OffsetDateTime;

/// Payments a page of `changed` holds.
const PAGE_SIZE: u32 = 100;

pub struct V2 {
    client: Arc<dyn PortOneV2>,
}

impl V2 {
    pub fn new(client: Arc<dyn PortOneV2>) -> Self {
        Self { client }
    }
}

impl From<V2Error> for GatewayError {
    fn from(err: V2Error) -> Self {
        match err {
            V2Error::NotFound { message } => Self::NotFound(message),
            // The gateway's typed refusals: it did nothing.
            V2Error::AlreadyCancelled { message }
            | V2Error::CancellableAmountConsistencyBroken { message }
            | V2Error::CancelAmountExceeds { message }
            | V2Error::NotPaid { message }
            | V2Error::NotWaitingForDeposit { message }
            | V2Error::InvalidRequest { message }
            | V2Error::Other { message, .. } => Self::Refused {
                conflict: false,
                message,
            },
            other => Self::Failed {
                kind: other.kind(),
                message: other.to_string(),
            },
        }
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn at_secs(secs: i64) -> OffsetDateTime {
    at_millis(secs.saturating_mul(1000))
}

fn escrow_at_pg(status: wire::EscrowStatus) -> Option<EscrowAtPg> {
    use wire::EscrowStatus as E;
    Some(match status {
        E::BeforeRegistered => EscrowAtPg::BeforeRegistered,
        E::Registered => EscrowAtPg::Registered,
        E::Delivered => EscrowAtPg::Delivered,
        E::Confirmed => EscrowAtPg::Confirmed,
        E::Rejected => EscrowAtPg::Rejected,
        E::RejectConfirmed => EscrowAtPg::RejectConfirmed,
        E::Cancelled => EscrowAtPg::Cancelled,
        E::Unknown => return None,
    })
}

fn from_v2(p: wire::Payment) -> GatewayPayment {
    use wire::PaymentStatus as S;
    let status = match p.status {
        S::Ready | S::PayPending | S::VirtualAccountIssued => GatewayStatus::Ready,
        S::Paid | S::PartialCancelled => GatewayStatus::Paid,
        S::Cancelled => GatewayStatus::Cancelled,
        S::Failed => GatewayStatus::Failed,
        S::Unknown => GatewayStatus::Unknown,
    };
    let pay_method = match &p.method {
        Some(wire::PaymentMethod::Card(_)) => Some("card".to_string()),
        Some(wire::PaymentMethod::VirtualAccount(_)) => Some("vbank".to_string()),
        _ => None,
    };
    let vbank = p.virtual_account().map(|account| {
        let bank_code = account
            .bank
            .as_deref()
            .and_then(kftc_of_v2_bank)
            .unwrap_or_default();
        IssuedAccount {
            bank_code: bank_code.to_string(),
            bank_name: bank_name(bank_code)
                .map(str::to_owned)
                .or_else(|| account.bank.clone()),
            account_number: account.account_number.clone(),
            holder: account.remittee_name.clone().unwrap_or_default(),
            due_at: account.expired_at.map_or(0, millis),
            issued_at: account.issued_at.map(millis),
        }
    });
    GatewayPayment {
        reference: p.id,
        gateway_id: p.transaction_id,
        status,
        amount: p.amount.total,
        cancelled: p.amount.cancelled,
        currency: p.currency,
        escrow: p.escrow.is_some(),
        pg_provider: p.channel.map(|c| c.pg_provider),
        pay_method,
        paid_at: p.paid_at.map(millis),
        fail_reason: p.failure.and_then(|f| f.reason),
        // A failed cancellation moved no money.
        cancellations: p
            .cancellations
            .into_iter()
            .filter(|c| c.status != wire::CancellationStatus::Failed)
            .map(|c| Cancellation {
                amount: c.total_amount,
                reason: Some(c.reason),
            })
            .collect(),
        vbank,
        escrow_at_pg: p.escrow.and_then(|e| escrow_at_pg(e.status)),
    }
}

fn cancel_v2(request: &CancelRequest) -> Result<wire::CancelRequest, GatewayError> {
    let mut v2 = wire::CancelRequest::new(request.amount, request.reason.clone());
    if let Some(cancellable) = request.cancellable {
        v2 = v2.with_current_cancellable_amount(cancellable);
    }
    if let Some(account) = &request.refund_account {
        let bank = v2_bank(&account.bank_code).ok_or_else(|| GatewayError::Refused {
            conflict: false,
            message: format!("bank {} has no PortOne V2 name", account.bank_code),
        })?;
        v2 = v2.with_refund_account(wire::RefundAccount {
            bank: bank.to_string(),
            number: account.account_number.clone(),
            holder_name: account.holder.clone(),
            holder_phone_number: None,
        });
    }
    Ok(v2)
}

fn logistics(delivery: &Delivery) -> wire::EscrowLogisticsRequest {
    let mut sender = wire::EscrowParty::new(&delivery.sender.name, &delivery.sender.phone);
    sender.zipcode = Some(delivery.sender.postcode.clone());
    sender.relationship = Some(delivery.relationship.clone());
    let mut receiver = wire::EscrowParty::new(&delivery.receiver.name, &delivery.receiver.phone);
    receiver.zipcode = Some(delivery.receiver.postcode.clone());
    wire::EscrowLogisticsRequest::new(wire::Logistics::new(
        v2_courier(&delivery.courier),
        &delivery.invoice,
        at_millis(delivery.sent_at),
    ))
    .with_parties(sender, receiver)
}

#[async_trait]
impl Gateway for V2 {
    async fn payment(&self, payment: &PaymentRef) -> Result<GatewayPayment, GatewayError> {
        // V2 finds a payment by our reference; the transaction id is what it answers.
        Ok(from_v2(self.client.get_payment(&payment.reference).await?))
    }

    async fn payments(&self, payments: &[PaymentRef]) -> Result<Vec<GatewayPayment>, GatewayError> {
        // V2 has no look-up by a list of ids: one at a time.
        let mut found = Vec::with_capacity(payments.len());
        for payment in payments {
            match self.client.get_payment(&payment.reference).await {
                Ok(p) => found.push(from_v2(p)),
                Err(V2Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(found)
    }

    async fn changed(&self, query: &ChangedQuery) -> Result<ChangedPage, GatewayError> {
        let page: u32 = query
            .cursor
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let listed = self
            .client
            .list_payments(&wire::PaymentsQuery::status_changed(
                at_secs(query.from),
                at_secs(query.to.saturating_add(1)),
                page,
                PAGE_SIZE,
            ))
            .await?;
        let seen = (u64::from(page) + 1) * u64::from(PAGE_SIZE);
        let next = (seen < u64::from(listed.page.total_count)).then(|| (page + 1).to_string());
        Ok(ChangedPage {
            payments: listed.items.into_iter().map(from_v2).collect(),
            next,
        })
    }

    async fn prepare(&self, _reference: &str, _amount: i64) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<(), GatewayError> {
        let v2 = cancel_v2(request)?;
        self.client.cancel(&request.payment.reference, &v2).await?;
        Ok(())
    }

    async fn ship(
        &self,
        payment: &PaymentRef,
        delivery: &Delivery,
        first: bool,
    ) -> Result<(), GatewayError> {
        let body = logistics(delivery);
        let sent = if first {
            self.client
                .register_escrow_logistics(&payment.reference, &body)
                .await
        } else {
            self.client
                .modify_escrow_logistics(&payment.reference, &body)
                .await
        };
        match sent {
            Ok(_) => Ok(()),
            Err(err) if first && err.outcome_known() => {
                // V2 refuses a second registration as a bad request: tell it apart by the
                // PG's escrow state, so the caller updates instead.
                let now = self.payment(payment).await?;
                let registered =
                    !matches!(now.escrow_at_pg, None | Some(EscrowAtPg::BeforeRegistered));
                Err(if registered {
                    GatewayError::Refused {
                        conflict: true,
                        message: "the delivery is registered already".into(),
                    }
                } else {
                    err.into()
                })
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn complete_escrow(&self, payment: &PaymentRef) -> Result<(), GatewayError> {
        match self.client.complete_escrow(&payment.reference, true).await {
            Ok(_) => Ok(()),
            Err(err) if err.outcome_known() => {
                // Confirmed already (an earlier attempt whose answer was lost): done.
                let now = self.payment(payment).await?;
                if now.escrow_at_pg == Some(EscrowAtPg::Confirmed) {
                    Ok(())
                } else {
                    Err(err.into())
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn close_account(&self, payment: &PaymentRef) -> Result<(), GatewayError> {
        self.client
            .close_virtual_account(&payment.reference)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), GatewayError> {
        Ok(self.client.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escrow_domain::banks::RefundAccount;

    #[test]
    fn a_refund_account_goes_by_the_v2_bank_name() {
        let mut request = CancelRequest {
            payment: PaymentRef::new("m", Some("tx")),
            amount: Some(3000),
            cancellable: None,
            reason: "r [refund:7]".into(),
            refund_account: Some(RefundAccount {
                bank_code: "088".into(),
                account_number: "110123456789".into(),
                holder: "홍길동".into(),
            }),
            pg_provider: None,
        };
        let json = |r: &CancelRequest| {
            cancel_v2(r)
                .map(|v2| serde_json::to_value(v2).unwrap_or_default())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            json(&request),
            Ok(serde_json::json!({
                "amount": 3000, "reason": "r [refund:7]",
                "refundAccount": {"bank": "SHINHAN", "number": "110123456789", "holderName": "홍길동"},
            }))
        );
        request.refund_account = None;
        request.cancellable = Some(10_000);
        assert_eq!(
            json(&request),
            Ok(
                serde_json::json!({"amount": 3000, "reason": "r [refund:7]", "currentCancellableAmount": 10_000})
            )
        );
    }

    #[test]
    fn times_in_milliseconds() {
        assert_eq!(millis(at_millis(1_796_482_740_123)), 1_796_482_740_123);
        assert_eq!(millis(at_secs(60)), 60_000);
    }
}
