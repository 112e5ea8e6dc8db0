//! Money movements fired at the same moment, pair by pair, over many rounds (a fresh
//! payment each): refund × confirm, refund × automatic confirmation, refund × resolve,
//! refund × refund, cancel × shipment, confirm × dispute; each with a prompt gateway and
//! with one that holds every call a while, as a real gateway's hundreds of milliseconds
//! do. Whichever lands first, the money must agree with the gateway (`money.rs`). A
//! scenario plays all its rounds, then fails with what went wrong in how many of them.

use crate::escrow_support::{on_both_databases_with, EscrowApp, PATIENCE};
use crate::money::{answered, money_disagreements, Finding, Payment, Surface, Viewers};
use crate::support::{Answer, Member, TestApp};
use escrow::config::Config;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Barrier;
use tokio::time::Instant;

/// Rounds per scenario; `ESCROW_SOAK=n` plays n times as many.
pub(crate) fn rounds() -> usize {
    let soak: usize = std::env::var("ESCROW_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    12 * soak.max(1)
}

pub(crate) const PRICE: i64 = 10_000;
const PARTIAL_REFUND: i64 = 4_000;

/// How long the slow gateway holds each call: longer than our own work on either side of
/// a gateway call, so the other movement always lands inside that window.
pub(crate) const SLOW_GATEWAY: Duration = Duration::from_millis(250);

pub(crate) const AUTO_CONFIRM_AFTER: Duration = Duration::from_millis(300);
pub(crate) const JOB_INTERVAL: Duration = Duration::from_millis(20);

pub(crate) fn fast_automatic_confirmation(config: &mut Config) {
    config.auto_confirm_after = AUTO_CONFIRM_AFTER;
    config.job_interval = JOB_INTERVAL;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gateway {
    Prompt,
    Slow,
}

/// Holds every gateway call `SLOW_GATEWAY` until `prompt_gateway`.
pub(crate) async fn slow_gateway(app: &TestApp) {
    let fault = json!({"target": "api", "mode": "delay", "count": 10_000, "delay_ms": SLOW_GATEWAY.as_millis() as u64});
    app.post("/sandbox/portone/_sandbox/faults", None, fault)
        .await
        .assert_status(200);
}

pub(crate) async fn prompt_gateway(app: &TestApp) {
    app.clear_sandbox_faults().await;
}

/// The people of a scenario and the product they trade.
pub(crate) struct Market {
    pub buyer: Member,
    pub seller: Member,
    pub admin: Member,
    pub product_id: i64,
}

impl Market {
    pub async fn open(app: &TestApp) -> Self {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        let product_id = app.product(&seller, "경합 상품", PRICE, 1_000).await;
        Self {
            buyer,
            seller,
            admin,
            product_id,
        }
    }

    pub fn viewers(&self) -> Viewers<'_> {
        Viewers {
            buyer: &self.buyer.token,
            seller: &self.seller.token,
            admin: &self.admin.token,
        }
    }
}

/// How far a round's payment goes before the race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Paid,
    Shipped,
    Delivered,
    Disputed,
}

/// A fresh escrow payment of `PRICE`, taken to `stage`.
pub(crate) async fn payment_at(app: &TestApp, market: &Market, stage: Stage) -> Payment {
    let order_id = app.order(&market.buyer, market.product_id, 1).await;
    let checkout = app.checkout(&market.buyer, order_id).await;
    let imp_uid = app.pay(&market.buyer, &checkout).await;
    let id = checkout.payment_id;
    if stage >= Stage::Shipped {
        app.ship(&market.seller, id, "5550001").await;
    }
    if stage >= Stage::Delivered {
        app.deliver(&market.seller, id).await;
    }
    if stage >= Stage::Disputed {
        let dispute = json!({"reason": "상품이 설명과 다릅니다"});
        app.act(Some(&market.buyer), id, "dispute", dispute)
            .await
            .assert_status(200);
    }
    Payment {
        id,
        imp_uid,
        amount: checkout.amount,
    }
}

/// One `POST /payments/{id}/{action}`.
pub(crate) struct Call<'a> {
    by: &'a Member,
    action: &'static str,
    body: Value,
}

pub(crate) fn call<'a>(by: &'a Member, action: &'static str, body: Value) -> Call<'a> {
    Call { by, action, body }
}

fn partial_refund(amount: i64) -> Value {
    json!({"reason": "일부 환불", "amount": amount})
}

/// Sends both calls together (each waits at a barrier until the other is ready, so both
/// are in flight at once), through a slow gateway if asked; returns their answers.
pub(crate) async fn at_once(
    app: &TestApp,
    gateway: Gateway,
    payment: &Payment,
    first: Call<'_>,
    second: Call<'_>,
) -> (Answer, Answer) {
    if gateway == Gateway::Slow {
        slow_gateway(app).await;
    }
    let barrier = Barrier::new(2);
    let answers = tokio::join!(
        send_when_both_ready(app, &barrier, payment, first),
        send_when_both_ready(app, &barrier, payment, second)
    );
    prompt_gateway(app).await;
    answers
}

async fn send_when_both_ready(
    app: &TestApp,
    barrier: &Barrier,
    payment: &Payment,
    call: Call<'_>,
) -> Answer {
    barrier.wait().await;
    app.act(Some(call.by), payment.id, call.action, call.body)
        .await
}

/// What a scenario's rounds found, for the one verdict at its end.
pub(crate) struct Tally {
    scenario: String,
    rounds: usize,
    /// What went wrong → (in how many rounds, the first round's evidence).
    findings: BTreeMap<String, (usize, String)>,
    /// How the pairs were answered → in how many rounds (shows both orders happened).
    outcomes: BTreeMap<String, usize>,
}

impl Tally {
    pub fn new(scenario: &str, app: &TestApp, gateway: Gateway) -> Self {
        let database = if app.database.url.starts_with("sqlite") {
            "SQLite"
        } else {
            "MariaDB"
        };
        let gateway = match gateway {
            Gateway::Prompt => "a prompt gateway".to_string(),
            Gateway::Slow => format!("a gateway holding each call {SLOW_GATEWAY:?}"),
        };
        Self {
            scenario: format!("{scenario} on {database} with {gateway}"),
            rounds: 0,
            findings: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        }
    }

    /// Checks the money after a round (`money_disagreements`) and keeps what it found,
    /// with `more` the scenario found itself.
    pub async fn check(
        &mut self,
        app: &TestApp,
        market: &Market,
        payment: &Payment,
        answers: &[(&str, &Answer)],
        more: Vec<Finding>,
    ) {
        self.rounds += 1;
        let outcome: Vec<String> = answers
            .iter()
            .map(|(call, answer)| format!("{call} {}", answered(answer)))
            .collect();
        *self.outcomes.entry(outcome.join(", ")).or_default() += 1;
        let mut found =
            money_disagreements(&Surface::of(app), &market.viewers(), payment, answers).await;
        found.extend(more);
        let mut seen = std::collections::BTreeSet::new();
        for f in found {
            if seen.insert(f.what.clone()) {
                let entry = self
                    .findings
                    .entry(f.what)
                    .or_insert((0, format!("round {}: {}", self.rounds, f.evidence)));
                entry.0 += 1;
            }
        }
    }

    /// Fails with every kind of finding and in how many rounds it was found.
    pub fn assert_every_round_agreed(self) {
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("  {n} × {outcome}"))
            .collect();
        let summary = format!(
            "{}, {} rounds; answered:\n{}",
            self.scenario,
            self.rounds,
            outcomes.join("\n")
        );
        let findings: Vec<String> = self
            .findings
            .iter()
            .map(|(what, (n, first))| {
                format!("  {n} of {} rounds: {what}\n      {first}", self.rounds)
            })
            .collect();
        // A passing run still says how the pairs landed, to show the race was run.
        if findings.is_empty() {
            eprintln!("{summary}");
        }
        assert!(
            findings.is_empty(),
            "{summary}\nthe money did not agree:\n{}",
            findings.join("\n")
        );
    }
}

async fn refund_against_confirm(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("refund × confirm", &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        let (refund, confirm) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.seller, "refund", partial_refund(PARTIAL_REFUND)),
            call(&market.buyer, "confirm", json!({})),
        )
        .await;
        let answers = [("refund", &refund), ("confirm", &confirm)];
        tally.check(&app, &market, &payment, &answers, vec![]).await;
    }
    tally.assert_every_round_agreed();
}

/// The seller times a refund at the moment the automatic confirmation is due: from a
/// little before to a little after, a step further each round.
async fn refund_against_automatic_confirmation(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("refund × automatic confirmation", &app, gateway);
    let (earliest, step) = match gateway {
        // The refund's gateway call is short: aim at the job's ticks around the due time.
        Gateway::Prompt => (AUTO_CONFIRM_AFTER - JOB_INTERVAL, Duration::from_millis(8)),
        // The release only has to land while the gateway holds the refund.
        Gateway::Slow => (AUTO_CONFIRM_AFTER - SLOW_GATEWAY, Duration::from_millis(40)),
    };
    for round in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Shipped).await;
        app.deliver(&market.seller, payment.id).await;
        let delivered = Instant::now();
        if gateway == Gateway::Slow {
            slow_gateway(&app).await;
        }
        let aim = earliest + step * (round % 6) as u32;
        tokio::time::sleep_until(delivered + aim).await;
        let refund = app
            .act(
                Some(&market.seller),
                payment.id,
                "refund",
                partial_refund(PARTIAL_REFUND),
            )
            .await;
        prompt_gateway(&app).await;
        // Whatever the refund did, the job releases what is left.
        let released = released_in_time(&app, &market, &payment).await;
        let answers = [("refund", &refund)];
        tally
            .check(&app, &market, &payment, &answers, released)
            .await;
    }
    tally.assert_every_round_agreed();
}

/// Waits (at most `PATIENCE`) for the escrow to be released; a finding if it never is.
pub(crate) async fn released_in_time(
    app: &TestApp,
    market: &Market,
    payment: &Payment,
) -> Vec<Finding> {
    let started = Instant::now();
    loop {
        let status = app.status(payment.id, &market.buyer.token).await;
        if status["escrow_status"] == "released" {
            return vec![];
        }
        if started.elapsed() > PATIENCE {
            return vec![Finding {
                what: format!("the automatic confirmation released nothing in {PATIENCE:?}"),
                evidence: format!(
                    "payment {}: {} / {}",
                    payment.id, status["order_status"], status["escrow_status"]
                ),
            }];
        }
        tokio::time::sleep(JOB_INTERVAL).await;
    }
}

async fn refund_against_resolve(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("refund × resolve (release)", &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Disputed).await;
        let (refund, resolve) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.seller, "refund", partial_refund(PARTIAL_REFUND)),
            call(&market.admin, "resolve", json!({"outcome": "release"})),
        )
        .await;
        let answers = [("refund", &refund), ("resolve", &resolve)];
        tally.check(&app, &market, &payment, &answers, vec![]).await;
    }
    tally.assert_every_round_agreed();
}

/// Two partial refunds at once, by the seller and an admin, of `first` and `second`.
async fn refund_against_refund(app: TestApp, gateway: Gateway, first: i64, second: i64) {
    let market = Market::open(&app).await;
    let fits = if first + second <= PRICE {
        "fitting in"
    } else {
        "exceeding"
    };
    let scenario = format!("refund {first} × refund {second} ({fits} {PRICE})");
    let mut tally = Tally::new(&scenario, &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        let (by_seller, by_admin) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.seller, "refund", partial_refund(first)),
            call(&market.admin, "refund", partial_refund(second)),
        )
        .await;
        let answers = [
            ("seller's refund", &by_seller),
            ("admin's refund", &by_admin),
        ];
        tally.check(&app, &market, &payment, &answers, vec![]).await;
    }
    tally.assert_every_round_agreed();
}

async fn cancel_against_shipment(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("cancel × shipment", &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Paid).await;
        let shipment = json!({"courier": "CJGLS", "invoice_number": "5550002"});
        let (cancel, ship) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.buyer, "cancel", json!({"reason": "단순 변심"})),
            call(&market.seller, "shipment", shipment),
        )
        .await;
        let answers = [("cancel", &cancel), ("shipment", &ship)];
        tally.check(&app, &market, &payment, &answers, vec![]).await;
    }
    tally.assert_every_round_agreed();
}

async fn confirm_against_dispute(app: TestApp, gateway: Gateway) {
    let market = Market::open(&app).await;
    let mut tally = Tally::new("confirm × dispute", &app, gateway);
    for _ in 0..rounds() {
        let payment = payment_at(&app, &market, Stage::Delivered).await;
        let (confirm, dispute) = at_once(
            &app,
            gateway,
            &payment,
            call(&market.buyer, "confirm", json!({})),
            call(&market.buyer, "dispute", json!({"reason": "파손"})),
        )
        .await;
        let answers = [("confirm", &confirm), ("dispute", &dispute)];
        tally.check(&app, &market, &payment, &answers, vec![]).await;
    }
    tally.assert_every_round_agreed();
}

on_both_databases! { on_both_apis =>
    async fn refund_x_confirm(app: TestApp) {
        refund_against_confirm(app, Gateway::Prompt).await
    }

    async fn refund_x_confirm_slow_gateway(app: TestApp) {
        refund_against_confirm(app, Gateway::Slow).await
    }

    async fn refund_x_resolve(app: TestApp) {
        refund_against_resolve(app, Gateway::Prompt).await
    }

    async fn refund_x_resolve_slow_gateway(app: TestApp) {
        refund_against_resolve(app, Gateway::Slow).await
    }

    async fn refund_x_refund_exceeding(app: TestApp) {
        refund_against_refund(app, Gateway::Prompt, 6_000, 6_000).await
    }

    async fn refund_x_refund_exceeding_slow_gateway(app: TestApp) {
        refund_against_refund(app, Gateway::Slow, 6_000, 6_000).await
    }

    async fn refund_x_refund_fitting(app: TestApp) {
        refund_against_refund(app, Gateway::Prompt, 4_000, 3_000).await
    }

    async fn refund_x_refund_fitting_slow_gateway(app: TestApp) {
        refund_against_refund(app, Gateway::Slow, 4_000, 3_000).await
    }

    async fn cancel_x_shipment(app: TestApp) {
        cancel_against_shipment(app, Gateway::Prompt).await
    }

    async fn cancel_x_shipment_slow_gateway(app: TestApp) {
        cancel_against_shipment(app, Gateway::Slow).await
    }

    async fn confirm_x_dispute(app: TestApp) {
        confirm_against_dispute(app, Gateway::Prompt).await
    }

    async fn confirm_x_dispute_slow_gateway(app: TestApp) {
        confirm_against_dispute(app, Gateway::Slow).await
    }
}

on_both_databases_with! { on_both_apis, fast_automatic_confirmation =>
    async fn refund_x_automatic_confirmation(app: TestApp) {
        refund_against_automatic_confirmation(app, Gateway::Prompt).await
    }

    async fn refund_x_automatic_confirmation_slow_gateway(app: TestApp) {
        refund_against_automatic_confirmation(app, Gateway::Slow).await
    }
}
