//! Returns and exchanges: the buyer refuses delivered goods, sends them back, and the seller
//! accepts (a return refunded less an optional fee, an exchange shipped again) or rejects
//! (an admin decides). Nothing is released while a return is open: `Release` asks for a
//! `delivered` (or, for the buyer, `shipping`) order, and the return states are neither.

use super::{
    holding, invalid, not_refunding, order_move, order_only, pay_seller, quiet, too_large, Amounts,
    Event, Party, Plan, Refusal, Rules, Snapshot,
};
use crate::escrow::{EscrowStatus, OrderStatus, ReturnKind, ReturnReason};
use crate::money::Won;

/// Within the inspection period, after delivery: the flow checks the period's end.
pub(super) fn request(s: &Snapshot) -> Result<Plan, Refusal> {
    holding(s, "returned")?;
    if s.order != OrderStatus::Delivered {
        return Err(invalid(format!(
            "a {} order cannot be returned; a return starts after delivery",
            s.order
        )));
    }
    order_only(s, OrderStatus::ReturnRequested, Event::ReturnRequested)
}

/// One step of an open return, from `from` only.
pub(super) fn advance(
    s: &Snapshot,
    from: OrderStatus,
    to: OrderStatus,
    event: Event,
) -> Result<Plan, Refusal> {
    holding(s, "moved")?;
    if s.order != from {
        return Err(invalid(format!(
            "a {} order cannot become {to}: only a {from} one can",
            s.order
        )));
    }
    order_only(s, to, event)
}

pub(super) fn reject(s: &Snapshot) -> Result<Plan, Refusal> {
    holding(s, "disputed")?;
    if !s.order.return_open() {
        return Err(invalid(format!("a {} order has no open return", s.order)));
    }
    order_only(s, OrderStatus::Disputed, Event::ReturnRejected)
}

fn fee_field(message: impl Into<String>) -> Refusal {
    Refusal::Field {
        field: "return_fee",
        message: message.into(),
    }
}

/// The goods are back and accepted: an exchange awaits a new shipment; a return releases
/// `fee` to the seller (as any release: less the platform's fee) and reserves the rest for
/// the refund the flow then asks of the gateway, as a refund intent.
pub(super) fn accept(
    s: &Snapshot,
    kind: ReturnKind,
    reason: ReturnReason,
    fee: Won,
    rules: &Rules,
) -> Result<Plan, Refusal> {
    let p = holding(s, "accepted")?;
    if s.order != OrderStatus::ReturnReceived {
        return Err(invalid(format!(
            "a {} order cannot be accepted: the seller accepts once the goods are received",
            s.order
        )));
    }
    not_refunding(&p)?;
    if fee > Won::ZERO {
        if kind == ReturnKind::Exchange {
            return Err(fee_field("an exchange carries no return fee"));
        }
        if reason != ReturnReason::ChangedMind {
            return Err(fee_field(
                "only a return because the buyer changed their mind carries a fee",
            ));
        }
        if fee > rules.max_return_fee {
            return Err(fee_field(format!(
                "must be at most {} won",
                rules.max_return_fee.get()
            )));
        }
        if fee > p.refundable() {
            return Err(fee_field(format!(
                "must be at most what is left of the payment, {} won",
                p.refundable().get()
            )));
        }
    }
    if kind == ReturnKind::Exchange {
        return order_only(s, OrderStatus::Paid, Event::ReturnAccepted);
    }
    let rest = p.refundable().checked_sub(fee).map_err(too_large)?;
    let (journal, settlement) = if fee > Won::ZERO {
        let (journal, line) = pay_seller(&p, fee, rules)?;
        (Some(journal), Some(line))
    } else {
        (None, None)
    };
    Ok(Plan {
        order: Some(order_move(s, OrderStatus::Returned)?),
        escrow: super::escrow_move(&p, EscrowStatus::Returned)?,
        amounts: Some(Amounts {
            refunded: p.refunded,
            released: p.released.checked_add(fee).map_err(too_large)?,
            refunding: p.refunding.checked_add(rest).map_err(too_large)?,
        }),
        journal,
        settlement,
        ..quiet(s, Event::ReturnAccepted)
    })
}

/// A returned order whose refund the gateway refused, or whose intent a crash left to be
/// settled as failed: the service asks again for all that is left (`System` only).
pub(super) fn refund_owed(s: &Snapshot, amount: Won, by: Party) -> Result<Plan, Refusal> {
    let p = super::payment(s)?;
    if by != Party::System || !p.status.holds_money() {
        return Err(invalid(
            "a returned order is refunded by the service alone".into(),
        ));
    }
    not_refunding(&p)?;
    if amount == Won::ZERO || amount != p.refundable() {
        return Err(Refusal::ExceedsBalance {
            left: p.refundable(),
        });
    }
    Ok(Plan {
        amounts: Some(Amounts {
            refunding: amount,
            ..super::amounts(&p)
        }),
        ..quiet(s, Event::RefundRequested)
    })
}
