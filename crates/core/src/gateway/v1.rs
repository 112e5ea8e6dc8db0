//! The port over PortOne V1 (`portone::PortOne`): imp_uid and merchant_uid, the V1 status
//! strings, `cancel_history`, `/escrows/logis`, `/vbanks`. V1 has no purchase confirmation
//! at the PG, so `complete_escrow` does nothing.

use super::port::{
    CancelRequest, Cancellation, ChangedPage, ChangedQuery, Delivery, Gateway, GatewayError,
    GatewayPayment, GatewayStatus, IssuedAccount, PaymentRef,
};
use async_trait::async_trait;
use escrow_domain::banks::pg_bank_code;
use portone::{PaymentListQuery, PortOne, PortOneError, StatusFilter};
use std::sync::Arc;

/// The statuses `changed` lists in turn: V1 lists payments by status and the time of it.
const LISTED: [StatusFilter; 4] = [
    // Virtual accounts issued: a `ready` webhook that never came.
    StatusFilter::Ready,
    StatusFilter::Paid,
    StatusFilter::Failed,
    StatusFilter::Cancelled,
];

pub struct V1 {
    client: Arc<dyn PortOne>,
    /// The configured PG, for payments whose own is not known (bank code formats).
    pg: String,
}

impl V1 {
    pub fn new(client: Arc<dyn PortOne>, pg: impl Into<String>) -> Self {
        Self {
            client,
            pg: pg.into(),
        }
    }

    async fn imp_uid(&self, payment: &PaymentRef) -> Result<String, GatewayError> {
        match &payment.gateway_id {
            Some(imp_uid) => Ok(imp_uid.clone()),
            None => Ok(self.client.find_payment(&payment.reference).await?.imp_uid),
        }
    }
}

impl From<PortOneError> for GatewayError {
    fn from(err: PortOneError) -> Self {
        match err {
            PortOneError::Refused {
                status, message, ..
            } => Self::Refused {
                conflict: status == 409,
                message,
            },
            PortOneError::NotFound { message } => Self::NotFound(message),
            other => Self::Failed {
                kind: other.kind(),
                message: other.to_string(),
            },
        }
    }
}

fn from_v1(p: portone::Payment) -> GatewayPayment {
    let status = match p.status {
        portone::PaymentStatus::Ready => GatewayStatus::Ready,
        portone::PaymentStatus::Paid => GatewayStatus::Paid,
        portone::PaymentStatus::Cancelled => GatewayStatus::Cancelled,
        portone::PaymentStatus::Failed => GatewayStatus::Failed,
        portone::PaymentStatus::Unknown => GatewayStatus::Unknown,
    };
    let vbank = match (&p.pay_method, &p.vbank_num) {
        (Some(method), Some(number)) if method == "vbank" => Some(IssuedAccount {
            bank_code: p.vbank_code.clone().unwrap_or_default(),
            bank_name: p.vbank_name.clone(),
            account_number: number.clone(),
            holder: p.vbank_holder.clone().unwrap_or_default(),
            due_at: p.vbank_date.saturating_mul(1000),
            issued_at: (p.vbank_issued_at > 0).then(|| p.vbank_issued_at.saturating_mul(1000)),
        }),
        _ => None,
    };
    GatewayPayment {
        reference: p.merchant_uid,
        gateway_id: p.imp_uid,
        status,
        amount: p.amount,
        cancelled: p.cancel_amount,
        currency: p.currency,
        escrow: p.escrow,
        pg_provider: p.pg_provider,
        pay_method: p.pay_method,
        paid_at: (p.paid_at > 0).then(|| p.paid_at.saturating_mul(1000)),
        fail_reason: p.fail_reason,
        cancellations: p
            .cancel_history
            .into_iter()
            .map(|c| Cancellation {
                amount: c.amount,
                reason: c.reason,
            })
            .collect(),
        vbank,
        escrow_at_pg: None,
    }
}

fn logis(delivery: &Delivery) -> portone::EscrowLogis {
    portone::EscrowLogis {
        sender: portone::EscrowSender {
            name: Some(delivery.sender.name.clone()),
            tel: Some(delivery.sender.phone.clone()),
            addr: Some(delivery.sender.address.clone()),
            postcode: Some(delivery.sender.postcode.clone()),
            relationship: Some(delivery.relationship.clone()),
        },
        logis: portone::EscrowLogisInfo {
            company: delivery.courier.clone(),
            invoice: delivery.invoice.clone(),
            sent_at: delivery.sent_at / 1000,
            receiving_at: None,
            address: Some(delivery.receiver.address.clone()),
        },
        receiver: portone::EscrowReceiver {
            name: Some(delivery.receiver.name.clone()),
            tel: Some(delivery.receiver.phone.clone()),
            addr: Some(delivery.receiver.address.clone()),
            postcode: Some(delivery.receiver.postcode.clone()),
        },
    }
}

/// The V1 cancel: by imp_uid when known; a refund account's bank in the PG's code format
/// (the payment's own PG, else `default_pg`).
fn cancel_v1(request: &CancelRequest, default_pg: &str) -> portone::CancelRequest {
    let (imp_uid, merchant_uid) = match &request.payment.gateway_id {
        Some(imp_uid) => (Some(imp_uid.clone()), None),
        None => (None, Some(request.payment.reference.clone())),
    };
    let mut v1 = portone::CancelRequest {
        imp_uid,
        merchant_uid,
        amount: request.amount,
        checksum: request.cancellable,
        reason: Some(request.reason.clone()),
        ..portone::CancelRequest::default()
    };
    if let Some(account) = &request.refund_account {
        let pg = request.pg_provider.as_deref().unwrap_or(default_pg);
        v1.refund_bank = Some(pg_bank_code(pg, &account.bank_code));
        v1.refund_account = Some(account.account_number.clone());
        v1.refund_holder = Some(account.holder.clone());
    }
    v1
}

/// `changed`'s cursor: which of [`LISTED`] and which page of it, as `"<index>:<page>"`.
fn parse_cursor(cursor: Option<&str>) -> (usize, u32) {
    cursor
        .and_then(|c| c.split_once(':'))
        .and_then(|(i, p)| Some((i.parse().ok()?, p.parse().ok()?)))
        .unwrap_or((0, 1))
}

#[async_trait]
impl Gateway for V1 {
    async fn payment(&self, payment: &PaymentRef) -> Result<GatewayPayment, GatewayError> {
        let found = match &payment.gateway_id {
            Some(imp_uid) => self.client.get_payment(imp_uid).await?,
            None => self.client.find_payment(&payment.reference).await?,
        };
        Ok(from_v1(found))
    }

    async fn payments(&self, payments: &[PaymentRef]) -> Result<Vec<GatewayPayment>, GatewayError> {
        let imp_uids: Vec<String> = payments
            .iter()
            .filter_map(|p| p.gateway_id.clone())
            .collect();
        let found = self.client.get_payments(&imp_uids).await?;
        Ok(found.into_iter().map(from_v1).collect())
    }

    async fn changed(&self, query: &ChangedQuery) -> Result<ChangedPage, GatewayError> {
        let (index, page) = parse_cursor(query.cursor.as_deref());
        let Some(status) = LISTED.get(index) else {
            return Ok(ChangedPage {
                payments: Vec::new(),
                next: None,
            });
        };
        let listed = self
            .client
            .list_payments(
                &PaymentListQuery::new(*status)
                    .between(query.from, query.to)
                    .limit(100)
                    .page(page),
            )
            .await?;
        let next = match listed.next_page() {
            Some(next) => Some(format!("{index}:{next}")),
            None if index + 1 < LISTED.len() => Some(format!("{}:1", index + 1)),
            None => None,
        };
        Ok(ChangedPage {
            payments: listed.list.into_iter().map(from_v1).collect(),
            next,
        })
    }

    async fn prepare(&self, reference: &str, amount: i64) -> Result<(), GatewayError> {
        self.client.prepare(reference, amount).await?;
        Ok(())
    }

    async fn cancel(&self, request: &CancelRequest) -> Result<(), GatewayError> {
        self.client.cancel(&cancel_v1(request, &self.pg)).await?;
        Ok(())
    }

    async fn ship(
        &self,
        payment: &PaymentRef,
        delivery: &Delivery,
        first: bool,
    ) -> Result<(), GatewayError> {
        let imp_uid = self.imp_uid(payment).await?;
        let logis = logis(delivery);
        if first {
            self.client.register_escrow_logis(&imp_uid, &logis).await?;
        } else {
            self.client.update_escrow_logis(&imp_uid, &logis).await?;
        }
        Ok(())
    }

    async fn complete_escrow(&self, _payment: &PaymentRef) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn close_account(&self, payment: &PaymentRef) -> Result<(), GatewayError> {
        let imp_uid = self.imp_uid(payment).await?;
        self.client.revoke_vbank(&imp_uid).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), GatewayError> {
        Ok(self.client.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_walk_the_statuses_then_stop() {
        assert_eq!(parse_cursor(None), (0, 1));
        assert_eq!(parse_cursor(Some("2:7")), (2, 7));
        assert_eq!(parse_cursor(Some("garbage")), (0, 1));
    }

    #[test]
    fn refund_account_in_the_pgs_format() {
        let account = escrow_domain::banks::RefundAccount {
            bank_code: "088".into(),
            account_number: "110123456789".into(),
            holder: "홍길동".into(),
        };
        let mut request = CancelRequest {
            payment: PaymentRef::new("m", Some("imp_1")),
            amount: None,
            cancellable: Some(1000),
            reason: "r".into(),
            refund_account: Some(account),
            pg_provider: None,
        };
        let v1 = cancel_v1(&request, "html5_inicis");
        assert_eq!(
            (
                v1.imp_uid.as_deref(),
                v1.checksum,
                v1.refund_bank.as_deref(),
                v1.refund_account.as_deref(),
                v1.refund_holder.as_deref()
            ),
            (
                Some("imp_1"),
                Some(1000),
                Some("88"),
                Some("110123456789"),
                Some("홍길동")
            )
        );
        request.pg_provider = Some("kcp".into());
        assert_eq!(
            cancel_v1(&request, "html5_inicis").refund_bank.as_deref(),
            Some("BK88")
        );
        request.refund_account = None;
        assert_eq!(cancel_v1(&request, "html5_inicis").refund_bank, None);
    }
}
