//! Refunds in the lifecycle: reserving an amount before the gateway is asked, settling it
//! from the gateway's answer (done or refused), and a refund the gateway made unasked. A
//! reservation is what makes a release wait (`not_refunding`).

use super::{
    amounts, escrow_move, holding, invalid, order_move, payment, payment_move, quiet, too_large,
    Amounts, Event, Party, PaymentFacts, Plan, Refusal, Snapshot,
};
use crate::escrow::{EscrowStatus, OrderStatus, PaymentStatus};
use crate::ledger::{Account, Journal, JournalKind};
use crate::money::Won;

/// Reserves `amount` for a refund `by` asks for, before the gateway is asked.
pub(super) fn request(s: &Snapshot, amount: Won, by: Party) -> Result<Plan, Refusal> {
    if s.order == OrderStatus::Returned {
        return super::returns::refund_owed(s, amount, by);
    }
    let p = holding(s, "refunded")?;
    if amount == Won::ZERO {
        return Err(Refusal::Field {
            field: "amount",
            message: "must be greater than 0".into(),
        });
    }
    match by {
        Party::Buyer if s.order != OrderStatus::Paid => {
            return Err(invalid(
                "after shipment the buyer opens a dispute instead of a refund".into(),
            ))
        }
        Party::Buyer if amount != p.refundable() => {
            return Err(Refusal::Field {
                field: "amount",
                message: "a buyer refunds in full".into(),
            })
        }
        Party::Gateway | Party::System => {
            return Err(invalid(
                "only a party to the order asks for a refund".into(),
            ))
        }
        _ => {}
    }
    if amount > p.refundable() {
        return Err(Refusal::ExceedsBalance {
            left: p.refundable(),
        });
    }
    let refunding = p.refunding.checked_add(amount).map_err(too_large)?;
    Ok(Plan {
        amounts: Some(Amounts {
            refunding,
            ..amounts(&p)
        }),
        ..quiet(s, Event::RefundRequested)
    })
}

/// Settles `reserved` of the reservation as `amount` refunded (equal but for rounding at
/// gateways that never differ today; kept apart so the arithmetic says which is which).
pub(super) fn succeeded(s: &Snapshot, reserved: Won, amount: Won) -> Result<Plan, Refusal> {
    let p = payment(s)?;
    let refunding = p
        .refunding
        .checked_sub(reserved)
        .map_err(|_| invalid(format!("no refund of {reserved} is in progress")))?;
    let refunded = p.refunded.checked_add(amount).map_err(too_large)?;
    let gone = refunded.checked_add(p.released).map_err(too_large)?;
    if gone > p.amount {
        return Err(Refusal::ExceedsBalance {
            left: p.refundable(),
        });
    }
    let full = gone == p.amount;
    let before_shipment = s.order == OrderStatus::Paid;
    // An accepted return's refund: the order and the escrow moved when it was accepted.
    let returned = s.order == OrderStatus::Returned;
    let to = match full {
        false => PaymentStatus::PartiallyRefunded,
        // A return fee was released: not all of the payment came back.
        true if p.released > Won::ZERO => PaymentStatus::PartiallyRefunded,
        true if before_shipment && p.refunded == Won::ZERO => PaymentStatus::Cancelled,
        true => PaymentStatus::Refunded,
    };
    let order = match (full && !returned, before_shipment) {
        (false, _) => None,
        (true, true) => Some(order_move(s, OrderStatus::Cancelled)?),
        (true, false) => Some(order_move(s, OrderStatus::Refunded)?),
    };
    Ok(Plan {
        order,
        payment: Some(payment_move(&p, to)?),
        escrow: if full && !returned {
            escrow_move(&p, EscrowStatus::Returned)?
        } else {
            None
        },
        amounts: Some(Amounts {
            refunded,
            released: p.released,
            refunding,
        }),
        journal: Some(Journal::transfer(
            JournalKind::Refund,
            Account::Escrow,
            Account::Refunds,
            amount,
        )),
        returns_stock: full && before_shipment,
        ..quiet(s, Event::PaymentRefunded)
    })
}

/// The gateway refused a requested refund: the reservation goes back, nothing moved.
pub(super) fn failed(s: &Snapshot, amount: Won) -> Result<Plan, Refusal> {
    let p = payment(s)?;
    let refunding = p
        .refunding
        .checked_sub(amount)
        .map_err(|_| invalid(format!("no refund of {amount} is in progress")))?;
    Ok(Plan {
        amounts: Some(Amounts {
            refunding,
            ..amounts(&p)
        }),
        ..quiet(s, Event::RefundFailed)
    })
}

/// A refund the gateway made that we did not ask for: reserved and settled in one step.
pub(super) fn at_gateway(s: &Snapshot, amount: Won) -> Result<Plan, Refusal> {
    let p = holding(s, "refunded")?;
    if amount > p.refundable() {
        return Err(Refusal::ExceedsBalance {
            left: p.refundable(),
        });
    }
    let reserved = Snapshot {
        payment: Some(PaymentFacts {
            refunding: p.refunding.checked_add(amount).map_err(too_large)?,
            ..p
        }),
        ..*s
    };
    succeeded(&reserved, amount, amount)
}
