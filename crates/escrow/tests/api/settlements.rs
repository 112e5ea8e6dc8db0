//! Seller settlements and payouts: lines and their dates, balances from the ledger, bank
//! accounts, payout batches (made once under concurrency, paid or failed), chargebacks and
//! negative balances, a chargeback racing a batch. Every scenario ends with the books balanced and the ledger's seller
//! accounts equal to the sellers' balances.

use crate::escrow_support::{on_both_databases_with, EscrowApp};
use crate::support::{gauge_after, Answer, Api, Backend, Member, TestApp, TestDatabase};
use escrow::config::Config;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Released money is available the same day; a 2.5 % fee and its 10 % VAT.
fn same_day(config: &mut Config) {
    config.fee_bps = 250;
    config.settlement_delay = 0;
}

/// A fee whose shares rarely come out even: 3.33 %, and 10 % VAT on it.
fn awkward_fee(config: &mut Config) {
    config.fee_bps = 333;
    config.settlement_delay = 0;
}

/// One business day, and the next twelve calendar days are holidays.
fn holidays_ahead(config: &mut Config) {
    config.settlement_delay = 1;
    config.holidays = escrow::config::Holidays(next_days(1..=12));
}

/// Korean dates `range` days after today.
fn next_days(range: std::ops::RangeInclusive<i64>) -> BTreeSet<time::Date> {
    range
        .map(|days| korean_today() + time::Duration::days(days))
        .collect()
}

fn korean_today() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+9))
        .date()
}

fn ymd(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Paid, shipped, delivered and confirmed: released to the seller.
async fn released(app: &TestApp, buyer: &Member, seller: &Member, price: i64) -> i64 {
    let paid = app.paid_order(buyer, seller, price, 1).await;
    app.ship(seller, paid.payment_id, "1000000001").await;
    app.deliver(seller, paid.payment_id).await;
    app.confirm(buyer, paid.payment_id).await;
    paid.payment_id
}

async fn settlements(app: &TestApp, seller: &Member) -> Value {
    app.get("/settlements", Some(&seller.token))
        .await
        .assert_status(200)
        .clone()
}

async fn balance(app: &TestApp, seller: &Member) -> (i64, i64, i64, i64) {
    let body = settlements(app, seller).await;
    let b = &body["balance"];
    let field = |name: &str| {
        b[name]
            .as_i64()
            .unwrap_or_else(|| panic!("no {name}: {body:#}"))
    };
    (
        field("pending"),
        field("available"),
        field("in_payout"),
        field("paid_out"),
    )
}

async fn bank_account(app: &TestApp, seller: &Member, number: &str) {
    let answer = app
        .put(
            "/sellers/me/bank-account",
            Some(&seller.token),
            json!({"bank_code": "004", "account_number": number, "holder": "김판매"}),
        )
        .await;
    assert_eq!(answer.assert_status(200)["bank_name"], "KB국민은행");
}

async fn create_payout(app: &TestApp, admin: &Member, body: Value) -> Answer {
    app.post("/admin/payouts", Some(&admin.token), body).await
}

/// The books balance, and each seller's ledger account holds their pending and available
/// money; their `in_payout` account what is batched.
async fn assert_books(app: &TestApp, admin: &Member, sellers: &[&Member]) {
    let ledger = app.assert_ledger_balanced(admin).await;
    for seller in sellers {
        let (pending, available, in_payout, _) = balance(app, seller).await;
        let account = |name: String| ledger["accounts"][&name].as_i64().unwrap_or(0);
        assert_eq!(
            account(format!("seller:{}", seller.id)),
            pending + available,
            "seller {}: {ledger:#}",
            seller.id
        );
        assert_eq!(
            account(format!("in_payout:{}", seller.id)),
            in_payout,
            "{ledger:#}"
        );
    }
}

on_both_databases_with! { on_both_apis, same_day =>
    async fn lines_carry_the_fee_and_are_paged_newest_first(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        // Amounts whose fee and VAT round down: 2.5 % of 10 001 is 250.025, its VAT 25.0.
        let prices = [10_001, 33_333, 7_777, 100_000, 1_239];
        let mut payments = Vec::new();
        for price in prices {
            payments.push(released(&app, &buyer, &seller, price).await);
        }
        let today = ymd(korean_today());
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/settlements?limit=2&cursor={c}"),
                None => "/settlements?limit=2".to_string(),
            };
            let page = app.get(&path, Some(&seller.token)).await.assert_status(200).clone();
            for line in page["items"].as_array().unwrap() {
                seen.push(line.clone());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let ids: Vec<i64> = seen.iter().map(|l| l["payment_id"].as_i64().unwrap()).collect();
        let newest_first: Vec<i64> = payments.iter().rev().copied().collect();
        assert_eq!(ids, newest_first);
        let mut net_total = 0;
        for (line, price) in seen.iter().zip(prices.iter().rev()) {
            let fee = price * 250 / 10_000;
            let vat = fee * 1_000 / 10_000;
            assert_eq!(
                (&line["kind"], line["gross_amount"].as_i64(), line["fee_amount"].as_i64(), line["fee_vat_amount"].as_i64(), line["net_amount"].as_i64()),
                (&json!("release"), Some(*price), Some(fee), Some(vat), Some(price - fee - vat)),
                "{line:#}"
            );
            assert_eq!(line["available_on"], today.as_str());
            net_total += price - fee - vat;
        }
        let body = settlements(&app, &seller).await;
        assert_eq!(body["total_net"], net_total);
        assert_eq!(balance(&app, &seller).await, (0, net_total, 0, 0));
        app.get("/settlements?limit=0", Some(&seller.token)).await.assert_problem(422, "validation_failed");
        app.get("/settlements?cursor=nonsense", Some(&seller.token)).await.assert_problem(422, "validation_failed");
        assert_books(&app, &admin, &[&seller]).await;
    }

    async fn a_batch_pays_available_balances_and_a_failed_item_returns(app: TestApp) {
        let (buyer, admin) = (app.buyer().await, app.admin().await);
        let (paid, refused, small, no_account) =
            (app.seller().await, app.seller().await, app.seller().await, app.seller().await);
        released(&app, &buyer, &paid, 40_000).await;
        released(&app, &buyer, &paid, 20_000).await;
        released(&app, &buyer, &refused, 30_000).await;
        released(&app, &buyer, &small, 1_000).await;
        released(&app, &buyer, &no_account, 50_000).await;
        bank_account(&app, &paid, "110-123-456789").await;
        bank_account(&app, &refused, "1002-345-678901").await;
        bank_account(&app, &small, "3333-01-2345678").await;

        // 60 000 less 1 500 fee and 150 VAT; 30 000 less 750 and 75; 1 000 less 25 and 2.
        let batch = create_payout(&app, &admin, json!({"min_amount": 5_000})).await;
        let batch = batch.assert_status(201).clone();
        assert_eq!(batch["status"], "created");
        let items: Vec<(i64, i64)> = batch["items"].as_array().unwrap().iter()
            .map(|i| (i["seller_id"].as_i64().unwrap(), i["amount"].as_i64().unwrap())).collect();
        assert_eq!(items, vec![(paid.id, 58_350), (refused.id, 29_175)], "{batch:#}");
        assert_eq!(batch["total"], 58_350 + 29_175);
        assert_eq!(batch["items"][0]["account_number"], "110123456789");
        let payout_id = batch["payout_id"].as_i64().unwrap();
        // Batched money is neither available nor paid out.
        assert_eq!(balance(&app, &paid).await, (0, 0, 58_350, 0));
        assert_eq!(balance(&app, &small).await, (0, 973, 0, 0));
        assert_books(&app, &admin, &[&paid, &refused, &small, &no_account]).await;

        let file = app.client.get(format!("{}/admin/payouts/{payout_id}/transfer.csv", app.base))
            .bearer_auth(&admin.token).send().await.unwrap();
        assert_eq!(file.status().as_u16(), 200);
        assert_eq!(file.headers()["content-type"], "text/csv; charset=utf-8");
        let text = file.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, vec![
            "bank_code,account_number,holder,amount,memo".to_string(),
            format!("004,110123456789,김판매,58350,정산 {payout_id}"),
            format!("004,1002345678901,김판매,29175,정산 {payout_id}"),
        ], "{text}");

        let item = |seller: &Member, outcome: &str| format!("/admin/payouts/{payout_id}/items/{}/{outcome}", seller.id);
        let after = app.post(&item(&paid, "paid"), Some(&admin.token), json!({})).await;
        assert_eq!(after.assert_status(200)["status"], "created");
        app.post(&item(&refused, "failed"), Some(&admin.token), json!({})).await.assert_problem(422, "validation_failed");
        let after = app.post(&item(&refused, "failed"), Some(&admin.token), json!({"reason": "계좌 해지"})).await;
        let after = after.assert_status(200).clone();
        assert_eq!(after["status"], "settled");
        assert_eq!(after["items"][1]["status"], "failed");
        assert_eq!(after["items"][1]["failure"], "계좌 해지");
        // Settled once: a second mark is refused.
        app.post(&item(&paid, "failed"), Some(&admin.token), json!({"reason": "x"})).await.assert_problem(409, "invalid_state");
        app.post(&item(&refused, "paid"), Some(&admin.token), json!({})).await.assert_problem(409, "invalid_state");
        app.post(&item(&small, "paid"), Some(&admin.token), json!({})).await.assert_problem(404, "not_found");
        app.post(&format!("/admin/payouts/999999/items/{}/paid", paid.id), Some(&admin.token), json!({})).await.assert_problem(404, "not_found");

        assert_eq!(balance(&app, &paid).await, (0, 0, 0, 58_350));
        assert_eq!(balance(&app, &refused).await, (0, 29_175, 0, 0));
        assert_books(&app, &admin, &[&paid, &refused, &small, &no_account]).await;

        // The failed money is paid in the next batch (the default minimum is 1 000 won).
        let next = app.post("/admin/payouts", Some(&admin.token), json!(null)).await;
        let next = next.assert_status(201).clone();
        let items: Vec<(i64, i64)> = next["items"].as_array().unwrap().iter()
            .map(|i| (i["seller_id"].as_i64().unwrap(), i["amount"].as_i64().unwrap())).collect();
        assert_eq!(items, vec![(refused.id, 29_175)], "{next:#}");
        assert_eq!(next["min_amount"], 1_000);
        create_payout(&app, &admin, json!({})).await.assert_problem(409, "invalid_state");
        create_payout(&app, &admin, json!({"min_amount": 0})).await.assert_problem(422, "validation_failed");
        let listed = app.get("/admin/payouts", Some(&admin.token)).await;
        let listed: Vec<i64> = listed.assert_status(200)["items"].as_array().unwrap().iter()
            .map(|p| p["payout_id"].as_i64().unwrap()).collect();
        assert_eq!(listed, vec![next["payout_id"].as_i64().unwrap(), payout_id]);
        assert_books(&app, &admin, &[&paid, &refused, &small, &no_account]).await;
        for (event, expected) in [("payout.created", 2), ("payout.paid", 1), ("payout.failed", 1)] {
            let count = app.count(&format!("outbox_events WHERE event_type = '{event}'")).await;
            assert_eq!(count, expected, "{event}");
        }
    }

    async fn a_chargeback_takes_back_and_is_recovered_before_the_next_payout(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        bank_account(&app, &seller, "110123456789").await;
        let first = released(&app, &buyer, &seller, 40_000).await;
        // 40 000 less 1 000 and 100.
        let batch = create_payout(&app, &admin, json!({})).await.assert_status(201).clone();
        let payout_id = batch["payout_id"].as_i64().unwrap();
        app.post(&format!("/admin/payouts/{payout_id}/items/{}/paid", seller.id), Some(&admin.token), json!({})).await.assert_status(200);

        let path = format!("/payments/{first}/chargeback");
        app.post(&path, Some(&admin.token), json!({"amount": 40_001, "reason": "카드사 취소"})).await.assert_problem(422, "validation_failed");
        app.post(&path, Some(&admin.token), json!({"amount": 0, "reason": "카드사 취소"})).await.assert_problem(422, "validation_failed");
        app.post(&path, Some(&seller.token), json!({"amount": 100, "reason": "x"})).await.assert_problem(403, "forbidden");
        let line = app.post(&path, Some(&admin.token), json!({"amount": 25_000, "reason": "카드사 취소"})).await;
        let line = line.assert_status(200).clone();
        assert_eq!((line["kind"].as_str(), line["net_amount"].as_i64()), (Some("chargeback"), Some(-25_000)), "{line:#}");
        assert_eq!(line["available_on"], ymd(korean_today()));
        assert_eq!(balance(&app, &seller).await, (0, -25_000, 0, 38_900));
        // What is left of the release bounds the next chargeback.
        app.post(&path, Some(&admin.token), json!({"amount": 15_001, "reason": "x"})).await.assert_problem(422, "validation_failed");
        create_payout(&app, &admin, json!({})).await.assert_problem(409, "invalid_state");
        let held = app.paid_order(&buyer, &seller, 5_000, 1).await;
        app.act(Some(&admin), held.payment_id, "chargeback", json!({"amount": 100, "reason": "x"})).await.assert_problem(409, "invalid_state");

        // The next release first covers the negative balance.
        released(&app, &buyer, &seller, 30_000).await;
        assert_eq!(balance(&app, &seller).await, (0, 4_175, 0, 38_900));
        let next = create_payout(&app, &admin, json!({})).await.assert_status(201).clone();
        assert_eq!(next["total"], 4_175);
        let body = settlements(&app, &seller).await;
        assert_eq!(body["items"][1]["kind"], "chargeback");
        assert_eq!(body["items"][1]["reason"], "카드사 취소");
        assert_books(&app, &admin, &[&seller]).await;
    }

    async fn a_chargeback_and_a_payout_batch_at_once_take_the_money_once(app: TestApp) {
        let (buyer, admin) = (app.buyer().await, app.admin().await);
        let mut outcomes = std::collections::BTreeMap::new();
        for round in 0..8 {
            let seller = app.seller().await;
            bank_account(&app, &seller, "110123456789").await;
            // 40 000 less 1 000 and 100: 38 900 available, of which a chargeback takes 25 000.
            let payment_id = released(&app, &buyer, &seller, 40_000).await;
            let chargeback = json!({"amount": 25_000, "reason": "카드사 취소"});
            let path = format!("/payments/{payment_id}/chargeback");
            let (charged, batch) = tokio::join!(
                app.post(&path, Some(&admin.token), chargeback),
                create_payout(&app, &admin, json!({})),
            );
            charged.assert_status(200);
            let batch = batch.assert_status(201).clone();
            let paid: i64 = batch["items"].as_array().unwrap().iter()
                .filter(|i| i["seller_id"] == seller.id)
                .map(|i| i["amount"].as_i64().unwrap())
                .sum();
            // Either the batch took it all and the chargeback left a debt, or the chargeback
            // came first and the batch took the rest: never both from the same money.
            let (_, available, in_payout, _) = balance(&app, &seller).await;
            assert!(paid == 38_900 || paid == 13_900, "round {round}: batched {paid}: {batch:#}");
            assert_eq!((in_payout, available + in_payout), (paid, 13_900), "round {round}");
            *outcomes.entry(paid).or_insert(0) += 1;
            assert_books(&app, &admin, &[&seller]).await;
        }
        eprintln!("chargeback × payout batch: batched amounts {outcomes:?}");
    }

    async fn bank_accounts_are_validated(app: TestApp) {
        let (seller, buyer) = (app.seller().await, app.buyer().await);
        app.get("/sellers/me/bank-account", Some(&seller.token)).await.assert_problem(404, "not_found");
        for (body, field) in [
            (json!({"bank_code": "999", "account_number": "123456789012", "holder": "김"}), "bank_code"),
            (json!({"bank_code": "004", "account_number": "12-34", "holder": "김"}), "account_number"),
            (json!({"bank_code": "004", "account_number": "12345678901a", "holder": "김"}), "account_number"),
            (json!({"bank_code": "004", "account_number": "123456789012", "holder": " "}), "holder"),
            (json!({"bank_code": "004", "account_number": "123456789012", "holder": "=cmd()"}), "holder"),
        ] {
            let answer = app.put("/sellers/me/bank-account", Some(&seller.token), body).await;
            answer.assert_problem(422, "validation_failed");
            assert_eq!(answer.body["errors"][0]["field"], field, "{:#}", answer.body);
        }
        app.get("/sellers/me/bank-account", Some(&seller.token)).await.assert_problem(404, "not_found");
        bank_account(&app, &seller, "110-123-456789").await;
        let changed = app.put("/sellers/me/bank-account", Some(&seller.token),
            json!({"bank_code": "090", "account_number": "3333012345678", "holder": "김판매"})).await;
        changed.assert_status(200);
        let now = app.get("/sellers/me/bank-account", Some(&seller.token)).await;
        let now = now.assert_status(200);
        assert_eq!((now["bank_code"].as_str(), now["bank_name"].as_str(), now["account_number"].as_str()),
            (Some("090"), Some("카카오뱅크"), Some("3333012345678")));
        app.put("/sellers/me/bank-account", Some(&buyer.token),
            json!({"bank_code": "004", "account_number": "123456789012", "holder": "김"})).await.assert_problem(403, "forbidden");
    }
}

on_both_databases_with! { on_both_apis, awkward_fee =>
    async fn fees_round_down_line_by_line_over_many_lines(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        bank_account(&app, &seller, "110123456789").await;
        let prices: Vec<i64> = (0..24).map(|i| 1_001 + i * 3_337 + (i % 7) * 13).collect();
        let (mut gross, mut fee, mut vat) = (0, 0, 0);
        for price in &prices {
            released(&app, &buyer, &seller, *price).await;
            let line_fee = price * 333 / 10_000;
            gross += price;
            fee += line_fee;
            vat += line_fee / 10;
        }
        let body = settlements(&app, &seller).await;
        assert_eq!(
            (body["total_gross"].as_i64(), body["total_fee"].as_i64(), body["total_fee_vat"].as_i64(), body["total_net"].as_i64()),
            (Some(gross), Some(fee), Some(vat), Some(gross - fee - vat)),
            "{body:#}"
        );
        // Rounding per line takes less than rounding the sum would.
        assert!(fee <= gross * 333 / 10_000);
        assert_eq!(balance(&app, &seller).await, (0, gross - fee - vat, 0, 0));
        let ledger = app.assert_ledger_balanced(&admin).await;
        assert_eq!(ledger["accounts"]["platform_fee"].as_i64(), Some(fee), "{ledger:#}");
        assert_eq!(ledger["accounts"]["fee_vat"].as_i64(), Some(vat), "{ledger:#}");
        let batch = create_payout(&app, &admin, json!({})).await.assert_status(201).clone();
        assert_eq!(batch["total"], gross - fee - vat);
        assert_books(&app, &admin, &[&seller]).await;
    }
}

/// Every release is overdue at once unless paid out.
fn due_at_once(config: &mut Config) {
    config.settlement_delay = 0;
    config.settlement_deadline = std::time::Duration::ZERO;
}

on_both_databases_with! { on_both_apis, due_at_once =>
    async fn money_not_paid_out_by_the_deadline_is_overdue_once(app: TestApp) {
        let (buyer, admin) = (app.buyer().await, app.admin().await);
        let (paid, waiting) = (app.seller().await, app.seller().await);
        bank_account(&app, &paid, "110123456789").await;
        let first = released(&app, &buyer, &paid, 20_000).await;
        let second = released(&app, &buyer, &paid, 10_000).await;
        let late = released(&app, &buyer, &waiting, 5_000).await;
        let overdue = |answer: Answer| -> Vec<(i64, i64)> {
            answer.assert_status(200)["items"].as_array().unwrap().iter()
                .map(|l| (l["payment_id"].as_i64().unwrap(), l["unpaid_amount"].as_i64().unwrap())).collect()
        };
        let path = "/admin/settlements/overdue";
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await), vec![(first, 20_000), (second, 10_000), (late, 5_000)]);
        app.get(path, Some(&paid.token)).await.assert_problem(403, "forbidden");

        // Batched but not paid is still overdue; paid is not.
        let batch = create_payout(&app, &admin, json!({})).await.assert_status(201).clone();
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await).len(), 3);
        let payout_id = batch["payout_id"].as_i64().unwrap();
        app.post(&format!("/admin/payouts/{payout_id}/items/{}/paid", paid.id), Some(&admin.token), json!({})).await.assert_status(200);
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await), vec![(late, 5_000)]);
        let gauge = gauge_after(&app, "escrow_settlements_overdue", 1.0, || async {
            app.get(path, Some(&admin.token)).await.assert_status(200);
        });
        assert_eq!(gauge.await, Some(1.0));
        // Announced once per line, however often it is found.
        let events = app.count("outbox_events WHERE event_type = 'settlement.overdue'").await;
        assert_eq!(events, 3);
        assert_books(&app, &admin, &[&paid, &waiting]).await;
    }

    async fn overdue_lines_are_found_across_the_totals_checkpoint(app: TestApp) {
        let (buyer, admin, seller) = (app.buyer().await, app.admin().await, app.seller().await);
        bank_account(&app, &seller, "110123456789").await;
        let first = released(&app, &buyer, &seller, 20_000).await;
        let second = released(&app, &buyer, &seller, 10_000).await;
        // Lines of an hour ago: the next check counts them into its checkpoint.
        let backdate = format!(
            "UPDATE settlements SET released_at = released_at - 3600000 WHERE payment_id IN ({first}, {second})"
        );
        app.raw_sql(&backdate, &backdate).await;
        let overdue = |answer: Answer| -> Vec<(i64, i64)> {
            answer.assert_status(200)["items"].as_array().unwrap().iter()
                .map(|l| (l["payment_id"].as_i64().unwrap(), l["unpaid_amount"].as_i64().unwrap())).collect()
        };
        let path = "/admin/settlements/overdue";
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await), vec![(first, 20_000), (second, 10_000)]);
        assert_eq!(app.count("settlement_totals").await, 1, "the checkpoint moved past both lines");
        // Read again from the checkpoint, nothing is counted twice.
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await).len(), 2);

        // Both paid out; a line after the checkpoint is what is owed.
        let batch = create_payout(&app, &admin, json!({})).await.assert_status(201).clone();
        let payout_id = batch["payout_id"].as_i64().unwrap();
        app.post(&format!("/admin/payouts/{payout_id}/items/{}/paid", seller.id), Some(&admin.token), json!({})).await.assert_status(200);
        let third = released(&app, &buyer, &seller, 5_000).await;
        assert_eq!(overdue(app.get(path, Some(&admin.token)).await), vec![(third, 5_000)]);
        assert_books(&app, &admin, &[&seller]).await;
    }
}

on_both_databases_with! { on_both_apis, holidays_ahead =>
    async fn released_money_waits_for_the_next_business_day_after_holidays(app: TestApp) {
        let (buyer, seller, admin) = (app.buyer().await, app.seller().await, app.admin().await);
        bank_account(&app, &seller, "110123456789").await;
        released(&app, &buyer, &seller, 10_000).await;
        let mut expected = korean_today() + time::Duration::days(13);
        while matches!(expected.weekday(), time::Weekday::Saturday | time::Weekday::Sunday) {
            expected += time::Duration::days(1);
        }
        let body = settlements(&app, &seller).await;
        assert_eq!(body["items"][0]["available_on"], ymd(expected), "{body:#}");
        assert_eq!(body["upcoming"], json!([{"available_on": ymd(expected), "amount": 10_000}]));
        assert_eq!(balance(&app, &seller).await, (10_000, 0, 0, 0));
        // Pending money is not paid out.
        create_payout(&app, &admin, json!({})).await.assert_problem(409, "invalid_state");
        assert_books(&app, &admin, &[&seller]).await;
    }
}

/// Two instances on one database; two admins press "pay out" at the same moment, round
/// after round: one batch each round, and nobody is paid twice. Both speak `api` to the
/// first one's sandbox.
async fn two_instances_make_one_batch(backend: Backend, api: Api) {
    let database = TestDatabase::create(backend).await;
    let alias = database.alias();
    let mut config = Config::for_database(&database.url);
    config.settlement_delay = 0;
    config.api_version = api;
    let first = TestApp::spawn_with(config.clone(), database).await;
    let face = match api {
        Api::V1 => "portone",
        Api::V2 => "portone-v2",
    };
    let mut second_config = config;
    second_config.portone_api_url = Some(format!("{}/sandbox/{face}", first.base));
    let second = TestApp::spawn_with(second_config, alias).await;
    let (buyer, seller, admin, other_admin) = (
        first.buyer().await,
        first.seller().await,
        first.admin().await,
        first.admin().await,
    );
    bank_account(&first, &seller, "110123456789").await;
    let (mut paid_out, mut returned) = (0, 0);
    for round in 0..6 {
        let price = 10_000 + round * 1_000;
        released(&first, &buyer, &seller, price).await;
        let (a, b) = tokio::join!(
            create_payout(&first, &admin, json!({})),
            create_payout(&second, &other_admin, json!({})),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: {:#} {:#}",
            a.body,
            b.body
        );
        let batch = if a.status.as_u16() == 201 {
            &a.body
        } else {
            &b.body
        };
        // A failed item's money is paid again in the next batch.
        let total = price + returned;
        assert_eq!(batch["total"], total, "{batch:#}");
        // Two admins settle the same item at once, one as paid and one as failed: one wins.
        let item = format!("/admin/payouts/{}/items/{}", batch["payout_id"], seller.id);
        let (paid_path, failed_path) = (format!("{item}/paid"), format!("{item}/failed"));
        let (paid, failed) = tokio::join!(
            first.post(&paid_path, Some(&admin.token), json!({})),
            second.post(
                &failed_path,
                Some(&other_admin.token),
                json!({"reason": "거절"})
            ),
        );
        let mut statuses = [paid.status.as_u16(), failed.status.as_u16()];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {:#} {:#}",
            paid.body,
            failed.body
        );
        if paid.status.as_u16() == 200 {
            paid_out += total;
            returned = 0;
        } else {
            returned = total;
        }
        assert_books(&first, &admin, &[&seller]).await;
    }
    let (_, available, in_payout, paid) = balance(&second, &seller).await;
    assert_eq!((available, in_payout, paid), (returned, 0, paid_out));
    // A retried request (same Idempotency-Key) answers the batch it made, and makes no other.
    released(&first, &buyer, &seller, 3_000).await;
    let key = crate::escrow_support::new_key();
    let made = first
        .post_with_key("/admin/payouts", &admin.token, &key, json!({}))
        .await;
    let again = second
        .post_with_key("/admin/payouts", &admin.token, &key, json!({}))
        .await;
    assert_eq!(
        made.assert_status(201)["payout_id"],
        again.assert_status(201)["payout_id"]
    );
    assert_eq!(made.body["total"], returned + 3_000);
    let listed = first.get("/admin/payouts", Some(&admin.token)).await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        7
    );
    assert_books(&first, &admin, &[&seller]).await;
}

on_both_backends!(on_both_apis => two_instances_make_one_batch);
