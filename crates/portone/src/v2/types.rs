//! V2 wire types, named and shaped as the gateway's OpenAPI document (`v2.openapi.yml`) has
//! them: camelCase JSON, RFC 3339 times, integer won. Unions the gateway tags (`status`,
//! `type`) are a Rust enum of the tag plus the union's fields, optional where only some
//! members carry them, so that one struct reads every member and unknown tags still parse.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `Payment`: the gateway's record of one payment, whatever its status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Payment {
    pub status: PaymentStatus,
    /// The merchant's own id (the service's `merchant_uid`).
    pub id: String,
    pub transaction_id: String,
    pub merchant_id: String,
    pub store_id: String,
    #[serde(default)]
    pub method: Option<PaymentMethod>,
    #[serde(default)]
    pub channel: Option<SelectedChannel>,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub status_changed_at: OffsetDateTime,
    pub order_name: String,
    pub amount: PaymentAmount,
    pub currency: String,
    #[serde(default)]
    pub escrow: Option<PaymentEscrow>,
    #[serde(default)]
    pub custom_data: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub failed_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub failure: Option<PaymentFailure>,
    /// Present on cancelled and partially cancelled payments (some paid ones too).
    #[serde(default)]
    pub cancellations: Vec<PaymentCancellation>,
    #[serde(default)]
    pub pg_tx_id: Option<String>,
}

impl Payment {
    /// The virtual account of a payment made by one, if any.
    pub fn virtual_account(&self) -> Option<&PaymentMethodVirtualAccount> {
        match &self.method {
            Some(PaymentMethod::VirtualAccount(account)) => Some(account),
            _ => None,
        }
    }

    /// `amount.paid - amount.cancelled`: what a cancel may still take, the value the
    /// gateway compares `currentCancellableAmount` with.
    pub fn cancellable_amount(&self) -> i64 {
        self.amount.paid - self.amount.cancelled
    }
}

/// `Payment.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Ready,
    PayPending,
    VirtualAccountIssued,
    Paid,
    Failed,
    PartialCancelled,
    Cancelled,
    /// A status this client does not know yet.
    #[serde(other)]
    Unknown,
}

/// `PaymentAmount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentAmount {
    pub total: i64,
    pub tax_free: i64,
    #[serde(default)]
    pub vat: Option<i64>,
    pub discount: i64,
    pub paid: i64,
    pub cancelled: i64,
    pub cancelled_tax_free: i64,
}

/// `SelectedChannel`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SelectedChannel {
    /// `LIVE` or `TEST`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    pub pg_provider: String,
    pub pg_merchant_id: String,
}

/// `PaymentMethod`, tagged on `type`; only the methods the service sells with are typed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum PaymentMethod {
    #[serde(rename = "PaymentMethodCard")]
    Card(PaymentMethodCard),
    #[serde(rename = "PaymentMethodVirtualAccount")]
    VirtualAccount(PaymentMethodVirtualAccount),
    #[serde(other)]
    Other,
}

/// `PaymentMethodCard` (the fields the service shows).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentMethodCard {
    #[serde(default)]
    pub approval_number: Option<String>,
}

/// `PaymentMethodVirtualAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentMethodVirtualAccount {
    /// A `Bank` enum name (`KOOKMIN`, `SHINHAN`, ...).
    #[serde(default)]
    pub bank: Option<String>,
    pub account_number: String,
    #[serde(default)]
    pub remittee_name: Option<String>,
    #[serde(default)]
    pub remitter_name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expired_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub issued_at: Option<OffsetDateTime>,
    /// How the refunds of a cancel progress: the gateway pays them into the buyer's
    /// refund account after the cancel answered.
    #[serde(default)]
    pub refund_status: Option<VirtualAccountRefundStatus>,
}

/// `PaymentMethodVirtualAccountRefundStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VirtualAccountRefundStatus {
    Pending,
    PartialRefundFailed,
    Failed,
    Completed,
    #[serde(other)]
    Unknown,
}

/// `PaymentFailure`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentFailure {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub pg_code: Option<String>,
    #[serde(default)]
    pub pg_message: Option<String>,
}

/// `PaymentCancellation`, tagged on `status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentCancellation {
    pub status: CancellationStatus,
    pub id: String,
    #[serde(default)]
    pub pg_cancellation_id: Option<String>,
    pub total_amount: i64,
    pub tax_free_amount: i64,
    pub vat_amount: i64,
    pub reason: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

/// `PaymentCancellation.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancellationStatus {
    Requested,
    Succeeded,
    Failed,
    #[serde(other)]
    Unknown,
}

/// `PaymentEscrow`, tagged on `status`; every member but `BEFORE_REGISTERED` names the
/// delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentEscrow {
    pub status: EscrowStatus,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub invoice_number: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub applied_at: Option<OffsetDateTime>,
    /// `CONFIRMED` only: the PG confirmed on its own after its waiting period.
    #[serde(default)]
    pub is_automatically_confirmed: Option<bool>,
}

/// `PaymentEscrow.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EscrowStatus {
    BeforeRegistered,
    Registered,
    Delivered,
    Confirmed,
    Rejected,
    RejectConfirmed,
    Cancelled,
    #[serde(other)]
    Unknown,
}

/// `CancelPaymentBody`. `amount: None` cancels all that is left.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CancelRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    pub reason: String,
    /// What the caller believes is still cancellable; the gateway refuses the cancel with
    /// `CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN` if it differs (a retry after a lost answer
    /// cannot cancel twice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_cancellable_amount: Option<i64>,
    /// `CUSTOMER` or `ADMIN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// Where a virtual account's money goes back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_account: Option<RefundAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_webhook: Option<bool>,
}

impl CancelRequest {
    /// Cancel `amount` (all that is left when `None`) for `reason`.
    pub fn new(amount: Option<i64>, reason: impl Into<String>) -> Self {
        Self {
            amount,
            reason: reason.into(),
            ..Self::default()
        }
    }

    /// The same, checked against what the caller read as cancellable.
    pub fn with_current_cancellable_amount(mut self, amount: i64) -> Self {
        self.current_cancellable_amount = Some(amount);
        self
    }

    /// The same, paying a virtual account's money back into `account`.
    pub fn with_refund_account(mut self, account: RefundAccount) -> Self {
        self.refund_account = Some(account);
        self
    }
}

/// `CancelPaymentBodyRefundAccount`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundAccount {
    /// A `Bank` enum name (`KOOKMIN`, `SHINHAN`, ...), not a numeric code.
    pub bank: String,
    pub number: String,
    pub holder_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_phone_number: Option<String>,
}

impl std::fmt::Debug for RefundAccount {
    // A buyer's account number stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefundAccount")
            .field("bank", &self.bank)
            .field("number", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `CancelPaymentResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CancelResponse {
    pub cancellation: PaymentCancellation,
}

/// `RegisterEscrowLogisticsBody` and `ModifyEscrowLogisticsBody` (the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EscrowLogisticsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<EscrowParty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<EscrowParty>,
    pub logistics: Logistics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_email: Option<bool>,
}

impl EscrowLogisticsRequest {
    /// A delivery with neither sender nor receiver.
    pub fn new(logistics: Logistics) -> Self {
        Self {
            sender: None,
            receiver: None,
            logistics,
            send_email: None,
        }
    }

    /// The same, with the parties named.
    pub fn with_parties(mut self, sender: EscrowParty, receiver: EscrowParty) -> Self {
        self.sender = Some(sender);
        self.receiver = Some(receiver);
        self
    }
}

/// `PaymentEscrowSenderInput` / `PaymentEscrowReceiverInput` (`relationship`: sender only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EscrowParty {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
}

impl EscrowParty {
    /// A party by name and phone number.
    pub fn new(name: impl Into<String>, phone_number: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            phone_number: Some(phone_number.into()),
            ..Self::default()
        }
    }
}

/// `PaymentLogistics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Logistics {
    /// A `PaymentLogisticsCompany` enum name (`CJ`, `HANJIN`, `POST`, ..., `ETC`).
    pub company: String,
    pub invoice_number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub received_at: Option<OffsetDateTime>,
}

impl Logistics {
    pub fn new(
        company: impl Into<String>,
        invoice_number: impl Into<String>,
        sent_at: OffsetDateTime,
    ) -> Self {
        Self {
            company: company.into(),
            invoice_number: invoice_number.into(),
            sent_at,
            received_at: None,
        }
    }
}

/// `ApplyEscrowLogisticsResponse` (POST) and `ModifyEscrowLogisticsResponse` (PATCH):
/// `applied_at` for the first, `modified_at` for the second.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EscrowLogisticsResponse {
    pub invoice_number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub applied_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub modified_at: Option<OffsetDateTime>,
}

/// `ConfirmEscrowResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EscrowCompleteResponse {
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
}

/// `CloseVirtualAccountResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CloseVirtualAccountResponse {
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: OffsetDateTime,
}

/// `GET /payments` filter (`PaymentFilterInput`, the fields reconciliation needs) and page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PaymentsQuery {
    /// `CREATED_AT` (the gateway's default) or `STATUS_CHANGED_AT`.
    pub timestamp_type: Option<TimestampType>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Only these statuses (all when empty).
    pub status: Vec<PaymentStatus>,
    pub is_escrow: Option<bool>,
    /// Page number from 0, and its size.
    pub page: u32,
    pub size: u32,
}

impl PaymentsQuery {
    /// Payments whose status changed within `from..until`, page `page` of `size`.
    pub fn status_changed(
        from: OffsetDateTime,
        until: OffsetDateTime,
        page: u32,
        size: u32,
    ) -> Self {
        Self {
            timestamp_type: Some(TimestampType::StatusChangedAt),
            from: Some(from),
            until: Some(until),
            page,
            size,
            ..Self::default()
        }
    }
}

/// `PaymentTimestampType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimestampType {
    CreatedAt,
    StatusChangedAt,
}

/// `GetPaymentsResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct PaymentsPage {
    pub items: Vec<Payment>,
    pub page: PageInfo,
}

/// `PageInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PageInfo {
    pub number: u32,
    pub size: u32,
    pub total_count: u32,
}

/// `GetAllPaymentsByCursorBody`: payments CREATED within `from..until` (the gateway
/// defaults: 90 days before `until`, and now), `size` at most 1 000 (10 by default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CursorQuery {
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// The last item's cursor of the previous page; none for the first.
    pub cursor: Option<String>,
    pub size: Option<u32>,
}

impl CursorQuery {
    /// The first page of payments created within `from..until`.
    pub fn new(from: OffsetDateTime, until: OffsetDateTime, size: u32) -> Self {
        Self {
            from: Some(from),
            until: Some(until),
            cursor: None,
            size: Some(size),
        }
    }

    /// The page after the item with `cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// `GetAllPaymentsByCursorResponse`: empty `items` means there is no more.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CursorPage {
    pub items: Vec<PaymentWithCursor>,
}

/// `PaymentWithCursor`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct PaymentWithCursor {
    pub payment: Payment,
    pub cursor: String,
}
