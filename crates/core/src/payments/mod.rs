//! Escrow payments, one concept a file:
//! - `checkout`: creation with amount pre-registration, and verified completion;
//! - `gateway`: the gateway's record turned into ours;
//! - `fulfilment`: shipment, delivery, confirmation and release;
//! - `refunds`: cancels and refunds, recorded as intents before the gateway is asked;
//! - `vbank`: virtual accounts (revoking one at expiry or cancel, the refund account);
//! - `returns`: returns and exchanges; `return_timers`: their deadlines, as jobs;
//! - `disputes`, `ledger` (the ledger report), `sweeps` (the jobs' bodies);
//! - `settlements` (lines, balances, chargebacks), `payouts` (bank accounts, batches),
//!   `overdue` (the settlement deadline);
//! - `steps` and `transitions`: how a flow makes a transition of the lifecycle in
//!   `escrow_domain::lifecycle`, and the one writer of statuses;
//! - `rows`, `model`: reads and public types.

mod checkout;
mod disputes;
mod fulfilment;
mod gateway;
mod ledger;
mod model;
mod overdue;
mod payouts;
mod refunds;
mod return_timers;
mod returns;
mod rows;
mod seller_totals;
mod settlements;
mod steps;
mod sweeps;
mod transitions;
mod vbank;

pub use model::{
    Balance, BankAccountRecord, Checkout, Divergence, HistoryEntry, Ledger, PayMethod,
    PaymentCreated, PaymentRecord, PaymentSettings, PaymentStatusView, Payout, PayoutItem,
    PayoutOutcome, ReconcileReport, Refund, Refunded, Resolution, ReturnAsk, ReturnRecord,
    SeedPayment, Settlement, SettlementTotals, SettlementsView, VbankAccount,
};
pub use payouts::DEFAULT_MIN_PAYOUT;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::gateway::Gateway;
use crate::turns::Turns;
use escrow_store::Db;
use std::sync::Arc;

#[derive(Clone)]
pub struct Payments {
    db: Db,
    gateway: Arc<dyn Gateway>,
    settings: Arc<PaymentSettings>,
    /// The buyer's completion and the gateway's webhook of one payment arrive together
    /// (the usual race): in turn, the second finds the payment verified and asks the
    /// gateway nothing.
    verifying: Turns,
}

/// Its buyer, its seller and admins may see a payment.
fn may_see(caller: Caller, payment: &PaymentRecord) -> AppResult<()> {
    if caller.is_admin()
        || caller.user_id == payment.buyer_id
        || caller.user_id == payment.seller_id
    {
        Ok(())
    } else {
        Err(AppError::Forbidden("this payment is not yours".into()))
    }
}

/// The policy check of an action: 403 naming who may do it.
fn only(allowed: bool, who: &str) -> AppResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("only {who} can do this")))
    }
}

impl Payments {
    pub fn new(db: Db, gateway: Arc<dyn Gateway>, settings: PaymentSettings) -> Self {
        Self {
            db,
            gateway,
            settings: Arc::new(settings),
            verifying: Turns::default(),
        }
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// Loads a payment its buyer, its seller or an admin may see.
    async fn load_for(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentRecord> {
        let payment = self.load(payment_id).await?;
        may_see(caller, &payment)?;
        Ok(payment)
    }

    pub async fn status(&self, caller: Caller, payment_id: i64) -> AppResult<PaymentStatusView> {
        let view = self.status_view(payment_id).await?;
        may_see(caller, &view.payment)?;
        Ok(view)
    }
}
