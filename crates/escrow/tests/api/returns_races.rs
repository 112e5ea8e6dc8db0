//! Returns racing what would release or refund the same money, fired at once over many
//! rounds (`races.rs`'s harness): the buyer's return × their own confirmation, a return ×
//! the automatic confirmation due at that moment, and the seller's accept × a second accept
//! and × a partial refund, with a prompt and a slow gateway. Whichever lands first, the money
//! agrees with the gateway, and a return that was taken is never released.

use crate::escrow_support::{on_both_databases_with, EscrowApp};
use crate::money::{Finding, Payment};
use crate::races::{
    at_once, call, fast_automatic_confirmation, payment_at, released_in_time, rounds, Gateway,
    Market, Stage, Tally, AUTO_CONFIRM_AFTER, JOB_INTERVAL,
};
use crate::returns::{ask, parcel};
use crate::support::{Answer, TestApp};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

fn finding(what: &str, payment: &Payment, status: &serde_json::Value) -> Finding {
    Finding {
        what: what.to_string(),
        evidence: format!(
            "payment {}: {} / {}",
            payment.id, status["order_status"], status["escrow_status"]
        ),
    }
}

/// After a round whose return was taken: it was not released, and it ends refunded.
async fn finish_return(app: &TestApp, market: &Market, payment: &Payment) -> Vec<Finding> {
    let status = app.status(payment.id, &market.buyer.token).await;
    if status["order_status"] != "return_requested" || status["escrow_status"] != "held" {
        return vec![finding(
            "a taken return is not open and held",
            payment,
            &status,
        )];
    }
    let steps = [
        (&market.buyer, "return/shipment", parcel("8000008")),
        (&market.seller, "return/received", json!({})),
        (&market.seller, "return/accept", json!({})),
    ];
    for (by, action, body) in steps {
        let answer = app.act(Some(by), payment.id, action, body).await;
        if answer.status != 200 {
            return vec![finding(
                &format!("{action} after the race failed"),
                payment,
                &answer.body,
            )];
        }
    }
    let status = app.status(payment.id, &market.buyer.token).await;
    if status["order_status"] != "returned" || status["refunded_amount"] != payment.amount {
        return vec![finding(
            "the accepted return was not refunded",
            payment,
            &status,
        )];
    }
    vec![]
}

/// Exactly one of a return and a release may win; the other answers 409.
fn one_wins(
    payment: &Payment,
    ret: &Answer,
    other: &Answer,
    status: &serde_json::Value,
) -> Vec<Finding> {
    match (ret.status.as_u16(), other.status.as_u16()) {
        (200, 200) => vec![finding(
            "both the return and the release were taken",
            payment,
            status,
        )],
        (200, _) | (_, 200) => vec![],
        _ => vec![finding(
            "neither the return nor the release was taken",
            payment,
            status,
        )],
    }
}

async fn return_against_confirm(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("return × confirm", &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        let (ret, confirm) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.buyer, "return", ask("return", "defective")),
            call(&market.buyer, "confirm", json!({})),
        )
        .await;
        let status = app.status(payment.id, &market.buyer.token).await;
        let mut more = one_wins(&payment, &ret, &confirm, &status);
        if ret.status == 200 {
            more.extend(finish_return(&app, &market, &payment).await);
        }
        let answers = [("return", &ret), ("confirm", &confirm)];
        tally.check(&app, &market, &payment, &answers, more).await;
    }
    tally.assert_every_round_agreed();
}

/// The buyer asks for a return at the moment the automatic confirmation is due: from a
/// little before to a little after, a step further each round.
async fn return_against_automatic_confirmation(app: TestApp) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("return × automatic confirmation", &app, Gateway::Prompt);
    for round in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Shipped).await;
        app.deliver(&market.seller, payment.id).await;
        let delivered = Instant::now();
        let aim =
            AUTO_CONFIRM_AFTER - JOB_INTERVAL * 2 + Duration::from_millis(8) * (round % 8) as u32;
        tokio::time::sleep_until(delivered + aim).await;
        let ret = app
            .act(
                Some(&market.buyer),
                payment.id,
                "return",
                ask("return", "wrong_item"),
            )
            .await;
        let more = if ret.status == 200 {
            // Three periods on, the job has had its chances: still open, still held.
            tokio::time::sleep(AUTO_CONFIRM_AFTER * 3).await;
            finish_return(&app, &market, &payment).await
        } else {
            released_in_time(&app, &market, &payment).await
        };
        let answers = [("return", &ret)];
        tally.check(&app, &market, &payment, &answers, more).await;
    }
    tally.assert_every_round_agreed();
}

/// The seller's accept twice at once (a double click) or with a partial refund of their
/// own: the refund intents keep the money within what was paid.
async fn accept_against(app: TestApp, gateway: Gateway, other: &'static str) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new(&format!("return accept × {other}"), &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        for (by, action, body) in [
            (&market.buyer, "return", ask("return", "changed_mind")),
            (&market.buyer, "return/shipment", parcel("9000009")),
            (&market.seller, "return/received", json!({})),
        ] {
            app.act(Some(by), payment.id, action, body)
                .await
                .assert_status(200);
        }
        let second = match other {
            "refund" => call(
                &market.seller,
                "refund",
                json!({"reason": "일부 환불", "amount": 4_000}),
            ),
            _ => call(
                &market.seller,
                "return/accept",
                json!({"return_fee": 3_000}),
            ),
        };
        let (accept, second) = at_once(
            &app,
            gateway,
            &payment,
            call(
                &market.seller,
                "return/accept",
                json!({"return_fee": 3_000}),
            ),
            second,
        )
        .await;
        // A refund that won first leaves the accept refused; the seller accepts again.
        let status = app.status(payment.id, &market.buyer.token).await;
        let mut more = vec![];
        if status["order_status"] == "return_received" {
            let again = app
                .act(
                    Some(&market.seller),
                    payment.id,
                    "return/accept",
                    json!({"return_fee": 3_000}),
                )
                .await;
            if again.status != 200 {
                more.push(finding(
                    "the accept after the race failed",
                    &payment,
                    &again.body,
                ));
            }
        }
        let status = app.status(payment.id, &market.buyer.token).await;
        let left = payment.amount - 3_000;
        if status["order_status"] != "returned" || status["refunded_amount"] != left {
            more.push(finding(
                "the return did not end refunded less its fee",
                &payment,
                &status,
            ));
        }
        let answers = [("accept", &accept), (other, &second)];
        tally.check(&app, &market, &payment, &answers, more).await;
    }
    tally.assert_every_round_agreed();
}

on_both_databases! {
    async fn return_x_confirm(app: TestApp) {
        return_against_confirm(app, Gateway::Prompt).await
    }

    async fn return_x_confirm_slow_gateway(app: TestApp) {
        return_against_confirm(app, Gateway::Slow).await
    }

    async fn accept_x_accept_slow_gateway(app: TestApp) {
        accept_against(app, Gateway::Slow, "accept").await
    }

    async fn accept_x_refund(app: TestApp) {
        accept_against(app, Gateway::Prompt, "refund").await
    }

    async fn accept_x_refund_slow_gateway(app: TestApp) {
        accept_against(app, Gateway::Slow, "refund").await
    }
}

on_both_databases_with! { fast_automatic_confirmation =>
    async fn return_x_automatic_confirmation(app: TestApp) {
        return_against_automatic_confirmation(app).await
    }
}
