//! Seeds a database with a service's history, fast, straight into its tables (multi-row
//! INSERTs of generated numbers and ASCII text, written inline): payments released long ago,
//! with their orders, journals, settlement lines and the payouts that paid them, and the
//! outbox, webhook deliveries and idempotency keys a busy service keeps meanwhile. Then a
//! small, fixed amount of work due for the background jobs, the same at every size.

use anyhow::Result;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use std::fmt::Write;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Rows per INSERT, and INSERTs per transaction.
const BATCH: u64 = 1_000;
const PER_TX: u64 = 20;
/// Of every `SIDE_TABLE_SHARE` payments, one published event, one settled webhook delivery
/// and one idempotency key are still kept (within their retention).
const SIDE_TABLE_SHARE: u64 = 10;

/// The work due at every size: what one round of the jobs has to do.
#[derive(Debug, Clone, Copy)]
pub struct DueWork {
    /// Paid, held payments: reconciliation looks them up at the gateway.
    pub open: u64,
    /// Of the open ones, this many hold a refund intent whose request gave up.
    pub stale_refunds: u64,
    /// Unpaid orders past their time.
    pub expiring: u64,
    /// Delivered orders past their confirmation period.
    pub confirming: u64,
    /// Events not yet published (the relay) nor fanned out (webhooks).
    pub unpublished: u64,
    /// Published events, settled deliveries and idempotency keys past their retention.
    pub stale_rows: u64,
}

pub const DUE: DueWork = DueWork {
    open: 300,
    stale_refunds: 20,
    expiring: 50,
    confirming: 50,
    unpublished: 300,
    stale_rows: 300,
};

/// Where the seeded rows belong.
pub struct Parties {
    pub sellers: Vec<i64>,
    pub buyer: i64,
}

/// One connection for the whole seeding; on MariaDB without per-row foreign-key and unique
/// checks (the generated rows are consistent by construction).
async fn loader(pool: &AnyPool, mariadb: bool) -> Result<PoolConnection<Any>> {
    let mut conn = pool.acquire().await?;
    if mariadb {
        conn.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            .await?;
    }
    Ok(conn)
}

/// Inserts `rows(i)` for `i` in `range` into `into` (the INSERT's head), 1 000 rows per
/// statement and 20 statements per transaction.
async fn insert_rows(
    conn: &mut PoolConnection<Any>,
    into: &str,
    range: std::ops::Range<u64>,
    mut rows: impl FnMut(u64, &mut String),
) -> Result<()> {
    let mut next = range.start;
    while next < range.end {
        conn.execute("BEGIN").await?;
        for _ in 0..PER_TX {
            if next >= range.end {
                break;
            }
            let end = (next + BATCH).min(range.end);
            let mut sql = String::with_capacity(into.len() + 400 * BATCH as usize);
            sql.push_str(into);
            for i in next..end {
                if i > next {
                    sql.push(',');
                }
                rows(i, &mut sql);
            }
            conn.execute(sql.as_str()).await?;
            next = end;
        }
        conn.execute("COMMIT").await?;
    }
    Ok(())
}

const ORDERS: &str = "INSERT INTO orders (id, buyer_id, seller_id, status, total_amount, \
    receiver_name, receiver_phone, address, postcode, expires_at, delivered_at, \
    auto_confirm_at, created_at, updated_at) VALUES ";
const PAYMENTS: &str = "INSERT INTO payments (id, order_id, merchant_uid, imp_uid, amount, \
    released_amount, refunding_amount, status, escrow, escrow_status, pg_provider, pay_method, \
    paid_at, version, created_at, updated_at) VALUES ";
const POSTINGS: &str = "INSERT INTO ledger_postings (journal, payment_id, kind, account, \
    amount, created_at) VALUES ";
const SETTLEMENTS: &str = "INSERT INTO settlements (payment_id, seller_id, kind, \
    gross_amount, fee_amount, fee_vat_amount, net_amount, released_at, available_on) VALUES ";
const EVENTS: &str = "INSERT INTO outbox_events (event_id, event_type, order_id, payload, \
    created_at, published_at, fanned_out_at) VALUES ";
const DELIVERIES: &str = "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, \
    body, status, attempts, last_status_code, next_attempt_at, created_at, settled_at) VALUES ";
const KEYS: &str = "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, \
    status_code, created_at) VALUES ";

fn amount_of(i: u64) -> i64 {
    10_000 + (i % 50) as i64 * 1_000
}

/// `n` payments made between a year and a month ago, each confirmed, released and paid out,
/// with ids 1..=n: orders, payments, their capture and release journals, settlement lines,
/// one paid payout per seller for all of it; and a tenth as many recent published events,
/// settled webhook deliveries (to one endpoint) and idempotency keys.
pub async fn seed(pool: &AnyPool, mariadb: bool, parties: &Parties, n: u64) -> Result<Duration> {
    let started = Instant::now();
    let now = crate::service::now_millis();
    let first = now - 365 * DAY_MS;
    let step = (335 * DAY_MS) / n.max(1) as i64;
    let at = |i: u64| first + i as i64 * step;
    let seller = |i: u64| parties.sellers[i as usize % parties.sellers.len()];
    let buyer = parties.buyer;
    let mut conn = loader(pool, mariadb).await?;
    insert_rows(&mut conn, ORDERS, 0..n, |i, sql| {
        let (id, t, a) = (i + 1, at(i), amount_of(i));
        let _ = write!(
            sql,
            "({id},{buyer},{},'confirmed',{a},'Bench buyer','010-0000-0000','Seoul, bench street {i}','04524',{},{},{},{t},{})",
            seller(i),
            t + 1_800_000,
            t + 2 * DAY_MS,
            t + 9 * DAY_MS,
            t + 3 * DAY_MS
        );
    })
    .await?;
    insert_rows(&mut conn, PAYMENTS, 0..n, |i, sql| {
        let (id, t, a) = (i + 1, at(i), amount_of(i));
        let _ = write!(
            sql,
            "({id},{id},'bench-h{id}','imp_h{id}',{a},{a},0,'paid',1,'released','html5_inicis','card',{t},4,{t},{})",
            t + 3 * DAY_MS
        );
    })
    .await?;
    // Two journals of two postings each per payment: the capture and the release.
    insert_rows(&mut conn, POSTINGS, 0..n * 4, |k, sql| {
        let i = k / 4;
        let (id, t, a) = (i + 1, at(i), amount_of(i));
        let _ = match k % 4 {
            0 => write!(sql, "('h{id}-c',{id},'capture','gateway',{},{t})", -a),
            1 => write!(sql, "('h{id}-c',{id},'capture','escrow',{a},{t})"),
            2 => write!(
                sql,
                "('h{id}-r',{id},'release','escrow',{},{})",
                -a,
                t + 3 * DAY_MS
            ),
            _ => write!(
                sql,
                "('h{id}-r',{id},'release','seller:{}',{a},{})",
                seller(i),
                t + 3 * DAY_MS
            ),
        };
    })
    .await?;
    insert_rows(&mut conn, SETTLEMENTS, 0..n, |i, sql| {
        let (id, a) = (i + 1, amount_of(i));
        let _ = write!(
            sql,
            "({id},{},'release',{a},0,0,{a},{},'2000-01-01')",
            seller(i),
            at(i) + 3 * DAY_MS
        );
    })
    .await?;
    // Every seller was paid what their lines add up to.
    let mut owed = vec![0i64; parties.sellers.len()];
    for i in 0..n {
        owed[i as usize % parties.sellers.len()] += amount_of(i);
    }
    let paid_on = now - 20 * DAY_MS;
    conn.execute(format!("INSERT INTO payouts (id, min_amount, created_by, created_at) VALUES (1, 0, {buyer}, {paid_on})").as_str())
        .await?;
    for (s, (&seller, &amount)) in parties.sellers.iter().zip(&owed).enumerate() {
        if amount == 0 {
            continue;
        }
        conn.execute(
            format!(
                "INSERT INTO payout_items (payout_id, seller_id, amount, bank_code, account_number, \
                 holder, status, settled_at) VALUES (1, {seller}, {amount}, '004', '12345678901', 'Bench', 'paid', {paid_on})"
            )
            .as_str(),
        )
        .await?;
        conn.execute(
            format!(
                "{POSTINGS} ('payout-{s}',NULL,'payout','seller:{seller}',{},{paid_on}), \
                 ('payout-{s}',NULL,'payout','in_payout:{seller}',{amount},{paid_on}), \
                 ('paid-{s}',NULL,'payout_paid','in_payout:{seller}',{},{paid_on}), \
                 ('paid-{s}',NULL,'payout_paid','payouts',{amount},{paid_on})",
                -amount, -amount
            )
            .as_str(),
        )
        .await?;
    }
    // A busy service's side tables: what is kept within their retention (a day to a week).
    let kept = n / SIDE_TABLE_SHARE;
    let recent = |i: u64| now - DAY_MS / 2 + (i as i64 * (DAY_MS / 4)) / kept.max(1) as i64;
    conn.execute(
        format!(
            "INSERT INTO webhook_endpoints (id, url, event_types, secret, created_at) VALUES \
             (1, 'http://127.0.0.1:9/bench-hook', '', 'whsec_YmVuY2hiZW5jaGJlbmNoYmVuY2g=', {first})"
        )
        .as_str(),
    )
    .await?;
    insert_rows(&mut conn, EVENTS, 0..kept, |i, sql| {
        let t = recent(i);
        let _ = write!(
            sql,
            "('bench-ev-{i}','escrow.released',{},'{{\"bench\":{i}}}',{t},{},{})",
            i + 1,
            t + 50,
            t + 50
        );
    })
    .await?;
    insert_rows(&mut conn, DELIVERIES, 0..kept, |i, sql| {
        let t = recent(i);
        let _ = write!(
            sql,
            "(1,'bench-ev-{i}','escrow.released','{{\"bench\":{i}}}','succeeded',1,200,NULL,{t},{})",
            t + 100
        );
    })
    .await?;
    insert_rows(&mut conn, KEYS, 0..kept, |i, sql| {
        let _ = write!(
            sql,
            "({buyer},'bench-key-{i}','{:064}',200,{})",
            i,
            recent(i)
        );
    })
    .await?;
    // Where the periodic sweeps got to, as a service running all along would have it
    // (reconciliation's mark in seconds, the ledger check's in milliseconds).
    conn.execute(
        format!(
            "INSERT INTO sweep_marks (name, at) VALUES ('reconcile', {}), ('ledger', {})",
            (now - 60_000) / 1000,
            now - 60_000
        )
        .as_str(),
    )
    .await?;
    // The overdue check's checkpoint over these lines (ids 1..=n in a fresh table).
    let totals: Vec<String> = parties
        .sellers
        .iter()
        .zip(&owed)
        .filter(|(_, net)| **net != 0)
        .map(|(seller, net)| format!("({seller}, {net})"))
        .collect();
    if !totals.is_empty() {
        conn.execute(
            format!(
                "INSERT INTO settlement_totals (seller_id, net_amount) VALUES {}",
                totals.join(",")
            )
            .as_str(),
        )
        .await?;
        conn.execute(
            format!("INSERT INTO sweep_marks (name, at) VALUES ('settlement_totals', {n})")
                .as_str(),
        )
        .await?;
    }
    // Fresh statistics, as a server that grew to this size would have (InnoDB gathers
    // them by itself; the service never runs ANALYZE on SQLite, so neither does this).
    if mariadb {
        for table in ["orders", "payments", "ledger_postings", "settlements"] {
            conn.execute(format!("ANALYZE TABLE {table}").as_str())
                .await?;
        }
    }
    Ok(started.elapsed())
}

/// Pays `merchant_uid` at the gateway (the sandbox's buyer finishing a checkout); answers
/// its imp_uid.
async fn paid_at_gateway(
    client: &reqwest::Client,
    gateway: &str,
    merchant_uid: &str,
    amount: i64,
) -> Result<String> {
    let answer: serde_json::Value = client
        .post(format!("{gateway}/_sandbox/payments"))
        .json(&serde_json::json!({
            "merchant_uid": merchant_uid,
            "amount": amount,
            "escrow": true,
            "skip_prepare_check": true,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["imp_uid"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the sandbox answered no imp_uid: {answer}"))
}

/// The work `DUE` describes, with ids after `after` (the history's last), as the service
/// would have written it; the open and delivered payments are paid at the gateway too.
pub async fn seed_due(
    pool: &AnyPool,
    mariadb: bool,
    parties: &Parties,
    after: u64,
    gateway: &str,
) -> Result<()> {
    let client = reqwest::Client::new();
    let now = crate::service::now_millis();
    let (buyer, seller) = (parties.buyer, parties.sellers[0]);
    let amount = 10_000i64;
    let mut conn = loader(pool, mariadb).await?;
    conn.execute(
        format!(
            "INSERT INTO products (seller_id, name, description, price, stock, created_at, updated_at) \
             VALUES ({seller}, 'Bench due product', 'Ordered by the due work', {amount}, 1000000, {now}, {now})"
        )
        .as_str(),
    )
    .await?;
    let product: i64 = sqlx::query_scalar("SELECT MAX(id) FROM products")
        .fetch_one(&mut *conn)
        .await?;
    let (mut orders, mut payments, mut postings, mut extra) = (vec![], vec![], vec![], vec![]);
    let held = after + 1..after + 1 + DUE.open + DUE.confirming;
    for id in held.clone() {
        let merchant_uid = format!("bench-o{id}");
        let imp_uid = paid_at_gateway(&client, gateway, &merchant_uid, amount).await?;
        let delivered = id >= after + 1 + DUE.open;
        let paid_at = now - if delivered { 9 } else { 1 } * DAY_MS;
        let (status, delivered_at, confirm_at) = if delivered {
            (
                "delivered",
                (paid_at + DAY_MS).to_string(),
                (now - DAY_MS).to_string(),
            )
        } else {
            ("paid", "NULL".into(), "NULL".into())
        };
        orders.push(format!(
            "({id},{buyer},{seller},'{status}',{amount},'Bench buyer','010-0000-0000','Seoul','04524',{},{delivered_at},{confirm_at},{paid_at},{paid_at})",
            paid_at + 1_800_000
        ));
        let refunding = if id <= after + DUE.stale_refunds {
            amount / 2
        } else {
            0
        };
        payments.push(format!(
            "({id},{id},'{merchant_uid}','{imp_uid}',{amount},0,{refunding},'paid',1,'held','html5_inicis','card',{paid_at},1,{paid_at},{paid_at})"
        ));
        postings.push(format!(
            "('o{id}-c',{id},'capture','gateway',{},{paid_at}),('o{id}-c',{id},'capture','escrow',{amount},{paid_at})",
            -amount
        ));
        if refunding > 0 {
            // Its request gave up (a timeout, a crash) before the gateway was asked.
            extra.push(format!(
                "INSERT INTO refunds (payment_id, amount, status, reason, actor, requested_at, settle_after) \
                 VALUES ({id}, {refunding}, 'requested', 'bench', 'buyer:{buyer}', {}, {})",
                now - 120_000,
                now - 60_000
            ));
        }
    }
    let expiring = held.end..held.end + DUE.expiring;
    for id in expiring {
        let created = now - 3_600_000;
        orders.push(format!(
            "({id},{buyer},{seller},'pending_payment',{amount},'Bench buyer','010-0000-0000','Seoul','04524',{},NULL,NULL,{created},{created})",
            now - 60_000
        ));
        payments.push(format!(
            "({id},{id},'bench-x{id}',NULL,{amount},0,0,'ready',1,'pending','html5_inicis','card',NULL,0,{created},{created})"
        ));
        extra.push(format!(
            "INSERT INTO order_items (order_id, product_id, name, price, quantity) \
             VALUES ({id}, {product}, 'Bench due product', {amount}, 1)"
        ));
    }
    conn.execute("BEGIN").await?;
    for sql in [
        format!("{ORDERS}{}", orders.join(",")),
        format!("{PAYMENTS}{}", payments.join(",")),
        format!("{POSTINGS}{}", postings.join(",")),
    ] {
        conn.execute(sql.as_str()).await?;
    }
    for sql in extra {
        conn.execute(sql.as_str()).await?;
    }
    conn.execute("COMMIT").await?;
    // Events waiting for the relay and the webhook fan-out, and rows past their retention.
    let stale = now - 8 * DAY_MS;
    insert_rows(&mut conn, EVENTS, 0..DUE.unpublished, |i, sql| {
        let _ = write!(
            sql,
            "('bench-due-{i}','escrow.released',1,'{{\"due\":{i}}}',{},NULL,NULL)",
            now - 1_000
        );
    })
    .await?;
    insert_rows(&mut conn, EVENTS, 0..DUE.stale_rows, |i, sql| {
        let _ = write!(
            sql,
            "('bench-old-{i}','escrow.released',1,'{{\"old\":{i}}}',{stale},{stale},{stale})"
        );
    })
    .await?;
    insert_rows(&mut conn, DELIVERIES, 0..DUE.stale_rows, |i, sql| {
        let _ = write!(
            sql,
            "(1,'bench-old-{i}','escrow.released','{{\"old\":{i}}}','succeeded',1,200,NULL,{stale},{stale})"
        );
    })
    .await?;
    insert_rows(&mut conn, KEYS, 0..DUE.stale_rows, |i, sql| {
        let _ = write!(sql, "({buyer},'bench-old-{i}','{i:064}',200,{stale})");
    })
    .await?;
    Ok(())
}
