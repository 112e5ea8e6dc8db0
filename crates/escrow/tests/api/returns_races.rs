//! Returns racing what would release or refund the same money, fired at once over many
//! rounds (`races.rs`'s harness): the buyer's return × their own confirmation, a return ×
//! the automatic confirmation due at that moment, the seller's accept × a second accept
//! and × a partial refund, with a prompt and a slow gateway; and the return's own timers at
//! their deadlines: the parcel sent × the lapse, the seller's accept × acceptance by silence. Whichever lands first, the money
//! agrees with the gateway, and a return that was taken is never released.

use crate::escrow_support::{on_both_databases_with, EscrowApp};
use crate::money::{Finding, Payment};
use crate::races::{
    at_once, call, fast_automatic_confirmation, payment_at, released_in_time, rounds, Gateway,
    Market, Stage, Tally, AUTO_CONFIRM_AFTER, JOB_INTERVAL,
};
use crate::returns::{ask, parcel};
use crate::support::{Answer, TestApp};
use escrow::config::Config;
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

/// A delivered payment whose changed-mind return the seller has received.
async fn returned_to_seller(app: &TestApp, market: &Market) -> Payment {
    let payment = payment_at(app, market, Stage::Delivered).await;
    for (by, action, body) in [
        (&market.buyer, "return", ask("return", "changed_mind")),
        (&market.buyer, "return/shipment", parcel("9000009")),
        (&market.seller, "return/received", json!({})),
    ] {
        app.act(Some(by), payment.id, action, body)
            .await
            .assert_status(200);
    }
    payment
}

/// The seller accepts, keeping 3 000 won.
async fn accept_with_fee(app: &TestApp, market: &Market, payment: &Payment) -> Answer {
    let body = json!({"return_fee": 3_000});
    app.act(Some(&market.seller), payment.id, "return/accept", body)
        .await
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
        let payment = returned_to_seller(&app, &market).await;
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
            let again = accept_with_fee(&app, &market, &payment).await;
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

on_both_databases! { on_both_apis =>
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

/// The return's deadlines: 300 ms to send it back, 300 ms to inspect; jobs every 20 ms.
const RETURN_DEADLINE: Duration = Duration::from_millis(300);

fn fast_return_timers(config: &mut Config) {
    config.return_ship_within = RETURN_DEADLINE;
    config.return_inspection = RETURN_DEADLINE;
    config.job_interval = JOB_INTERVAL;
}

/// When a step aimed at a deadline is sent: from two job ticks before it to a little after.
fn aim(round: usize) -> Duration {
    RETURN_DEADLINE - JOB_INTERVAL * 2 + Duration::from_millis(8) * (round % 8) as u32
}

/// The buyer sends the parcel at the moment the return lapses: shipped, or lapsed, never both.
async fn shipment_against_lapse(app: TestApp) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("return shipment × lapse", &app, Gateway::Prompt);
    for round in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        app.act(
            Some(&market.buyer),
            payment.id,
            "return",
            ask("return", "defective"),
        )
        .await
        .assert_status(200);
        let asked = Instant::now();
        tokio::time::sleep_until(asked + aim(round)).await;
        let shipped = app
            .act(
                Some(&market.buyer),
                payment.id,
                "return/shipment",
                parcel("7700077"),
            )
            .await;
        let status = app.status(payment.id, &market.buyer.token).await;
        let (order, outcome) = (&status["order_status"], &status["return"]["outcome"]);
        let consistent = match shipped.status.as_u16() {
            200 => order == "return_shipping" && outcome.is_null(),
            _ => {
                order == "delivered"
                    && outcome == "lapsed"
                    && status["return"]["shipped_at"].is_null()
            }
        };
        let more = if consistent {
            vec![]
        } else {
            vec![finding(
                "the parcel and the lapse disagree",
                &payment,
                &status,
            )]
        };
        tally
            .check(
                &app,
                &market,
                &payment,
                &[("return/shipment", &shipped)],
                more,
            )
            .await;
    }
    tally.assert_every_round_agreed();
}

/// The seller accepts with a fee at the moment their silence counts as acceptance: one
/// acceptance, its refund once, the fee kept only if the seller's came first.
async fn accept_against_silence(app: TestApp) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new(
        "return accept × acceptance by silence",
        &app,
        Gateway::Prompt,
    );
    for round in 0..rounds() {
        let payment = returned_to_seller(&app, &market).await;
        let received = Instant::now();
        tokio::time::sleep_until(received + aim(round)).await;
        let accept = accept_with_fee(&app, &market, &payment).await;
        let status = app
            .wait_for_payment(
                payment.id,
                &market.buyer.token,
                "the return's refund",
                |s| {
                    s["order_status"] == "returned"
                        && s["refunds"]
                            .as_array()
                            .is_some_and(|r| r.iter().all(|r| r["status"] == "succeeded"))
                },
            )
            .await;
        let fee = status["return"]["return_fee"].as_i64().unwrap_or(-1);
        let (refunded, released) = (
            status["refunded_amount"].as_i64(),
            status["released_amount"].as_i64(),
        );
        let accepted_by = status["history"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["to"] == "returned"))
            .map(|h| h["actor"].clone());
        let consistent = match fee {
            3_000 => {
                (refunded, released) == (Some(payment.amount - 3_000), Some(3_000))
                    && accepted_by.as_ref().is_some_and(|a| a != "system")
            }
            0 => {
                (refunded, released) == (Some(payment.amount), Some(0))
                    && accepted_by.as_ref().is_some_and(|a| a == "system")
            }
            _ => false,
        };
        let more = if consistent {
            vec![]
        } else {
            vec![finding(
                "the acceptance and its money disagree",
                &payment,
                &status,
            )]
        };
        tally
            .check(&app, &market, &payment, &[("return/accept", &accept)], more)
            .await;
    }
    tally.assert_every_round_agreed();
}

on_both_databases_with! { on_both_apis, fast_return_timers =>
    async fn return_shipment_x_lapse(app: TestApp) {
        shipment_against_lapse(app).await
    }

    async fn return_accept_x_acceptance_by_silence(app: TestApp) {
        accept_against_silence(app).await
    }
}

on_both_databases_with! { on_both_apis, fast_automatic_confirmation =>
    async fn return_x_automatic_confirmation(app: TestApp) {
        return_against_automatic_confirmation(app).await
    }
}
