//! The gateway as the service needs it, in the service's words: our payment reference, the
//! gateway's id, amounts in won, cancellations carrying our refund tags, the virtual
//! account and the escrow's state at the PG. `v1` and `v2` implement it over PortOne's
//! two APIs; nothing else knows which one runs.

use async_trait::async_trait;
use escrow_domain::banks::RefundAccount;

/// Which payment: our reference (V1 `merchant_uid`, V2 `paymentId`) and, once known, the
/// gateway's own id (V1 `imp_uid`, V2 `transactionId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRef {
    pub reference: String,
    pub gateway_id: Option<String>,
}

impl PaymentRef {
    pub fn new(reference: impl Into<String>, gateway_id: Option<&str>) -> Self {
        Self {
            reference: reference.into(),
            gateway_id: gateway_id.map(str::to_owned),
        }
    }
}

/// Where a payment is at the gateway. A partial cancel leaves it `Paid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayStatus {
    /// Not paid yet (a virtual account may be open: [`GatewayPayment::vbank`]).
    Ready,
    Paid,
    Cancelled,
    Failed,
    Unknown,
}

/// A virtual account the gateway issued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssuedAccount {
    /// KFTC code when the gateway gives one (V1), else empty.
    pub bank_code: String,
    pub bank_name: Option<String>,
    pub account_number: String,
    pub holder: String,
    /// Unix ms; 0 when the gateway gave none.
    pub due_at: i64,
    /// Unix ms.
    pub issued_at: Option<i64>,
}

/// One cancellation the gateway made (or is making). `reason` carries our `[refund:<id>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub amount: i64,
    pub reason: Option<String>,
}

/// The escrow's state at the PG (V2 reports it; V1 does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowAtPg {
    BeforeRegistered,
    Registered,
    Delivered,
    /// The buyer confirmed the purchase at the PG (or the PG did, automatically).
    Confirmed,
    /// The buyer refused the goods at the PG.
    Rejected,
    RejectConfirmed,
    Cancelled,
}

/// A payment as the gateway records it. Money in won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPayment {
    /// Our reference (merchant_uid).
    pub reference: String,
    /// The gateway's id (what we keep as `imp_uid`).
    pub gateway_id: String,
    pub status: GatewayStatus,
    pub amount: i64,
    /// Cancelled so far.
    pub cancelled: i64,
    pub currency: String,
    pub escrow: bool,
    pub pg_provider: Option<String>,
    /// `card`, `vbank`, ... as we store it.
    pub pay_method: Option<String>,
    /// Unix ms.
    pub paid_at: Option<i64>,
    pub fail_reason: Option<String>,
    pub cancellations: Vec<Cancellation>,
    /// The virtual account, when one was issued for it.
    pub vbank: Option<IssuedAccount>,
    /// `None` where the API does not report it (V1).
    pub escrow_at_pg: Option<EscrowAtPg>,
}

impl GatewayPayment {
    /// What can still be cancelled.
    pub fn cancellable(&self) -> i64 {
        self.amount - self.cancelled
    }

    /// Whether one of its cancellations names `tag` in its reason.
    pub fn has_cancellation(&self, tag: &str) -> bool {
        self.cancellations
            .iter()
            .any(|c| c.reason.as_deref().is_some_and(|r| r.contains(tag)))
    }

    pub fn to_ref(&self) -> PaymentRef {
        PaymentRef::new(self.reference.clone(), Some(&self.gateway_id))
    }
}

/// A cancel, full (`amount: None`) or partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    pub payment: PaymentRef,
    pub amount: Option<i64>,
    /// What the caller believes is still cancellable; the gateway refuses the cancel when it
    /// differs, so a repeated cancel does nothing twice.
    pub cancellable: Option<i64>,
    pub reason: String,
    /// The buyer's account, for a virtual-account payment.
    pub refund_account: Option<RefundAccount>,
    /// The PG the payment went through, when known (account codes differ by PG).
    pub pg_provider: Option<String>,
}

/// One party of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub postcode: String,
}

/// An escrow delivery, registered or changed at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sender: Contact,
    /// The sender's relation to the seller, e.g. `판매자`.
    pub relationship: String,
    pub receiver: Contact,
    /// The courier's code as our API takes it (V1's: `CJGLS`, `HANJIN`, ...).
    pub courier: String,
    pub invoice: String,
    /// Unix ms.
    pub sent_at: i64,
}

/// Payments that changed at the gateway within `from..=to` (unix seconds), a page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedQuery {
    pub from: i64,
    pub to: i64,
    /// `None` for the first page, then the page's `next`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedPage {
    pub payments: Vec<GatewayPayment>,
    pub next: Option<String>,
}

/// A failed gateway call.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No such payment (or delivery) at the gateway.
    #[error("not found: {0}")]
    NotFound(String),
    /// The gateway answered and did nothing. `conflict`: it refused because the thing is
    /// already done or the payment's state forbids it (HTTP 409).
    #[error("gateway refused: {message}")]
    Refused { conflict: bool, message: String },
    /// Anything else: the outcome may be unknown (timeouts, 5xx, broken answers).
    #[error("{message}")]
    Failed { kind: &'static str, message: String },
}

impl GatewayError {
    /// A stable short name for logs and answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Refused { .. } => "refused",
            Self::Failed { kind, .. } => kind,
        }
    }
}

/// What the service asks of the payment gateway. Object safe: held as `Arc<dyn Gateway>`.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// The payment, by our reference or the gateway's id. With a `gateway_id`, a payment of
    /// another reference is still answered: the caller checks `reference`.
    async fn payment(&self, payment: &PaymentRef) -> Result<GatewayPayment, GatewayError>;
    /// The payments among `payments` that the gateway has; unknown ones are absent.
    async fn payments(&self, payments: &[PaymentRef]) -> Result<Vec<GatewayPayment>, GatewayError>;
    /// One page of the payments that changed in a time window.
    async fn changed(&self, query: &ChangedQuery) -> Result<ChangedPage, GatewayError>;
    /// Registers the amount the browser must pay (where the API has it).
    async fn prepare(&self, reference: &str, amount: i64) -> Result<(), GatewayError>;
    /// Never retried: on an unknown outcome the caller reads the payment again.
    async fn cancel(&self, request: &CancelRequest) -> Result<(), GatewayError>;
    /// Registers (`first`) or changes an escrow delivery.
    async fn ship(
        &self,
        payment: &PaymentRef,
        delivery: &Delivery,
        first: bool,
    ) -> Result<(), GatewayError>;
    /// Tells the PG the buyer confirmed the purchase (where the API has it).
    async fn complete_escrow(&self, payment: &PaymentRef) -> Result<(), GatewayError>;
    /// Closes an unpaid virtual account, so that no transfer can arrive.
    async fn close_account(&self, payment: &PaymentRef) -> Result<(), GatewayError>;
    /// Succeeds when the gateway answers with our credentials.
    async fn ping(&self) -> Result<(), GatewayError>;
}
