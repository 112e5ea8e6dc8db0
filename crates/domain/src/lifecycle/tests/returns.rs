//! The return and exchange cases of the lifecycle table (api.md §10), and what must hold of
//! every plan while a return is open. The exhaustive sweep in `tests.rs` includes them.

use super::sweep::{snapshots, PARTIES};
use super::*;

#[test]
fn the_return_cases() {
    use Expect::*;
    use Transition::*;
    let refunding = |order| snap(order, Some(facts(P::Paid, E::Held, 0, 0, 4_000)));
    let released = snap(
        O::Confirmed,
        Some(facts(P::Paid, E::Released, 0, 10_000, 0)),
    );
    let refund = |amount, by| RequestRefund {
        amount: won(amount),
        by,
    };
    let cases: Vec<(&str, Snapshot, Transition, Expect)> = vec![
        (
            "return requested",
            held(O::Delivered),
            RequestReturn,
            Moves(Some(O::ReturnRequested), None, None),
        ),
        (
            "return in transit",
            held(O::Shipping),
            RequestReturn,
            InvalidState,
        ),
        (
            "return after release",
            released,
            RequestReturn,
            InvalidState,
        ),
        (
            "return of a disputed order",
            held(O::Disputed),
            RequestReturn,
            InvalidState,
        ),
        (
            "return twice",
            held(O::ReturnRequested),
            RequestReturn,
            InvalidState,
        ),
        (
            "return shipped",
            held(O::ReturnRequested),
            ShipReturn,
            Moves(Some(O::ReturnShipping), None, None),
        ),
        (
            "return shipped twice",
            held(O::ReturnShipping),
            ShipReturn,
            InvalidState,
        ),
        (
            "return received",
            held(O::ReturnShipping),
            ReceiveReturn,
            Moves(Some(O::ReturnReceived), None, None),
        ),
        (
            "return received before it was sent",
            held(O::ReturnRequested),
            ReceiveReturn,
            InvalidState,
        ),
        (
            "return accepted",
            held(O::ReturnReceived),
            accept(K::Return, R::Defective, 0),
            Moves(Some(O::Returned), None, Some(E::Returned)),
        ),
        (
            "return accepted with a fee",
            held(O::ReturnReceived),
            accept(K::Return, R::ChangedMind, 3_000),
            Moves(Some(O::Returned), None, Some(E::Returned)),
        ),
        (
            "return fee for a defect",
            held(O::ReturnReceived),
            accept(K::Return, R::Defective, 3_000),
            Field,
        ),
        (
            "return fee above the limit",
            held(O::ReturnReceived),
            accept(K::Return, R::ChangedMind, 6_001),
            Field,
        ),
        (
            "return fee above what is left",
            snap(
                O::ReturnReceived,
                Some(facts(P::PartiallyRefunded, E::Held, 8_000, 0, 0)),
            ),
            accept(K::Return, R::ChangedMind, 2_001),
            Field,
        ),
        (
            "exchange fee",
            held(O::ReturnReceived),
            accept(K::Exchange, R::ChangedMind, 1_000),
            Field,
        ),
        (
            "exchange accepted",
            held(O::ReturnReceived),
            accept(K::Exchange, R::WrongItem, 0),
            Moves(Some(O::Paid), None, None),
        ),
        (
            "accepted before it arrived",
            held(O::ReturnShipping),
            accept(K::Return, R::Defective, 0),
            InvalidState,
        ),
        (
            "accepted while refunding",
            refunding(O::ReturnReceived),
            accept(K::Return, R::Defective, 0),
            RefundInProgress,
        ),
        (
            "return rejected",
            held(O::ReturnReceived),
            RejectReturn,
            Moves(Some(O::Disputed), None, None),
        ),
        (
            "return rejected before it was sent",
            held(O::ReturnRequested),
            RejectReturn,
            Moves(Some(O::Disputed), None, None),
        ),
        (
            "no return to reject",
            held(O::Delivered),
            RejectReturn,
            InvalidState,
        ),
        (
            "return lapsed",
            held(O::ReturnRequested),
            LapseReturn,
            Moves(Some(O::Delivered), None, None),
        ),
        (
            "a sent return does not lapse",
            held(O::ReturnShipping),
            LapseReturn,
            InvalidState,
        ),
        (
            "confirm during a return",
            held(O::ReturnRequested),
            Release { by: Party::Buyer },
            InvalidState,
        ),
        (
            "auto-confirm during a return",
            held(O::ReturnReceived),
            Release { by: Party::System },
            InvalidState,
        ),
        (
            "marked delivered during a return",
            held(O::ReturnRequested),
            Deliver,
            InvalidState,
        ),
        (
            "shipped during a return",
            held(O::ReturnReceived),
            Ship,
            InvalidState,
        ),
        (
            "dispute during a return",
            held(O::ReturnShipping),
            Dispute,
            InvalidState,
        ),
        (
            "seller refunds during a return",
            held(O::ReturnShipping),
            refund(10_000, Party::Seller),
            Moves(None, None, None),
        ),
        (
            "an accepted return's refund done",
            snap(O::Returned, Some(facts(P::Paid, E::Returned, 0, 0, 10_000))),
            RefundSucceeded {
                amount: won(10_000),
            },
            Moves(None, Some(P::Refunded), None),
        ),
        (
            "an accepted return's refund done, fee kept",
            snap(
                O::Returned,
                Some(facts(P::Paid, E::Returned, 0, 3_000, 7_000)),
            ),
            RefundSucceeded { amount: won(7_000) },
            Moves(None, Some(P::PartiallyRefunded), None),
        ),
        (
            "an accepted return's refund asked again",
            snap(O::Returned, Some(facts(P::Paid, E::Returned, 0, 3_000, 0))),
            refund(7_000, Party::System),
            Moves(None, None, None),
        ),
        (
            "a returned order is refunded by the service alone",
            snap(O::Returned, Some(facts(P::Paid, E::Returned, 0, 3_000, 0))),
            refund(7_000, Party::Seller),
            InvalidState,
        ),
        (
            "an accepted return's refund asked in part",
            snap(O::Returned, Some(facts(P::Paid, E::Returned, 0, 3_000, 0))),
            refund(1_000, Party::System),
            ExceedsBalance,
        ),
        (
            "an accepted return's refund asked twice",
            snap(
                O::Returned,
                Some(facts(P::Paid, E::Returned, 0, 3_000, 7_000)),
            ),
            refund(7_000, Party::System),
            RefundInProgress,
        ),
    ];
    check(cases);
}

#[test]
fn nothing_is_released_while_a_return_is_open() {
    for s in snapshots().into_iter().filter(|s| s.order.return_open()) {
        for by in PARTIES {
            let release = plan(&s, Transition::Release { by }, &rules());
            assert!(
                release.is_err(),
                "released during a return: {s:?} by {by:?}"
            );
        }
        assert!(plan(&s, Transition::Dispute, &rules()).is_err(), "{s:?}");
    }
}

#[test]
fn an_accepted_return_keeps_its_fee_as_a_release_and_reserves_the_rest() {
    let plan = plan(
        &held(O::ReturnReceived),
        accept(K::Return, R::ChangedMind, 5_000),
        &rules(),
    );
    // The fee is released as a release is: 3 % platform fee (150) and its 10 % VAT (15).
    assert_pays_seller(&plan, 5_000, 150, 15);
    let plan = plan.unwrap_or_else(|r| panic!("refused: {r:?}"));
    let after = plan.amounts.unwrap_or_else(|| panic!("no amounts"));
    assert_eq!((after.released, after.refunding), (won(5_000), won(5_000)));
    assert_eq!(plan.event, Event::ReturnAccepted);
    // No fee: nothing is released, all of it is reserved for the refund.
    let free = super::plan(
        &held(O::ReturnReceived),
        accept(K::Return, R::ChangedMind, 0),
        &rules(),
    );
    let free = free.unwrap_or_else(|r| panic!("refused: {r:?}"));
    assert_eq!((free.journal, free.settlement), (None, None));
    assert_eq!(free.amounts.map(|a| a.refunding), Some(won(10_000)));
}
