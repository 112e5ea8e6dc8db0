//! What the gateway stores and answers: payments, cancellations and deliveries.

use serde::{Deserialize, Serialize};

/// A payment's status as the gateway names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PaymentStatus {
    Ready,
    Paid,
    Cancelled,
    Failed,
}

impl PaymentStatus {
    /// Every status, in the order `GET /payments/status/all` lists them.
    pub(crate) const ALL: [PaymentStatus; 4] = [
        PaymentStatus::Ready,
        PaymentStatus::Paid,
        PaymentStatus::Cancelled,
        PaymentStatus::Failed,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Ready => "ready",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CancelRecord {
    pub pg_tid: String,
    pub amount: i64,
    pub cancelled_at: i64,
    pub reason: String,
    pub receipt_url: String,
    pub cancellation_id: String,
}

/// The payment object exactly as `GET /payments/{imp_uid}` serializes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaymentRecord {
    pub imp_uid: String,
    pub merchant_uid: String,
    pub pay_method: String,
    pub channel: String,
    pub pg_provider: String,
    pub emb_pg_provider: Option<String>,
    pub pg_tid: Option<String>,
    pub pg_id: String,
    pub escrow: bool,
    pub apply_num: Option<String>,
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    pub card_code: Option<String>,
    pub card_name: Option<String>,
    pub card_quota: i64,
    pub card_number: Option<String>,
    pub card_type: Option<i64>,
    pub vbank_code: Option<String>,
    pub vbank_name: Option<String>,
    pub vbank_num: Option<String>,
    pub vbank_holder: Option<String>,
    pub vbank_date: i64,
    pub vbank_issued_at: i64,
    pub name: Option<String>,
    pub amount: i64,
    pub cancel_amount: i64,
    pub currency: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub user_agent: Option<String>,
    pub status: PaymentStatus,
    pub started_at: i64,
    pub paid_at: i64,
    pub failed_at: i64,
    pub cancelled_at: i64,
    pub fail_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub receipt_url: Option<String>,
    pub cancel_history: Vec<CancelRecord>,
    pub cancel_receipt_urls: Vec<String>,
    pub cash_receipt_issued: bool,
    pub customer_uid: Option<String>,
    pub customer_uid_usage: Option<String>,
    #[serde(skip)]
    pub notice_url: Vec<String>,
    /// Creation order, to break ties between payments started in the same second.
    #[serde(skip)]
    pub seq: u64,
    #[serde(skip)]
    pub updated_at: i64,
}

/// What a buyer finishing the checkout chose, plus the merchant's `request_pay` params.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewPayment {
    pub merchant_uid: String,
    pub amount: i64,
    pub pay_method: Option<String>,
    pub pg_provider: Option<String>,
    pub decline: bool,
    pub escrow: bool,
    pub notice_url: Vec<String>,
    pub skip_prepare_check: bool,
    pub name: Option<String>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub buyer_tel: Option<String>,
    pub buyer_addr: Option<String>,
    pub buyer_postcode: Option<String>,
    pub custom_data: Option<String>,
    pub card_number: Option<String>,
    pub channel: &'static str,
    pub user_agent: Option<String>,
    /// When the checkout happened (unix seconds, not in the future); now when `None`.
    pub at: Option<i64>,
    /// For `pay_method: "vbank"`: the account to issue.
    pub vbank: super::VbankAsk,
}

/// Escrow delivery party; which fields are required depends on the PG.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Party {
    pub name: Option<String>,
    pub tel: Option<String>,
    pub addr: Option<String>,
    pub postcode: Option<String>,
    pub relationship: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LogisInfo {
    pub company: Option<String>,
    pub invoice: Option<String>,
    pub sent_at: Option<i64>,
    pub receiving_at: Option<String>,
    pub address: Option<String>,
}

/// `POST|PUT /escrows/logis/{imp_uid}` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LogisRequest {
    #[serde(default)]
    pub sender: Party,
    #[serde(default)]
    pub receiver: Party,
    #[serde(default)]
    pub logis: LogisInfo,
}

/// A registered delivery as answered by the logis calls.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogisRecord {
    pub company: String,
    pub invoice: String,
    pub sent_at: i64,
    pub applied_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Who the merchant said sends and receives it: the gateway keeps them but its logis
    /// calls do not answer them; `GET /_sandbox/escrows/{imp_uid}` shows them.
    #[serde(skip)]
    pub sender: Party,
    #[serde(skip)]
    pub receiver: Party,
}

/// A registered delivery with its parties, as `GET /_sandbox/escrows/{imp_uid}` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegisteredDelivery {
    pub sender: Party,
    pub receiver: Party,
    pub logis: LogisRecord,
}
