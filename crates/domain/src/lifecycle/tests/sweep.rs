//! The exhaustive sweep: every order, payment and escrow state with a few amount splits,
//! against every transition by every party, and what must hold of any plan it allows.

use super::*;

const ORDERS: [O; 13] = [
    O::PendingPayment,
    O::Paid,
    O::Shipping,
    O::Delivered,
    O::Confirmed,
    O::Cancelled,
    O::Refunded,
    O::Disputed,
    O::Expired,
    O::ReturnRequested,
    O::ReturnShipping,
    O::ReturnReceived,
    O::Returned,
];
const PAYMENTS: [P; 7] = [
    P::Ready,
    P::AwaitingDeposit,
    P::Paid,
    P::PartiallyRefunded,
    P::Refunded,
    P::Cancelled,
    P::Failed,
];
const ESCROWS: [E; 5] = [E::Inactive, E::Pending, E::Held, E::Released, E::Returned];
pub(super) const PARTIES: [Party; 5] = [
    Party::Buyer,
    Party::Seller,
    Party::Admin,
    Party::Gateway,
    Party::System,
];

fn transitions() -> Vec<Transition> {
    use Transition::*;
    let mut all = vec![
        Pay,
        AwaitDeposit,
        ExpireDeposit,
        RefuseMismatch,
        RefuseLate,
        Fail,
        CancelUnpaid,
        Expire,
        Ship,
        Deliver,
        Dispute,
        RequestReturn,
        ShipReturn,
        ReceiveReturn,
        RejectReturn,
        LapseReturn,
    ];
    for kind in [K::Return, K::Exchange] {
        for reason in [R::ChangedMind, R::Defective] {
            for fee in [0, 3_000, 6_001] {
                all.push(accept(kind, reason, fee));
            }
        }
    }
    for by in PARTIES {
        all.push(Release { by });
        for amount in [0, 1, 4_000, 10_000] {
            all.push(RequestRefund {
                amount: won(amount),
                by,
            });
        }
    }
    for amount in [1, 4_000, 10_000] {
        all.push(RefundSucceeded {
            amount: won(amount),
        });
        all.push(RefundFailed {
            amount: won(amount),
        });
        all.push(RefundedAtGateway {
            amount: won(amount),
        });
    }
    all
}

/// Every snapshot the sweep tries: each state combination with a few amount splits
/// (refunded, released, refunding) that stay within the payment.
pub(super) fn snapshots() -> Vec<Snapshot> {
    let splits = [
        (0, 0, 0),
        (0, 0, 4_000),
        (4_000, 0, 0),
        (4_000, 0, 6_000),
        (0, 10_000, 0),
        (4_000, 6_000, 0),
        (10_000, 0, 0),
    ];
    let mut all = Vec::new();
    for order in ORDERS {
        all.push(snap(order, None));
        for status in PAYMENTS {
            for escrow in ESCROWS {
                for (refunded, released, refunding) in splits {
                    all.push(snap(
                        order,
                        Some(facts(status, escrow, refunded, released, refunding)),
                    ));
                }
            }
        }
    }
    all
}

#[test]
fn every_plan_keeps_the_invariants() {
    let mut allowed = 0;
    for s in snapshots() {
        for t in transitions() {
            let Ok(plan) = plan(&s, t, &rules()) else {
                continue;
            };
            allowed += 1;
            let at = format!("{t:?} on {s:?}");
            if let Some(m) = plan.order {
                assert_eq!(m.from, s.order, "{at}");
                assert!(m.from.can_become(m.to), "order {m:?}: {at}");
            }
            let Some(p) = s.payment else {
                assert!(plan.amounts.is_none() && plan.journal.is_none(), "{at}");
                continue;
            };
            if let Some(m) = plan.payment {
                assert!(
                    m.from == p.status && m.from.can_become(m.to),
                    "payment {m:?}: {at}"
                );
            }
            if let Some(m) = plan.escrow {
                assert!(
                    m.from == p.escrow && m.from.can_become(m.to),
                    "escrow {m:?}: {at}"
                );
            }
            let after = plan.amounts.unwrap_or_else(|| panic!("no amounts: {at}"));
            let gone = after.refunded.get() + after.released.get() + after.refunding.get();
            assert!(gone <= p.amount.get(), "more than paid is gone: {at}");
            assert!(
                after.refunded >= p.refunded && after.released >= p.released,
                "{at}"
            );
            // The journal moves escrow by exactly what the amounts say left it.
            let escrow_net = plan.journal.as_ref().map_or(0, |j| j.net(Account::Escrow));
            let captured = if matches!(t, Transition::Pay) {
                p.amount.get()
            } else {
                0
            };
            let left_escrow = (after.refunded.get() - p.refunded.get())
                + (after.released.get() - p.released.get());
            assert_eq!(escrow_net, captured - left_escrow, "{at}");
            if after.released > p.released {
                assert_eq!(p.refunding, Won::ZERO, "released while refunding: {at}");
                assert!(plan.settlement.is_some(), "{at}");
            }
            if plan.returns_stock {
                let ended = plan.order.map(|m| m.to);
                assert!(
                    matches!(ended, Some(O::Cancelled | O::Expired)),
                    "stock back: {at}"
                );
            }
        }
    }
    assert!(allowed > 100, "the sweep allowed only {allowed} plans");
}

#[test]
fn releases_and_refunds_exclude_each_other() {
    for s in snapshots() {
        let Some(p) = s.payment else { continue };
        let release = plan(&s, Transition::Release { by: Party::Admin }, &rules());
        let refund = plan(
            &s,
            Transition::RequestRefund {
                amount: won(1),
                by: Party::Admin,
            },
            &rules(),
        );
        if p.refunding > Won::ZERO {
            assert!(release.is_err(), "released with a refund open: {s:?}");
        }
        if p.released > Won::ZERO {
            assert!(refund.is_err(), "refund after release: {s:?}");
        }
    }
}
