//! The payment calls' bodies and their OpenAPI schemas.

use super::returns::ReturnBody;
use super::vbank::{RefundAccountBody, VbankBody};
use crate::error::ApiError;
use crate::orders::{ShipmentBody, ShippingBody};
use crate::wire::rfc3339;
use escrow_core::payments::{PaymentCreated, PaymentRecord, PaymentStatusView, Refund, Refunded};
use escrow_core::AppError;
use escrow_domain::validation::bounded_text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePaymentRequest {
    /// Pay for this order; or give product_id, quantity and price instead (the one-step form).
    pub order_id: Option<i64>,
    pub product_id: Option<i64>,
    pub quantity: Option<i64>,
    pub buyer_id: Option<i64>,
    pub seller_id: Option<i64>,
    /// The one-step form: the total the client expects; must equal the server's.
    pub price: Option<i64>,
    pub shipping: Option<ShippingBody>,
    /// Escrow on (default) or off.
    pub escrow: Option<bool>,
    /// `card` (default) or `vbank` (a virtual account the buyer transfers into).
    pub pay_method: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutBody {
    pub imp_code: String,
    pub pg: String,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: String,
    pub amount: i64,
    pub buyer_email: String,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_addr: String,
    pub buyer_postcode: String,
    pub escrow: bool,
    pub notice_url: String,
    /// `vbank`: the account's due time as the PG's SDK wants it (KG Inicis:
    /// `YYYYMMDDhhmm`, Korean time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbank_due: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCreatedBody {
    pub success: bool,
    pub message: String,
    pub payment_id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    pub amount: i64,
    pub escrow: bool,
    pub status: String,
    /// What the browser passes to `IMP.init` / `IMP.request_pay`.
    pub checkout: CheckoutBody,
    /// `vbank`: when the deposit is due (the order's expiry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbank_due_at: Option<String>,
}

impl From<PaymentCreated> for PaymentCreatedBody {
    fn from(created: PaymentCreated) -> Self {
        let p = created.payment;
        let c = created.checkout;
        Self {
            success: true,
            message: "payment ready: open the checkout".into(),
            payment_id: p.id,
            order_id: p.order_id,
            merchant_uid: p.merchant_uid,
            imp_uid: p.imp_uid,
            amount: p.amount.get(),
            escrow: p.escrow,
            status: p.status.as_str().into(),
            checkout: CheckoutBody {
                imp_code: c.imp_code,
                pg: c.pg,
                pay_method: c.pay_method,
                merchant_uid: c.merchant_uid,
                name: c.name,
                amount: c.amount.get(),
                buyer_email: c.buyer_email,
                buyer_name: c.buyer_name,
                buyer_tel: c.buyer_tel,
                buyer_addr: c.buyer_addr,
                buyer_postcode: c.buyer_postcode,
                escrow: c.escrow,
                notice_url: c.notice_url,
                vbank_due: c.vbank_due,
            },
            vbank_due_at: created.vbank_due_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    pub at: String,
    /// `order`, `payment` or `escrow`.
    pub entity: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentStatusBody {
    pub payment_id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    /// ready, awaiting_deposit, paid, partially_refunded, refunded, cancelled, failed
    pub status: String,
    pub escrow: bool,
    /// inactive, pending, held, released, returned
    pub escrow_status: String,
    pub order_status: String,
    pub amount: i64,
    pub refunded_amount: i64,
    pub released_amount: i64,
    pub failure_code: Option<String>,
    pub pg_provider: Option<String>,
    pub pay_method: Option<String>,
    pub paid_at: Option<String>,
    /// When a `delivered` order is confirmed automatically, unless the buyer confirms,
    /// disputes or returns it first.
    pub auto_confirm_at: Option<String>,
    pub shipment: Option<ShipmentBody>,
    pub history: Vec<HistoryBody>,
    /// The payment's refunds, oldest first.
    pub refunds: Vec<RefundBody>,
    /// The virtual account the deposit is awaited in (`vbank` payments once issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbank: Option<VbankBody>,
    /// The latest return or exchange, open or closed; null when the buyer asked for none.
    #[serde(rename = "return")]
    pub return_request: Option<ReturnBody>,
}

impl From<PaymentStatusView> for PaymentStatusBody {
    fn from(view: PaymentStatusView) -> Self {
        let p = view.payment;
        Self {
            payment_id: p.id,
            order_id: p.order_id,
            merchant_uid: p.merchant_uid,
            imp_uid: p.imp_uid,
            status: p.status.as_str().into(),
            escrow: p.escrow,
            escrow_status: p.escrow_status.as_str().into(),
            order_status: p.order_status.as_str().into(),
            amount: p.amount.get(),
            refunded_amount: p.refunded_amount.get(),
            released_amount: p.released_amount.get(),
            failure_code: p.failure_code.map(|c| c.as_str().to_string()),
            pg_provider: p.pg_provider,
            pay_method: p.pay_method,
            paid_at: p.paid_at.map(rfc3339),
            auto_confirm_at: view.auto_confirm_at.map(rfc3339),
            shipment: view.shipment.map(Into::into),
            history: view
                .history
                .into_iter()
                .map(|h| HistoryBody {
                    at: rfc3339(h.at),
                    entity: h.entity,
                    from: h.from,
                    to: h.to,
                    actor: h.actor,
                    reason: h.reason,
                })
                .collect(),
            refunds: view.refunds.into_iter().map(RefundBody::from).collect(),
            vbank: view.vbank.map(VbankBody::from),
            return_request: view.return_request.map(ReturnBody::from),
        }
    }
}

/// A refund as recorded: `requested` while the gateway is asked, `pending` while its bank
/// transfer is under way, then `succeeded` or `failed` (nothing moved).
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundBody {
    pub refund_id: i64,
    pub amount: i64,
    /// requested, pending, succeeded, failed
    pub status: String,
    pub reason: String,
    pub requested_at: String,
    pub completed_at: Option<String>,
    pub failure: Option<String>,
}

impl From<Refund> for RefundBody {
    fn from(r: Refund) -> Self {
        Self {
            refund_id: r.id,
            amount: r.amount.get(),
            status: r.status.as_str().into(),
            reason: r.reason,
            requested_at: rfc3339(r.requested_at),
            completed_at: r.completed_at.map(rfc3339),
            failure: r.failure,
        }
    }
}

/// The refund a refund call made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundSummaryBody {
    pub refund_id: i64,
    pub amount: i64,
    /// succeeded, or pending while the gateway's bank transfer is under way
    pub status: String,
    pub requested_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundsBody {
    pub items: Vec<RefundBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteRequest {
    /// The gateway's id from the checkout callback. Anything else sent (merchant_uid,
    /// amounts) is ignored: the gateway's own record decides.
    pub imp_uid: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipmentRequest {
    /// The gateway's courier code: CJGLS, HANJIN, EPOST, HYUNDAI, KGB, ... ETC.
    pub courier: String,
    pub invoice_number: String,
    /// When it was sent (RFC 3339); now when omitted.
    pub sent_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelPaymentRequest {
    pub reason: Option<String>,
    /// Required to cancel a paid virtual-account payment: the buyer's account the money
    /// goes back to.
    pub refund_account: Option<RefundAccountBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundRequest {
    pub reason: String,
    /// Won to refund; all that is left when omitted.
    pub amount: Option<i64>,
    /// Required for virtual-account payments: the buyer's account the money goes to.
    pub refund_account: Option<RefundAccountBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse {
    pub success: bool,
    pub message: String,
    /// The running total refunded.
    pub refunded_amount: i64,
    /// The payment's status after the refund.
    pub status: String,
    pub refund: RefundSummaryBody,
}

impl From<Refunded> for RefundResponse {
    fn from(done: Refunded) -> Self {
        let r = done.refund;
        Self {
            success: true,
            message: "refunded".into(),
            refunded_amount: done.payment.refunded_amount.get(),
            status: done.payment.status.as_str().into(),
            refund: RefundSummaryBody {
                refund_id: r.id,
                amount: r.amount.get(),
                status: r.status.as_str().into(),
                requested_at: rfc3339(r.requested_at),
                completed_at: r.completed_at.map(rfc3339),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Release,
    Refund,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub outcome: Outcome,
    /// For `refund`: won to refund (the rest is released); all when omitted.
    pub amount: Option<i64>,
    /// For `refund` of a virtual-account payment: the buyer's account the money goes to.
    pub refund_account: Option<RefundAccountBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentChanged {
    pub success: bool,
    pub message: String,
    pub payment_id: i64,
    pub status: String,
    pub escrow_status: String,
    pub order_status: String,
    pub refunded_amount: i64,
}

impl PaymentChanged {
    pub fn new(message: &str, p: PaymentRecord) -> Self {
        Self {
            success: true,
            message: message.into(),
            payment_id: p.id,
            status: p.status.as_str().into(),
            escrow_status: p.escrow_status.as_str().into(),
            order_status: p.order_status.as_str().into(),
            refunded_amount: p.refunded_amount.get(),
        }
    }
}

pub fn reason_text(reason: Option<&str>) -> Result<Option<String>, ApiError> {
    reason
        .map(|r| bounded_text(r, 0, 500).map_err(|m| ApiError(AppError::field("reason", m))))
        .transpose()
}
