//! Every state × transition: a table of the cases the contract names here, the return cases in
//! `tests/returns.rs`, and the exhaustive sweep of what must hold of any plan in `tests/sweep.rs`.

use super::*;
use crate::escrow::{
    EscrowStatus as E, OrderStatus as O, PaymentStatus as P, ReturnKind as K, ReturnReason as R,
};

mod returns;
mod sweep;

fn won(amount: i64) -> Won {
    Won::new(amount).unwrap_or(Won::ZERO)
}

const SELLER: i64 = 7;

fn facts(status: P, escrow: E, refunded: i64, released: i64, refunding: i64) -> PaymentFacts {
    PaymentFacts {
        status,
        escrow,
        amount: won(10_000),
        refunded: won(refunded),
        released: won(released),
        refunding: won(refunding),
        seller_id: SELLER,
    }
}

fn snap(order: O, payment: Option<PaymentFacts>) -> Snapshot {
    Snapshot { order, payment }
}

fn held(order: O) -> Snapshot {
    snap(order, Some(facts(P::Paid, E::Held, 0, 0, 0)))
}

fn rules() -> Rules {
    Rules {
        fee: Bps::new(300).unwrap_or(Bps::ZERO),
        fee_vat: Bps::new(1_000).unwrap_or(Bps::ZERO),
        max_return_fee: won(6_000),
    }
}

pub(super) fn accept(kind: K, reason: R, fee: i64) -> Transition {
    Transition::AcceptReturn {
        kind,
        reason,
        fee: won(fee),
    }
}

/// What a case expects: the order's, the payment's and the escrow's new states (`None`: not
/// moved), or the refusal's kind.
#[derive(Debug, PartialEq)]
enum Expect {
    Moves(Option<O>, Option<P>, Option<E>),
    InvalidState,
    RefundInProgress,
    ExceedsBalance,
    Field,
    OrderClosed,
}

fn outcome(result: &Result<Plan, Refusal>) -> Expect {
    match result {
        Ok(plan) => Expect::Moves(
            plan.order.map(|m| m.to),
            plan.payment.map(|m| m.to),
            plan.escrow.map(|m| m.to),
        ),
        Err(Refusal::InvalidState(_)) => Expect::InvalidState,
        Err(Refusal::RefundInProgress) => Expect::RefundInProgress,
        Err(Refusal::ExceedsBalance { .. }) => Expect::ExceedsBalance,
        Err(Refusal::Field { .. }) => Expect::Field,
        Err(Refusal::OrderClosed) => Expect::OrderClosed,
    }
}

#[test]
fn the_contracts_cases() {
    use Expect::*;
    use Transition::*;
    let ready = |order| snap(order, Some(facts(P::Ready, E::Pending, 0, 0, 0)));
    let ready_plain = snap(
        O::PendingPayment,
        Some(facts(P::Ready, E::Inactive, 0, 0, 0)),
    );
    let refunding = |order| snap(order, Some(facts(P::Paid, E::Held, 0, 0, 4_000)));
    let partly = |order| {
        snap(
            order,
            Some(facts(P::PartiallyRefunded, E::Held, 4_000, 0, 0)),
        )
    };
    let released = snap(
        O::Confirmed,
        Some(facts(P::Paid, E::Released, 0, 10_000, 0)),
    );
    let refund = |amount, by| RequestRefund {
        amount: won(amount),
        by,
    };
    let awaiting = |order| snap(order, Some(facts(P::AwaitingDeposit, E::Pending, 0, 0, 0)));
    let cases: Vec<(&str, Snapshot, Transition, Expect)> = vec![
        (
            "account issued",
            ready(O::PendingPayment),
            AwaitDeposit,
            Moves(None, Some(P::AwaitingDeposit), None),
        ),
        (
            "account issued twice",
            awaiting(O::PendingPayment),
            AwaitDeposit,
            InvalidState,
        ),
        (
            "account issued for a closed order",
            ready(O::Expired),
            AwaitDeposit,
            OrderClosed,
        ),
        (
            "deposit",
            awaiting(O::PendingPayment),
            Pay,
            Moves(Some(O::Paid), Some(P::Paid), Some(E::Held)),
        ),
        (
            "deposit for a closed order",
            awaiting(O::Expired),
            Pay,
            OrderClosed,
        ),
        (
            "deposit after the account was revoked",
            snap(O::Expired, Some(facts(P::Cancelled, E::Pending, 0, 0, 0))),
            Pay,
            InvalidState,
        ),
        (
            "account expired",
            awaiting(O::PendingPayment),
            ExpireDeposit,
            Moves(Some(O::Expired), Some(P::Cancelled), None),
        ),
        (
            "account expired, no account",
            ready(O::PendingPayment),
            ExpireDeposit,
            InvalidState,
        ),
        (
            "account expired after its deposit",
            held(O::Paid),
            ExpireDeposit,
            InvalidState,
        ),
        (
            "order expiry leaves an account to its due time",
            awaiting(O::PendingPayment),
            Expire,
            InvalidState,
        ),
        (
            "cancel before the deposit",
            awaiting(O::PendingPayment),
            CancelUnpaid,
            Moves(Some(O::Cancelled), Some(P::Cancelled), None),
        ),
        (
            "deposit of another amount",
            awaiting(O::PendingPayment),
            RefuseMismatch,
            Moves(Some(O::Cancelled), Some(P::Failed), None),
        ),
        (
            "deposit after expiry",
            awaiting(O::Expired),
            RefuseLate,
            Moves(None, Some(P::Cancelled), None),
        ),
        (
            "refund before the deposit",
            awaiting(O::PendingPayment),
            RequestRefund {
                amount: won(10_000),
                by: Party::Admin,
            },
            InvalidState,
        ),
        (
            "pay",
            ready(O::PendingPayment),
            Pay,
            Moves(Some(O::Paid), Some(P::Paid), Some(E::Held)),
        ),
        (
            "pay without escrow",
            ready_plain,
            Pay,
            Moves(Some(O::Paid), Some(P::Paid), None),
        ),
        ("pay an expired order", ready(O::Expired), Pay, OrderClosed),
        ("pay twice", held(O::Paid), Pay, InvalidState),
        (
            "mismatch",
            ready(O::PendingPayment),
            RefuseMismatch,
            Moves(Some(O::Cancelled), Some(P::Failed), None),
        ),
        (
            "mismatch, order gone",
            ready(O::Expired),
            RefuseMismatch,
            Moves(None, Some(P::Failed), None),
        ),
        (
            "late",
            ready(O::Expired),
            RefuseLate,
            Moves(None, Some(P::Cancelled), None),
        ),
        (
            "gateway failed",
            ready(O::PendingPayment),
            Fail,
            Moves(None, Some(P::Failed), None),
        ),
        ("fail a paid one", held(O::Paid), Fail, InvalidState),
        (
            "cancel unpaid",
            ready(O::PendingPayment),
            CancelUnpaid,
            Moves(Some(O::Cancelled), Some(P::Cancelled), None),
        ),
        (
            "cancel, no payment",
            snap(O::PendingPayment, None),
            CancelUnpaid,
            Moves(Some(O::Cancelled), None, None),
        ),
        (
            "cancel unpaid, paid",
            held(O::PendingPayment),
            CancelUnpaid,
            InvalidState,
        ),
        (
            "expire",
            ready(O::PendingPayment),
            Expire,
            Moves(Some(O::Expired), Some(P::Cancelled), None),
        ),
        ("expire a paid order", held(O::Paid), Expire, InvalidState),
        (
            "ship",
            held(O::Paid),
            Ship,
            Moves(Some(O::Shipping), None, None),
        ),
        (
            "ship while refunding",
            refunding(O::Paid),
            Ship,
            RefundInProgress,
        ),
        (
            "ship after cancel",
            snap(
                O::Cancelled,
                Some(facts(P::Cancelled, E::Returned, 10_000, 0, 0)),
            ),
            Ship,
            InvalidState,
        ),
        (
            "deliver",
            held(O::Shipping),
            Deliver,
            Moves(Some(O::Delivered), None, None),
        ),
        ("deliver unshipped", held(O::Paid), Deliver, InvalidState),
        (
            "dispute",
            held(O::Delivered),
            Dispute,
            Moves(Some(O::Disputed), None, None),
        ),
        (
            "dispute before shipment",
            held(O::Paid),
            Dispute,
            InvalidState,
        ),
        ("dispute after release", released, Dispute, InvalidState),
        (
            "buyer confirms",
            held(O::Delivered),
            Release { by: Party::Buyer },
            Moves(Some(O::Confirmed), None, Some(E::Released)),
        ),
        (
            "buyer confirms in transit",
            held(O::Shipping),
            Release { by: Party::Buyer },
            Moves(Some(O::Confirmed), None, Some(E::Released)),
        ),
        (
            "confirm while refunding",
            refunding(O::Delivered),
            Release { by: Party::Buyer },
            RefundInProgress,
        ),
        (
            "auto-confirm while refunding",
            refunding(O::Delivered),
            Release { by: Party::System },
            RefundInProgress,
        ),
        (
            "auto-confirm in transit",
            held(O::Shipping),
            Release { by: Party::System },
            InvalidState,
        ),
        (
            "buyer confirms a dispute",
            held(O::Disputed),
            Release { by: Party::Buyer },
            InvalidState,
        ),
        (
            "admin releases a dispute",
            held(O::Disputed),
            Release { by: Party::Admin },
            Moves(Some(O::Confirmed), None, Some(E::Released)),
        ),
        (
            "admin release while refunding",
            refunding(O::Disputed),
            Release { by: Party::Admin },
            RefundInProgress,
        ),
        (
            "release twice",
            released,
            Release { by: Party::Buyer },
            InvalidState,
        ),
        (
            "release before shipment",
            held(O::Paid),
            Release { by: Party::Buyer },
            InvalidState,
        ),
        (
            "seller refunds part",
            held(O::Delivered),
            refund(4_000, Party::Seller),
            Moves(None, None, None),
        ),
        (
            "refund after release",
            released,
            refund(1, Party::Seller),
            InvalidState,
        ),
        (
            "refund more than left",
            partly(O::Shipping),
            refund(6_001, Party::Seller),
            ExceedsBalance,
        ),
        (
            "refund beside an open one",
            refunding(O::Shipping),
            refund(6_001, Party::Admin),
            ExceedsBalance,
        ),
        (
            "refunds that fit",
            refunding(O::Shipping),
            refund(6_000, Party::Admin),
            Moves(None, None, None),
        ),
        (
            "buyer refunds before shipment",
            held(O::Paid),
            refund(10_000, Party::Buyer),
            Moves(None, None, None),
        ),
        (
            "buyer refunds part",
            held(O::Paid),
            refund(1_000, Party::Buyer),
            Field,
        ),
        (
            "buyer refunds after shipment",
            held(O::Shipping),
            refund(10_000, Party::Buyer),
            InvalidState,
        ),
        (
            "refund nothing",
            held(O::Paid),
            refund(0, Party::Seller),
            Field,
        ),
        (
            "refund unpaid",
            ready(O::PendingPayment),
            refund(1, Party::Seller),
            InvalidState,
        ),
        (
            "partial refund done",
            refunding(O::Delivered),
            RefundSucceeded { amount: won(4_000) },
            Moves(None, Some(P::PartiallyRefunded), None),
        ),
        (
            "cancel done",
            snap(O::Paid, Some(facts(P::Paid, E::Held, 0, 0, 10_000))),
            RefundSucceeded {
                amount: won(10_000),
            },
            Moves(Some(O::Cancelled), Some(P::Cancelled), Some(E::Returned)),
        ),
        (
            "rest refunded",
            snap(
                O::Paid,
                Some(facts(P::PartiallyRefunded, E::Held, 4_000, 0, 6_000)),
            ),
            RefundSucceeded { amount: won(6_000) },
            Moves(Some(O::Cancelled), Some(P::Refunded), Some(E::Returned)),
        ),
        (
            "refunded after shipment",
            snap(O::Disputed, Some(facts(P::Paid, E::Held, 0, 0, 10_000))),
            RefundSucceeded {
                amount: won(10_000),
            },
            Moves(Some(O::Refunded), Some(P::Refunded), Some(E::Returned)),
        ),
        (
            "settle what was not asked",
            held(O::Paid),
            RefundSucceeded { amount: won(1) },
            InvalidState,
        ),
        (
            "refund refused",
            refunding(O::Delivered),
            RefundFailed { amount: won(4_000) },
            Moves(None, None, None),
        ),
        (
            "refused twice",
            held(O::Delivered),
            RefundFailed { amount: won(4_000) },
            InvalidState,
        ),
        (
            "console refund",
            held(O::Delivered),
            RefundedAtGateway { amount: won(3_000) },
            Moves(None, Some(P::PartiallyRefunded), None),
        ),
        (
            "console refund after release",
            released,
            RefundedAtGateway { amount: won(3_000) },
            InvalidState,
        ),
    ];
    check(cases);
}

/// Plans each case and compares its outcome.
fn check(cases: Vec<(&str, Snapshot, Transition, Expect)>) {
    for (name, snapshot, transition, expected) in cases {
        let result = plan(&snapshot, transition, &rules());
        assert_eq!(outcome(&result), expected, "{name}: {result:?}");
    }
}

#[test]
fn a_release_pays_the_seller_less_fee_and_vat() {
    let snapshot = snap(
        O::Delivered,
        Some(facts(P::PartiallyRefunded, E::Held, 1_000, 0, 0)),
    );
    let plan = plan(
        &snapshot,
        Transition::Release { by: Party::Buyer },
        &rules(),
    );
    // 9 000 released: 3 % fee is 270, its 10 % VAT 27.
    assert_pays_seller(&plan, 9_000, 270, 27);
}

/// Asserts `plan` releases `gross` to the seller less `fee` and its `vat`, in its journal
/// and its settlement line.
fn assert_pays_seller(plan: &Result<Plan, Refusal>, gross: i64, fee: i64, vat: i64) {
    let Ok(plan) = plan else {
        panic!("refused: {plan:?}");
    };
    let net = gross - fee - vat;
    let line = SettlementLine {
        gross: won(gross),
        fee: won(fee),
        fee_vat: won(vat),
        net: won(net),
    };
    assert_eq!(plan.settlement, Some(line));
    let journal = plan
        .journal
        .as_ref()
        .unwrap_or_else(|| panic!("no journal"));
    assert_eq!(journal.net(Account::Escrow), -gross);
    assert_eq!(journal.net(Account::Seller(SELLER)), net);
    assert_eq!(journal.net(Account::PlatformFee), fee);
    assert_eq!(journal.net(Account::FeeVat), vat);
}
