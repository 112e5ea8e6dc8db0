//! V1 wire types: the response envelope, the payment object, and request bodies.

use serde::{Deserialize, Serialize};

use crate::de;

/// Every V1 answer: `code == 0` is success, otherwise `message` says why.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    pub code: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "none")]
    pub response: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// `POST /users/getToken` answer; times are unix seconds on the gateway's clock.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    pub now: i64,
    pub expired_at: i64,
}

/// Payment status. Statuses this client does not know yet map to `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Ready,
    Paid,
    Cancelled,
    Failed,
    #[serde(other)]
    Unknown,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

/// One (partial) cancellation of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CancelHistory {
    #[serde(default)]
    pub pg_tid: Option<String>,
    #[serde(deserialize_with = "de::won")]
    pub amount: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub cancelled_at: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default)]
    pub cancellation_id: Option<String>,
}

/// The V1 payment object (`GET /payments/{imp_uid}` and friends). Money in won; times in
/// unix seconds, `0` when not set. Fields the gateway adds later are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payment {
    pub imp_uid: String,
    pub merchant_uid: String,
    #[serde(default)]
    pub pay_method: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub pg_provider: Option<String>,
    #[serde(default)]
    pub emb_pg_provider: Option<String>,
    #[serde(default)]
    pub pg_tid: Option<String>,
    #[serde(default)]
    pub pg_id: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub escrow: bool,
    #[serde(default)]
    pub apply_num: Option<String>,
    #[serde(default)]
    pub bank_code: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
    #[serde(default)]
    pub card_code: Option<String>,
    #[serde(default)]
    pub card_name: Option<String>,
    #[serde(default)]
    pub card_quota: Option<i64>,
    #[serde(default)]
    pub card_number: Option<String>,
    #[serde(default)]
    pub card_type: Option<i64>,
    #[serde(default)]
    pub vbank_code: Option<String>,
    #[serde(default)]
    pub vbank_name: Option<String>,
    #[serde(default)]
    pub vbank_num: Option<String>,
    #[serde(default)]
    pub vbank_holder: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub vbank_date: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub vbank_issued_at: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::won")]
    pub amount: i64,
    #[serde(deserialize_with = "de::won")]
    pub cancel_amount: i64,
    pub currency: String,
    #[serde(default)]
    pub buyer_name: Option<String>,
    #[serde(default)]
    pub buyer_email: Option<String>,
    #[serde(default)]
    pub buyer_tel: Option<String>,
    #[serde(default)]
    pub buyer_addr: Option<String>,
    #[serde(default)]
    pub buyer_postcode: Option<String>,
    #[serde(default, deserialize_with = "de::string_or_json")]
    pub custom_data: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    pub status: PaymentStatus,
    #[serde(default, deserialize_with = "de::null_default")]
    pub started_at: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub paid_at: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub failed_at: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub cancelled_at: i64,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub receipt_url: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub cancel_history: Vec<CancelHistory>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub cancel_receipt_urls: Vec<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pub cash_receipt_issued: bool,
    #[serde(default)]
    pub customer_uid: Option<String>,
}

impl Payment {
    /// What can still be cancelled: the value to send as `checksum` with the next cancel.
    pub fn cancellable_amount(&self) -> i64 {
        self.amount - self.cancel_amount
    }
}

/// Which payments `GET /payments/status/{payment_status}` lists. The time window filters
/// each payment on the time of its current status: `Ready` on `started_at`, `Paid` on
/// `paid_at`, `Cancelled` on `cancelled_at`, `Failed` on `failed_at`; `All` applies that
/// rule to each payment. A partial cancel leaves a payment `paid` with its `paid_at`, so
/// no window finds it by the cancel's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFilter {
    All,
    Ready,
    Paid,
    Cancelled,
    Failed,
}

impl StatusFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Ready => "ready",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// Order of a status list. `Updated*` is the gateway's last-modified time, which moves at
/// every change of the payment but is not a field of the payment object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sorting {
    /// Newest checkout first (the gateway's default).
    #[default]
    StartedDesc,
    StartedAsc,
    PaidDesc,
    PaidAsc,
    UpdatedDesc,
    UpdatedAsc,
}

impl Sorting {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartedDesc => "-started",
            Self::StartedAsc => "started",
            Self::PaidDesc => "-paid",
            Self::PaidAsc => "paid",
            Self::UpdatedDesc => "-updated",
            Self::UpdatedAsc => "updated",
        }
    }
}

/// `GET /payments/status/{payment_status}` parameters. The gateway checks them: `page`
/// from 1, `limit` 1 to [`PaymentListQuery::MAX_LIMIT`], `from <= to` (unix seconds, both
/// inclusive) at most [`PaymentListQuery::MAX_WINDOW_SECS`] apart; `to` defaults to now
/// and `from` to 90 days before `to`. A page past the last one is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentListQuery {
    pub status: StatusFilter,
    pub page: u32,
    pub limit: u32,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub sorting: Sorting,
}

impl PaymentListQuery {
    /// The most payments one page holds.
    pub const MAX_LIMIT: u32 = 1000;
    /// The longest window the gateway searches: 90 days.
    pub const MAX_WINDOW_SECS: i64 = 90 * 24 * 60 * 60;

    /// The first page of `status` with the gateway's defaults (20 a page, the last 90
    /// days, newest checkout first).
    pub fn new(status: StatusFilter) -> Self {
        Self {
            status,
            page: 1,
            limit: 20,
            from: None,
            to: None,
            sorting: Sorting::default(),
        }
    }

    /// Only payments whose status time is within `from..=to` (unix seconds).
    pub fn between(self, from: i64, to: i64) -> Self {
        Self {
            from: Some(from),
            to: Some(to),
            ..self
        }
    }

    pub fn limit(self, limit: u32) -> Self {
        Self { limit, ..self }
    }

    pub fn page(self, page: u32) -> Self {
        Self { page, ..self }
    }

    pub fn sorted(self, sorting: Sorting) -> Self {
        Self { sorting, ..self }
    }
}

/// One page of a status list: `total` matches in all, `previous`/`next` page numbers
/// (`0` when there is none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentPage {
    pub total: u64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub previous: u32,
    #[serde(default, deserialize_with = "de::null_default")]
    pub next: u32,
    #[serde(default, deserialize_with = "de::null_default")]
    pub list: Vec<Payment>,
}

impl PaymentPage {
    /// The page to ask for next, if any.
    pub fn next_page(&self) -> Option<u32> {
        (self.next != 0).then_some(self.next)
    }
}

/// A pre-registered amount (`/payments/prepare`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Prepared {
    pub merchant_uid: String,
    #[serde(deserialize_with = "de::won")]
    pub amount: i64,
}

/// `POST /payments/cancel` body. Give `imp_uid` or `merchant_uid` (the gateway uses
/// `imp_uid` when both are set). `amount` `None` cancels everything that is left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CancelRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imp_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_free: Option<i64>,
    /// The amount the caller believes is still cancellable; the gateway refuses the cancel,
    /// doing nothing, when it differs. This is what makes a retried cancel safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_holder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_bank: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_account: Option<String>,
}

impl CancelRequest {
    /// Cancel all that is left of `imp_uid`, guarded by `checksum` (the amount left).
    pub fn full(imp_uid: impl Into<String>, checksum: i64, reason: impl Into<String>) -> Self {
        Self {
            imp_uid: Some(imp_uid.into()),
            checksum: Some(checksum),
            reason: Some(reason.into()),
            ..Self::default()
        }
    }

    /// Cancel `amount` of `imp_uid`, guarded by `checksum` (the amount left before it).
    pub fn partial(
        imp_uid: impl Into<String>,
        amount: i64,
        checksum: i64,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            amount: Some(amount),
            ..Self::full(imp_uid, checksum, reason)
        }
    }
}

/// `POST /vbanks`: issue a virtual account by REST (needs its own PG contract). The
/// payment is then `ready` and the gateway sends the `ready` webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VbankRequest {
    pub merchant_uid: String,
    pub amount: i64,
    /// The PG's own bank code (KG Inicis: two digits).
    pub vbank_code: String,
    /// The due time, unix seconds.
    pub vbank_due: i64,
    /// Required by KG Inicis, NICE, Hecto and Smartro.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbank_holder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_tel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
}

/// Shipper of an escrow delivery. Which fields are required depends on the PG
/// (KG Inicis: name, tel, addr, postcode; Daou: relationship too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowSender {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
}

/// Recipient of an escrow delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowReceiver {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

/// The parcel: courier `company` code (`CJGLS`, `HANJIN`, ...; unknown codes become `ETC`),
/// `invoice` number, `sent_at` unix seconds, `receiving_at` `YYYYMMDD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowLogisInfo {
    pub company: String,
    pub invoice: String,
    pub sent_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `POST|PUT /escrows/logis/{imp_uid}` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowLogis {
    pub sender: EscrowSender,
    pub receiver: EscrowReceiver,
    pub logis: EscrowLogisInfo,
}

/// A registered escrow delivery, as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EscrowLogisRecord {
    pub company: String,
    pub invoice: String,
    #[serde(default, deserialize_with = "de::null_default")]
    pub sent_at: i64,
    #[serde(default, deserialize_with = "de::null_default")]
    pub applied_at: i64,
}
