//! The payment flows' public types.

use crate::orders::{ShipmentView, Shipping};
use escrow_domain::lifecycle::{PaymentFacts, Rules};
use escrow_domain::{EscrowStatus, FailureCode, OrderStatus, PaymentStatus, RefundStatus, Won};
use std::time::Duration;

/// Settings of the payment flows.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub imp_code: String,
    /// The PG named in the browser checkout.
    pub pg: String,
    /// Where the gateway sends webhooks: `<public url>/webhooks/portone`.
    pub notice_url: String,
    pub rules: Rules,
    /// When released money becomes available to pay out.
    pub calendar: escrow_domain::settlement::Calendar,
    /// Released money not paid out this long after release is overdue.
    pub settlement_deadline: Duration,
    pub auto_confirm_after: Duration,
    /// How long a virtual account waits for its deposit.
    pub vbank_due: Duration,
    /// How long one gateway call may take: a refund intent younger than this may still be
    /// waiting for its answer, so nobody else settles it.
    pub gateway_timeout: Duration,
    /// How long a buyer has to send a return back before it lapses.
    pub return_ship_within: Duration,
    /// How long a seller may inspect returned goods; silence then is acceptance.
    pub return_inspection: Duration,
}

/// A payment with the order fields its rules need.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: i64,
    pub order_id: i64,
    pub merchant_uid: String,
    pub imp_uid: Option<String>,
    pub amount: Won,
    pub refunded_amount: Won,
    pub released_amount: Won,
    /// Reserved by refunds the gateway is being asked for.
    pub refunding_amount: Won,
    /// Bumped by every transition: a plan applies only to the version it was made from.
    pub version: i64,
    pub status: PaymentStatus,
    pub escrow: bool,
    pub escrow_status: EscrowStatus,
    pub pg_provider: Option<String>,
    pub pay_method: Option<String>,
    pub paid_at: Option<i64>,
    pub failure_code: Option<FailureCode>,
    pub buyer_id: i64,
    pub seller_id: i64,
    pub order_status: OrderStatus,
    pub from_cart: bool,
}

impl PaymentRecord {
    pub fn is_vbank(&self) -> bool {
        self.pay_method.as_deref() == Some(PayMethod::Vbank.as_str())
    }

    pub fn facts(&self) -> PaymentFacts {
        PaymentFacts {
            status: self.status,
            escrow: self.escrow_status,
            amount: self.amount,
            refunded: self.refunded_amount,
            released: self.released_amount,
            refunding: self.refunding_amount,
            seller_id: self.seller_id,
        }
    }

    /// What a new refund may still take.
    pub fn refundable(&self) -> Won {
        self.facts().refundable()
    }
}

/// What the browser passes to `IMP.init` / `IMP.request_pay`.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub imp_code: String,
    pub pg: String,
    pub pay_method: String,
    pub merchant_uid: String,
    pub name: String,
    pub amount: Won,
    pub buyer_email: String,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_addr: String,
    pub buyer_postcode: String,
    pub escrow: bool,
    pub notice_url: String,
    /// A virtual account's due time in the PG's format (KG Inicis: `YYYYMMDDhhmm`, Korean
    /// time).
    pub vbank_due: Option<String>,
}

/// How the buyer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayMethod {
    Card,
    /// A virtual account: a one-time bank account the buyer transfers into.
    Vbank,
}

impl PayMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Card => "card",
            PayMethod::Vbank => "vbank",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentCreated {
    pub payment: PaymentRecord,
    pub checkout: Checkout,
    /// A virtual account's due time (unix ms).
    pub vbank_due_at: Option<i64>,
}

/// The virtual account a payment waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VbankAccount {
    /// KFTC standard code.
    pub bank_code: String,
    pub bank_name: String,
    pub account_number: String,
    pub holder: String,
    pub due_at: i64,
}

/// The seed's form of `POST /payments`, which creates the order too.
#[derive(Debug, Clone)]
pub struct SeedPayment {
    pub product_id: i64,
    pub quantity: i64,
    pub buyer_id: i64,
    pub seller_id: i64,
    pub price: i64,
    pub shipping: Option<Shipping>,
}

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: i64,
    pub entity: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
}

/// A refund intent as recorded.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: i64,
    pub payment_id: i64,
    pub amount: Won,
    pub status: RefundStatus,
    pub reason: String,
    /// Who asked for it, as history shows them.
    pub actor: String,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub failure: Option<String>,
    pub settle_after: i64,
}

/// A refund's answer: the payment after it, and the refund.
#[derive(Debug, Clone)]
pub struct Refunded {
    pub payment: PaymentRecord,
    pub refund: Refund,
}

/// `GET /payments/{id}/status`.
#[derive(Debug, Clone)]
pub struct PaymentStatusView {
    pub payment: PaymentRecord,
    pub shipment: Option<ShipmentView>,
    pub history: Vec<HistoryEntry>,
    pub refunds: Vec<Refund>,
    pub vbank: Option<VbankAccount>,
    /// The latest return or exchange, open or closed.
    pub return_request: Option<ReturnRecord>,
    /// When a delivered order is confirmed automatically (kept while a return is open: a
    /// lapse moves it by the time the return took).
    pub auto_confirm_at: Option<i64>,
}

/// A return or an exchange as recorded; its state is its order's status.
#[derive(Debug, Clone)]
pub struct ReturnRecord {
    pub id: i64,
    pub kind: escrow_domain::escrow::ReturnKind,
    pub reason_code: escrow_domain::escrow::ReturnReason,
    pub reason: String,
    pub requested_at: i64,
    pub ship_by: i64,
    /// What was left of the confirmation period when it was asked for (ms).
    pub confirm_left: i64,
    pub courier: Option<String>,
    pub invoice_number: Option<String>,
    pub shipped_at: Option<i64>,
    pub received_at: Option<i64>,
    pub inspect_by: Option<i64>,
    pub outcome: Option<escrow_domain::escrow::ReturnOutcome>,
    pub closed_at: Option<i64>,
    pub fee: Won,
    pub refund_account: Option<escrow_domain::banks::RefundAccount>,
}

/// What the buyer asks for when refusing the goods.
#[derive(Debug, Clone)]
pub struct ReturnAsk {
    pub kind: escrow_domain::escrow::ReturnKind,
    pub reason_code: escrow_domain::escrow::ReturnReason,
    pub reason: String,
    /// A virtual-account payment's refund goes there.
    pub refund_account: Option<escrow_domain::banks::RefundAccount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Release,
    Refund,
}

/// A settlement line: what a release owes the seller, or (negative) what a chargeback
/// takes back.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub id: i64,
    pub payment_id: i64,
    pub order_id: i64,
    /// `release` or `chargeback`.
    pub kind: String,
    pub gross_amount: i64,
    pub fee_amount: i64,
    pub fee_vat_amount: i64,
    pub net_amount: i64,
    pub released_at: i64,
    /// `YYYY-MM-DD`, Korean time.
    pub available_on: String,
    pub reason: Option<String>,
}

/// A seller's money, from the ledger: `pending` until its lines' dates, then `available`;
/// `in_payout` while in a batch not yet paid; `paid_out` once paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub pending: i64,
    pub available: i64,
    pub in_payout: i64,
    pub paid_out: i64,
}

/// Sums over all of a seller's lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementTotals {
    pub gross: i64,
    pub fee: i64,
    pub fee_vat: i64,
    pub net: i64,
}

/// `GET /settlements`: a page of lines, the balance, and the pending money by date.
#[derive(Debug, Clone)]
pub struct SettlementsView {
    pub lines: crate::page::Page<Settlement>,
    pub balance: Balance,
    pub totals: SettlementTotals,
    pub upcoming: Vec<(String, i64)>,
}

/// A payment whose record disagrees with its journals or with the gateway.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub payment_id: i64,
    pub kind: String,
    pub found: String,
    pub detected_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Account name to balance: money moved in minus money moved out.
    pub accounts: std::collections::BTreeMap<String, i64>,
    pub paid: i64,
    pub refunded: i64,
    pub held: i64,
    pub released: i64,
    pub payments_checked: i64,
    /// Every journal balances and `escrow` holds what the payments table says is held.
    pub balanced: bool,
    pub divergences: Vec<Divergence>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileReport {
    pub checked: u64,
    pub repaired: u64,
}

/// Where a seller's payouts go.
#[derive(Debug, Clone)]
pub struct BankAccountRecord {
    pub bank_code: String,
    pub bank_name: String,
    pub account_number: String,
    pub holder: String,
    pub updated_at: i64,
}

/// One seller's money in a payout batch: `created`, then `paid` or `failed`.
#[derive(Debug, Clone)]
pub struct PayoutItem {
    pub seller_id: i64,
    pub amount: i64,
    pub bank_code: String,
    pub account_number: String,
    pub holder: String,
    pub status: String,
    pub failure: Option<String>,
    pub settled_at: Option<i64>,
}

/// A payout batch: `created` while any item is neither paid nor failed, then `settled`.
#[derive(Debug, Clone)]
pub struct Payout {
    pub id: i64,
    pub status: &'static str,
    pub min_amount: i64,
    pub created_at: i64,
    pub total: i64,
    pub items: Vec<PayoutItem>,
}

/// What became of a payout item at the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    Paid,
    Failed { reason: String },
}

/// Released money not paid out within the settlement deadline.
#[derive(Debug, Clone)]
pub struct OverdueSettlement {
    pub payment_id: i64,
    pub order_id: i64,
    pub seller_id: i64,
    pub net_amount: i64,
    /// The part of the line not paid out yet (payouts pay the oldest lines first).
    pub unpaid_amount: i64,
    pub released_at: i64,
    pub due_at: i64,
}
