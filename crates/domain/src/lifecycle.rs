//! The escrow lifecycle as data: for each transition, the states it moves, its guards, the
//! journal it posts, its stock effect and the event it raises. Pure: `core` reads a
//! [`Snapshot`], asks [`plan`] and applies the [`Plan`] in one transaction, conditional on the
//! snapshot still being current.

use crate::escrow::{
    EscrowStatus, FailureCode, OrderStatus, PaymentStatus, ReturnKind, ReturnReason,
};
use crate::ledger::{Account, Journal, JournalKind};
use crate::money::{Bps, Won};

/// What the rules read of an order and its latest payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub order: OrderStatus,
    pub payment: Option<PaymentFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentFacts {
    pub status: PaymentStatus,
    /// `Inactive` when the payment is not in escrow.
    pub escrow: EscrowStatus,
    pub amount: Won,
    pub refunded: Won,
    pub released: Won,
    /// Reserved by refunds the gateway is being asked for: neither refunded nor releasable.
    pub refunding: Won,
    pub seller_id: i64,
}

impl PaymentFacts {
    /// What a new refund may still take.
    pub fn refundable(&self) -> Won {
        let gone = self.refunded.get() + self.released.get() + self.refunding.get();
        Won::new(self.amount.get() - gone).unwrap_or(Won::ZERO)
    }

    fn escrow_on(&self) -> bool {
        self.escrow != EscrowStatus::Inactive
    }
}

/// Who asks for a transition; the rules differ by party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Buyer,
    Seller,
    Admin,
    /// The gateway's record (a completion, a webhook, reconciliation).
    Gateway,
    /// The service's own jobs (expiry, automatic confirmation).
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The gateway holds exactly the money the order asked for.
    Pay,
    /// The gateway issued a virtual account for the order; its deposit is awaited.
    AwaitDeposit,
    /// A virtual account's due time passed without its deposit (the account is revoked at
    /// the gateway first).
    ExpireDeposit,
    /// The gateway holds money of another amount, currency or escrow flag.
    RefuseMismatch,
    /// The gateway holds money for an order that is no longer payable.
    RefuseLate,
    /// The gateway reports the payment failed.
    Fail,
    /// The buyer or the seller cancels an unpaid order.
    CancelUnpaid,
    /// An unpaid order's time ran out (one awaiting a deposit expires by `ExpireDeposit`).
    Expire,
    Ship,
    Deliver,
    Dispute,
    /// The buyer confirms, the confirmation period ends (`System`), or an admin decides.
    Release {
        by: Party,
    },
    /// Reserve `amount` for a refund before the gateway is asked.
    RequestRefund {
        amount: Won,
        by: Party,
    },
    /// The gateway refunded a requested amount.
    RefundSucceeded {
        amount: Won,
    },
    /// The gateway refused a requested refund: nothing moved.
    RefundFailed {
        amount: Won,
    },
    /// A refund the gateway made that we did not ask for (its console, a lost record).
    RefundedAtGateway {
        amount: Won,
    },
    /// The buyer refuses delivered goods within the inspection period (a return or an
    /// exchange); the parties are checked by the flow, as for `Ship`.
    RequestReturn,
    /// The buyer sent the goods back.
    ShipReturn,
    /// The seller has the goods back; the inspection period starts.
    ReceiveReturn,
    /// The seller (or, silent past the inspection period, `System` with no fee) accepts:
    /// a return is refunded less `fee`, which is released to the seller; an exchange goes
    /// back to `paid` for a new shipment. `kind` and `reason` are the return's, as recorded.
    AcceptReturn {
        kind: ReturnKind,
        reason: ReturnReason,
        fee: Won,
    },
    /// The seller refuses the returned goods: an admin decides, as in a dispute.
    RejectReturn,
    /// The goods were not sent back in time: the order is delivered again.
    LapseReturn,
}

/// The service's money rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    pub fee: Bps,
    /// VAT on the fee, also charged to the seller.
    pub fee_vat: Bps,
    /// The most a seller may keep of a return the buyer changed their mind about.
    pub max_return_fee: Won,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move<S> {
    pub from: S,
    pub to: S,
}

/// The payment's amounts after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub refunded: Won,
    pub released: Won,
    pub refunding: Won,
}

/// What a release owes the seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementLine {
    pub gross: Won,
    pub fee: Won,
    pub fee_vat: Won,
    pub net: Won,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    PaymentPaid,
    PaymentVbankIssued,
    PaymentVbankExpired,
    PaymentFailed,
    PaymentRefused,
    OrderCancelled,
    OrderExpired,
    OrderShipped,
    OrderDelivered,
    OrderDisputed,
    EscrowReleased,
    RefundRequested,
    PaymentRefunded,
    RefundFailed,
    ReturnRequested,
    ReturnShipped,
    ReturnReceived,
    ReturnAccepted,
    ReturnRejected,
    ReturnLapsed,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::PaymentPaid => "payment.paid",
            Event::PaymentVbankIssued => "payment.vbank_issued",
            Event::PaymentVbankExpired => "payment.vbank_expired",
            Event::PaymentFailed => "payment.failed",
            Event::PaymentRefused => "payment.refused",
            Event::OrderCancelled => "order.cancelled",
            Event::OrderExpired => "order.expired",
            Event::OrderShipped => "order.shipped",
            Event::OrderDelivered => "order.delivered",
            Event::OrderDisputed => "order.disputed",
            Event::EscrowReleased => "escrow.released",
            Event::RefundRequested => "refund.requested",
            Event::PaymentRefunded => "payment.refunded",
            Event::RefundFailed => "refund.failed",
            Event::ReturnRequested => "return.requested",
            Event::ReturnShipped => "return.shipped",
            Event::ReturnReceived => "return.received",
            Event::ReturnAccepted => "return.accepted",
            Event::ReturnRejected => "return.rejected",
            Event::ReturnLapsed => "return.lapsed",
        }
    }
}

/// Everything one transition does; `core` writes exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub order: Option<Move<OrderStatus>>,
    pub payment: Option<Move<PaymentStatus>>,
    pub escrow: Option<Move<EscrowStatus>>,
    /// The payment's amounts afterwards; `None` when the order has no payment. The payment's
    /// row is written whenever there is one, so that racing transitions conflict on it.
    pub amounts: Option<Amounts>,
    pub failure: Option<FailureCode>,
    pub journal: Option<Journal>,
    pub returns_stock: bool,
    pub settlement: Option<SettlementLine>,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The current state does not allow it.
    InvalidState(String),
    /// A refund is being asked of the gateway; try again once it settled.
    RefundInProgress,
    /// More than a refund may still take.
    ExceedsBalance { left: Won },
    /// A field the party may not choose so.
    Field {
        field: &'static str,
        message: String,
    },
    /// Money arrived for an order that closed: refuse the payment instead (`RefuseLate`).
    OrderClosed,
}

fn invalid(message: String) -> Refusal {
    Refusal::InvalidState(message)
}

/// What `t` does to `s`, or why it may not.
pub fn plan(s: &Snapshot, t: Transition, rules: &Rules) -> Result<Plan, Refusal> {
    use Transition::*;
    match t {
        Pay => pay(s),
        AwaitDeposit => await_deposit(s),
        ExpireDeposit => {
            awaiting(s)?;
            end_unpaid(s, OrderStatus::Expired, Event::PaymentVbankExpired)
        }
        RefuseMismatch => close_ready(s, PaymentStatus::Failed, FailureCode::AmountMismatch),
        RefuseLate => close_ready(s, PaymentStatus::Cancelled, FailureCode::OrderClosed),
        Fail => close_ready(s, PaymentStatus::Failed, FailureCode::GatewayFailed),
        CancelUnpaid => end_unpaid(s, OrderStatus::Cancelled, Event::OrderCancelled),
        Expire => {
            if s.payment
                .is_some_and(|p| p.status == PaymentStatus::AwaitingDeposit)
            {
                return Err(invalid(
                    "an account awaiting its deposit expires at its due time".to_string(),
                ));
            }
            end_unpaid(s, OrderStatus::Expired, Event::OrderExpired)
        }
        Ship => {
            let p = holding(s, "shipped")?;
            not_refunding(&p)?;
            order_only(s, OrderStatus::Shipping, Event::OrderShipped)
        }
        Deliver => {
            holding(s, "marked delivered")?;
            // Only a parcel on its way: a return going back to `delivered` is a lapse.
            if s.order != OrderStatus::Shipping {
                return Err(invalid(format!("a {} order cannot be delivered", s.order)));
            }
            order_only(s, OrderStatus::Delivered, Event::OrderDelivered)
        }
        Dispute => {
            holding(s, "disputed")?;
            if !s.order.awaits_confirmation() {
                return Err(invalid(format!("a {} order cannot be disputed", s.order)));
            }
            order_only(s, OrderStatus::Disputed, Event::OrderDisputed)
        }
        Release { by } => release(s, by, rules),
        RequestRefund { amount, by } => refunds::request(s, amount, by),
        RefundSucceeded { amount } => refunds::succeeded(s, amount, amount),
        RefundFailed { amount } => refunds::failed(s, amount),
        RefundedAtGateway { amount } => refunds::at_gateway(s, amount),
        RequestReturn => returns::request(s),
        ShipReturn => returns::advance(
            s,
            OrderStatus::ReturnRequested,
            OrderStatus::ReturnShipping,
            Event::ReturnShipped,
        ),
        ReceiveReturn => returns::advance(
            s,
            OrderStatus::ReturnShipping,
            OrderStatus::ReturnReceived,
            Event::ReturnReceived,
        ),
        AcceptReturn { kind, reason, fee } => returns::accept(s, kind, reason, fee, rules),
        RejectReturn => returns::reject(s),
        LapseReturn => returns::advance(
            s,
            OrderStatus::ReturnRequested,
            OrderStatus::Delivered,
            Event::ReturnLapsed,
        ),
    }
}

fn too_large(err: crate::money::MoneyError) -> Refusal {
    invalid(format!("the amounts would be out of bounds: {err}"))
}

fn payment(s: &Snapshot) -> Result<PaymentFacts, Refusal> {
    s.payment
        .ok_or_else(|| invalid("the order has no payment".to_string()))
}

/// A payment that holds money not yet released.
fn holding(s: &Snapshot, what: &str) -> Result<PaymentFacts, Refusal> {
    let p = payment(s)?;
    if !p.status.holds_money() || p.released > Won::ZERO || s.order.is_final() {
        return Err(invalid(format!(
            "a {} payment of a {} order cannot be {what}",
            p.status, s.order
        )));
    }
    Ok(p)
}

fn not_refunding(p: &PaymentFacts) -> Result<(), Refusal> {
    if p.refunding > Won::ZERO {
        Err(Refusal::RefundInProgress)
    } else {
        Ok(())
    }
}

fn amounts(p: &PaymentFacts) -> Amounts {
    Amounts {
        refunded: p.refunded,
        released: p.released,
        refunding: p.refunding,
    }
}

/// A plan that moves nothing but touches the payment's row.
fn quiet(s: &Snapshot, event: Event) -> Plan {
    Plan {
        order: None,
        payment: None,
        escrow: None,
        amounts: s.payment.as_ref().map(amounts),
        failure: None,
        journal: None,
        returns_stock: false,
        settlement: None,
        event,
    }
}

fn order_move(s: &Snapshot, to: OrderStatus) -> Result<Move<OrderStatus>, Refusal> {
    if s.order.can_become(to) {
        Ok(Move { from: s.order, to })
    } else {
        Err(invalid(format!(
            "an order that is {} cannot become {to}",
            s.order
        )))
    }
}

fn payment_move(p: &PaymentFacts, to: PaymentStatus) -> Result<Move<PaymentStatus>, Refusal> {
    if p.status.can_become(to) {
        Ok(Move { from: p.status, to })
    } else {
        Err(invalid(format!(
            "a {} payment cannot become {to}",
            p.status
        )))
    }
}

/// The escrow's move to `to`, when the payment is in escrow.
fn escrow_move(p: &PaymentFacts, to: EscrowStatus) -> Result<Option<Move<EscrowStatus>>, Refusal> {
    if !p.escrow_on() {
        return Ok(None);
    }
    if p.escrow.can_become(to) {
        Ok(Some(Move { from: p.escrow, to }))
    } else {
        Err(invalid(format!(
            "an escrow that is {} cannot become {to}",
            p.escrow
        )))
    }
}

fn order_only(s: &Snapshot, to: OrderStatus, event: Event) -> Result<Plan, Refusal> {
    Ok(Plan {
        order: Some(order_move(s, to)?),
        ..quiet(s, event)
    })
}

fn pay(s: &Snapshot) -> Result<Plan, Refusal> {
    let p = payment(s)?;
    let payment = payment_move(&p, PaymentStatus::Paid)?;
    if s.order != OrderStatus::PendingPayment {
        return Err(Refusal::OrderClosed);
    }
    let capture = Journal::transfer(
        JournalKind::Capture,
        Account::Gateway,
        Account::Escrow,
        p.amount,
    );
    Ok(Plan {
        order: Some(order_move(s, OrderStatus::Paid)?),
        payment: Some(payment),
        escrow: escrow_move(&p, EscrowStatus::Held)?,
        journal: Some(capture),
        ..quiet(s, Event::PaymentPaid)
    })
}

/// An unpaid order's payment whose virtual account awaits its deposit.
fn awaiting(s: &Snapshot) -> Result<PaymentFacts, Refusal> {
    let p = payment(s)?;
    if p.status != PaymentStatus::AwaitingDeposit || s.order != OrderStatus::PendingPayment {
        return Err(invalid(format!(
            "a {} payment of a {} order awaits no deposit",
            p.status, s.order
        )));
    }
    Ok(p)
}

/// The account is issued: the payment waits for the buyer's transfer, the order stays
/// payable (its expiry is the account's due time).
fn await_deposit(s: &Snapshot) -> Result<Plan, Refusal> {
    let p = payment(s)?;
    let payment = payment_move(&p, PaymentStatus::AwaitingDeposit)?;
    if s.order != OrderStatus::PendingPayment {
        return Err(Refusal::OrderClosed);
    }
    Ok(Plan {
        payment: Some(payment),
        ..quiet(s, Event::PaymentVbankIssued)
    })
}

/// A `ready` payment the gateway reported on ends without our holding its money; a mismatch
/// also cancels the order it was for, which a later payment could no longer trust.
fn close_ready(s: &Snapshot, to: PaymentStatus, code: FailureCode) -> Result<Plan, Refusal> {
    let p = payment(s)?;
    if !matches!(
        p.status,
        PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
    ) {
        return Err(invalid(format!(
            "a {} payment cannot become {to}",
            p.status
        )));
    }
    let cancels_order =
        code == FailureCode::AmountMismatch && s.order == OrderStatus::PendingPayment;
    let event = match code {
        FailureCode::OrderClosed => Event::PaymentRefused,
        _ => Event::PaymentFailed,
    };
    Ok(Plan {
        order: if cancels_order {
            Some(order_move(s, OrderStatus::Cancelled)?)
        } else {
            None
        },
        payment: Some(payment_move(&p, to)?),
        failure: Some(code),
        returns_stock: cancels_order,
        ..quiet(s, event)
    })
}

fn end_unpaid(s: &Snapshot, to: OrderStatus, event: Event) -> Result<Plan, Refusal> {
    if s.order != OrderStatus::PendingPayment {
        return Err(invalid(format!("a {} order cannot become {to}", s.order)));
    }
    let payment = match s.payment {
        Some(p) if p.status.holds_money() => {
            return Err(invalid(
                "the order is paid; cancel the payment to refund it".to_string(),
            ))
        }
        Some(p)
            if matches!(
                p.status,
                PaymentStatus::Ready | PaymentStatus::AwaitingDeposit
            ) =>
        {
            Some(payment_move(&p, PaymentStatus::Cancelled)?)
        }
        _ => None,
    };
    Ok(Plan {
        order: Some(order_move(s, to)?),
        payment,
        returns_stock: true,
        ..quiet(s, event)
    })
}

fn release(s: &Snapshot, by: Party, rules: &Rules) -> Result<Plan, Refusal> {
    let allowed = match by {
        Party::Buyer => s.order.awaits_confirmation(),
        Party::System => s.order == OrderStatus::Delivered,
        Party::Admin => s.order == OrderStatus::Disputed,
        Party::Seller | Party::Gateway => false,
    };
    if !allowed {
        return Err(invalid(format!("a {} order cannot be released", s.order)));
    }
    let p = holding(s, "released")?;
    not_refunding(&p)?;
    let gross = p.amount.checked_sub(p.refunded).map_err(too_large)?;
    let (journal, line) = pay_seller(&p, gross, rules)?;
    Ok(Plan {
        order: Some(order_move(s, OrderStatus::Confirmed)?),
        escrow: escrow_move(&p, EscrowStatus::Released)?,
        amounts: Some(Amounts {
            released: gross,
            ..amounts(&p)
        }),
        journal: Some(journal),
        settlement: Some(line),
        ..quiet(s, Event::EscrowReleased)
    })
}

/// `gross` out of escrow to the seller, less the platform's fee and its VAT: what any
/// release (the whole payment, or a return's fee) posts and owes.
fn pay_seller(
    p: &PaymentFacts,
    gross: Won,
    rules: &Rules,
) -> Result<(Journal, SettlementLine), Refusal> {
    let fee = rules.fee.of(gross);
    let fee_vat = rules.fee_vat.of(fee);
    let net = gross
        .checked_sub(fee)
        .and_then(|rest| rest.checked_sub(fee_vat))
        .map_err(too_large)?;
    let journal = Journal::split(
        JournalKind::Release,
        Account::Escrow,
        gross,
        &[
            (Account::Seller(p.seller_id), net),
            (Account::PlatformFee, fee),
            (Account::FeeVat, fee_vat),
        ],
    )
    .map_err(|err| invalid(err.to_string()))?;
    let line = SettlementLine {
        gross,
        fee,
        fee_vat,
        net,
    };
    Ok((journal, line))
}

mod refunds;
mod returns;
#[cfg(test)]
mod tests;
