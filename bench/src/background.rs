//! Background work with history: one round of each background job (as `escrow serve` runs
//! them, on the service built by `escrow::build` against a gateway sandbox of its own) at two
//! sizes of history, the same work due at both. Its time and gateway calls must grow with
//! the work due, not with the payments ever made.

use crate::history::{self, Parties};
use crate::service::{Backend, BenchDb, Served};
use anyhow::{Context, Result};
use escrow_core::payments::Payments;
use escrow_core::{idempotency, outbox, webhooks, Db};
use escrow_store::now_millis;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

/// One job's round: how long it took, the gateway calls it made, and what it did.
#[derive(Debug, Clone)]
pub struct JobRound {
    pub job: &'static str,
    pub took: Duration,
    pub gateway_calls: i64,
    pub done: u64,
}

/// One size's rounds: the first (with the due work) and the quietest of three after it.
#[derive(Debug, Clone)]
pub struct SizeRounds {
    pub payments: u64,
    pub seeded_in: Duration,
    pub due: Vec<JobRound>,
    pub idle: Vec<JobRound>,
}

/// The gateway's REST calls so far (every route, tokens included), from the sandbox's own
/// counter.
async fn gateway_calls(client: &reqwest::Client, gateway: &str) -> Result<i64> {
    let stats: serde_json::Value = client
        .get(format!("{gateway}/_sandbox/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    stats["rest_calls"]
        .as_i64()
        .context("the sandbox's stats have no rest_calls")
}

struct Jobs {
    db: Db,
    payments: Payments,
    retention_ms: i64,
    client: reqwest::Client,
    gateway: String,
    claims: u64,
}

impl Jobs {
    async fn timed<F>(&self, job: &'static str, work: F) -> Result<JobRound>
    where
        F: Future<Output = escrow_core::AppResult<u64>>,
    {
        let before = gateway_calls(&self.client, &self.gateway).await?;
        let started = Instant::now();
        let done = work.await.with_context(|| format!("job {job}"))?;
        let took = started.elapsed();
        let after = gateway_calls(&self.client, &self.gateway).await?;
        Ok(JobRound {
            job,
            took,
            gateway_calls: after - before,
            done,
        })
    }

    /// One round of every job, in the order `escrow_core::jobs::run` runs them, then the
    /// outbox relay's and the webhook sender's reads and claims.
    async fn round(&mut self) -> Result<Vec<JobRound>> {
        let p = self.payments.clone();
        let db = self.db.clone();
        let before = now_millis().saturating_sub(self.retention_ms);
        let mut out = vec![
            self.timed("settle stale refunds", p.settle_stale_refunds())
                .await?,
            self.timed("expiry", p.expire_due()).await?,
            self.timed("automatic confirmation", p.confirm_due())
                .await?,
            self.timed("outbox sweep", outbox::sweep(&db, before))
                .await?,
            self.timed(
                "webhook delivery sweep",
                webhooks::delivery::sweep(&db, before),
            )
            .await?,
            self.timed("idempotency sweep", idempotency::sweep(&db))
                .await?,
            self.timed("reconciliation (all of it)", async {
                p.reconcile().await.map(|r| r.checked)
            })
            .await?,
            self.timed("  of which the ledger check", p.check_recent_journals())
                .await?,
            self.timed("overdue settlements", async {
                p.check_overdue().await.map(|o| o.len() as u64)
            })
            .await?,
        ];
        // The relay's database side (publishing to NATS is per event, not per payment):
        // claim and settle batches until none is left, as a round of `events::relay` does.
        self.claims += 1;
        let claim = format!("bench-relay-{}", self.claims);
        out.push(
            self.timed("outbox relay (claim, settle)", async {
                let mut relayed = 0;
                loop {
                    let events = outbox::claim(&db, &claim, 500, 30_000).await?;
                    let Some(last) = events.last().map(|e| e.id) else {
                        return Ok(relayed);
                    };
                    outbox::settle(&db, &claim, &events, Some(last)).await?;
                    relayed += events.len() as u64;
                }
            })
            .await?,
        );
        out.push(
            self.timed("webhook fan-out and due", async {
                let mut fanned = 0;
                loop {
                    let n = webhooks::delivery::fan_out(&db, Duration::ZERO).await?;
                    if n == 0 {
                        break;
                    }
                    fanned += n as u64;
                }
                webhooks::delivery::due(&db, 100).await?;
                Ok(fanned)
            })
            .await?,
        );
        Ok(out)
    }
}

/// Seeds a fresh database with `payments` payments of history and the due work, then runs
/// a round of the jobs with the work due and three more after it.
pub async fn measure(
    bin: &Path,
    backend: Backend,
    mysql_url: &str,
    payments: u64,
) -> Result<SizeRounds> {
    let db = BenchDb::create(backend, mysql_url).await?;
    let result = async {
        crate::service::migrate(bin, &db)?;
        let pool = db.pool(1).await?;
        let users = crate::service::seed_users(&pool, "x", 20, 1).await?;
        let parties = Parties {
            sellers: users.sellers.iter().map(|s| s.0).collect(),
            buyer: users.buyers[0].0,
        };
        let mariadb = backend == Backend::MySql;
        let seeded_in = history::seed(&pool, mariadb, &parties, payments).await?;
        println!(
            "  seeded {payments} payments of history on {} in {:.1} s",
            backend.name(),
            seeded_in.as_secs_f64()
        );
        let gateway = Served::sandbox(bin).await?;
        let mut config = escrow::config::Config::for_database(&db.url);
        config.portone_api_url = Some(gateway.base.clone());
        let app = escrow::build(&config, "127.0.0.1:0".parse()?).await?;
        let mut jobs = Jobs {
            db: app.state.db.clone(),
            payments: app.state.payments.clone(),
            retention_ms: i64::try_from(app.jobs.outbox_retention.as_millis())?,
            client: reqwest::Client::new(),
            gateway: gateway.base.clone(),
            claims: 0,
        };
        // A round before the work is due warms the caches, as a running service's are;
        // then the seeding's dirty pages are written out (InnoDB's, then the system's), so
        // that the measured round does not compete with their write-back.
        jobs.round().await?;
        history::seed_due(&pool, mariadb, &parties, payments, &gateway.base).await?;
        if mariadb {
            // A server where this user may not set globals is measured as it is.
            if let Err(err) = flush_dirty_pages(&pool).await {
                println!("  InnoDB's dirty pages not flushed first: {err:#}");
            }
        }
        pool.close().await;
        let synced = std::process::Command::new("sync").status();
        anyhow::ensure!(synced.is_ok_and(|s| s.success()), "sync failed");
        let due = jobs.round().await?;
        let mut idle = jobs.round().await?;
        for _ in 0..2 {
            for (best, next) in idle.iter_mut().zip(jobs.round().await?) {
                if next.took < best.took {
                    *best = next;
                }
            }
        }
        jobs.db.close().await;
        gateway.stop();
        Ok::<_, anyhow::Error>(SizeRounds {
            payments,
            seeded_in,
            due,
            idle,
        })
    }
    .await;
    db.destroy().await;
    result
}

/// Has InnoDB write out its dirty pages (at most two minutes), then restores its setting.
async fn flush_dirty_pages(pool: &sqlx::AnyPool) -> Result<()> {
    let setting: f64 = sqlx::query_scalar("SELECT CAST(@@innodb_max_dirty_pages_pct AS DOUBLE)")
        .fetch_one(pool)
        .await?;
    sqlx::query("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        .execute(pool)
        .await?;
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        let dirty: String = sqlx::query_scalar(
            "SELECT CAST(VARIABLE_VALUE AS CHAR(32)) FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'",
        )
        .fetch_one(pool)
        .await?;
        if dirty.trim().parse::<u64>().unwrap_or(0) < 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sqlx::query(&format!(
        "SET GLOBAL innodb_max_dirty_pages_pct = {setting}"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// Below this, a round's time counts as this much in the ratios: a round that short is flat
/// whatever a scheduler's hiccup makes of its ratio.
const TIME_FLOOR: Duration = Duration::from_millis(5);

/// The ratio of the larger size's figure to the smaller's.
fn ratio(big: f64, small: f64) -> f64 {
    big / small.max(1e-9)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Per job of `small` and `big`: time per round at each, their ratio (floored), gateway
/// calls at each; one table for the round with the work due, one for the rounds after.
pub fn tables(db: &str, small: &SizeRounds, big: &SizeRounds) -> String {
    use std::fmt::Write;
    let mut md = String::new();
    for (title, pick) in [
        (
            "the round with the work due",
            (|s: &SizeRounds| s.due.clone()) as fn(&SizeRounds) -> Vec<JobRound>,
        ),
        ("a round with nothing due (best of 3)", |s| s.idle.clone()),
    ] {
        let _ = writeln!(
            md,
            "\nBackground work on {db}, {title}: {} vs {} payments of history (seeded in {:.1} s and {:.1} s)\n\n\
             | job | done | time @ {} | time @ {} | ratio | gateway calls @ {} | @ {} |\n|---|---|---|---|---|---|---|",
            small.payments,
            big.payments,
            small.seeded_in.as_secs_f64(),
            big.seeded_in.as_secs_f64(),
            small.payments,
            big.payments,
            small.payments,
            big.payments,
        );
        for (a, b) in pick(small).iter().zip(pick(big)) {
            let r = ratio(ms(b.took.max(TIME_FLOOR)), ms(a.took.max(TIME_FLOOR)));
            let _ = writeln!(
                md,
                "| {} | {} / {} | {:.1} ms | {:.1} ms | {r:.2} | {} | {} |",
                a.job,
                a.done,
                b.done,
                ms(a.took),
                ms(b.took),
                a.gateway_calls,
                b.gateway_calls
            );
        }
    }
    md
}

/// Per job: the time ratio (floored) and the gateway calls' ratio of the round with the
/// work due, worst first: (job, time ratio, calls ratio).
pub fn worst(small: &SizeRounds, big: &SizeRounds) -> Vec<(&'static str, f64, f64)> {
    let mut out: Vec<_> = small
        .due
        .iter()
        .zip(&big.due)
        .chain(small.idle.iter().zip(&big.idle))
        .map(|(a, b)| {
            (
                a.job,
                ratio(ms(b.took.max(TIME_FLOOR)), ms(a.took.max(TIME_FLOOR))),
                ratio(b.gateway_calls as f64, a.gateway_calls.max(1) as f64),
            )
        })
        .collect();
    out.sort_by(|x, y| y.1.total_cmp(&x.1));
    out
}
