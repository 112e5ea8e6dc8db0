//! `escrow-bench`: the load harness of the escrow service.
//!
//! It measures, in one run on one machine with one generator: the HTTP ceiling (a trivial
//! axum handler in a separate process), the database ceiling (single-row INSERT + COMMIT
//! through the service's own database layer, `escrow_store::Db`), and the service itself (catalogue reads at two table sizes, the full
//! escrow lifecycle, a login storm beside catalogue reads) on SQLite and on MariaDB, then
//! prints the ratios against the targets of the performance issue. See BENCHMARKS.md.

mod background;
mod history;
mod load;
mod mariadb;
mod report;
mod scenarios;
mod service;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use load::{OpStats, Timing, Used, Watched};
use report::{Report, StepFigures};
use scenarios::{Catalogue, InsertCommit, Lifecycle, Logins, Ping, Reads};
use service::{Backend, BenchDb, Served};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "escrow-bench",
    about = "Load harness of the escrow service",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Which database(s) to run the service on.
    #[arg(long, value_enum, default_value = "both")]
    db: DbChoice,
    /// Which scenario(s) to run, comma-separated (the ceilings always run).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    scenario: Vec<ScenarioChoice>,
    /// Measured time of each step.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time before each step.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent workers (closed loop) of each step.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Product table sizes of the catalogue scenario.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    products: Vec<u64>,
    /// Payments of history of the background-work scenario (most released long ago), the
    /// same work due at each size.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    payments: Vec<u64>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Login workers of the login storm (beside `concurrency` catalogue readers).
    #[arg(long, default_value_t = 4)]
    login_concurrency: usize,
    /// The service's connection pool (ESCROW_DB_MAX_CONNECTIONS); the DB ceiling uses the same.
    #[arg(long, default_value_t = 16)]
    db_max_connections: u32,
    /// Database commits one lifecycle makes (counted in the code, see BENCHMARKS.md).
    #[arg(long, default_value_t = 6)]
    commits_per_lifecycle: u32,
    /// Tiny sizes and ~1 s steps, to keep the harness working in CI; the targets are not
    /// judged.
    #[arg(long)]
    smoke: bool,
    /// Exit non-zero when a target fails (not judged with `--smoke`) or a step had errors.
    #[arg(long)]
    strict: bool,
    /// The escrow binary (`cargo build --release -p escrow`).
    #[arg(long, env = "ESCROW_BIN", default_value = "target/release/escrow")]
    escrow_bin: PathBuf,
    /// MariaDB server (a fresh database is created in it and dropped after).
    #[arg(
        long,
        env = "BENCH_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql_url: String,
    /// Instead of `--mysql-url`: start a private MariaDB server for the run, with this
    /// configuration file (`deploy/mariadb.cnf`), in a temporary data directory.
    #[arg(long, env = "BENCH_MARIADB_CONFIG", conflicts_with = "mysql_url")]
    mariadb_config: Option<PathBuf>,
    /// Run the service with its outbox relay publishing to this NATS server
    /// (ESCROW_NATS_URL), as in production; the lifecycle then also reports the events
    /// written and how many were left unpublished. Unset: events stay in the outbox.
    #[arg(long, env = "BENCH_NATS_URL")]
    nats_url: Option<String>,
    /// Also write the tables as Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serves the trivial handler of the HTTP ceiling (started by the harness itself).
    #[command(hide = true)]
    CeilingServer {
        #[arg(long)]
        listen: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DbChoice {
    Sqlite,
    Mysql,
    Both,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScenarioChoice {
    Catalogue,
    Lifecycle,
    LoginStorm,
    Background,
    All,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in `{s}` (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> Result<()> {
    let mut cli = Cli::parse();
    if let Some(Cmd::CeilingServer { listen }) = &cli.command {
        return service::ceiling_server(listen);
    }
    if cli.smoke {
        cli.duration = cli.duration.min(Duration::from_secs(1));
        cli.warmup = cli.warmup.min(Duration::from_millis(300));
        cli.concurrency = cli.concurrency.min(8);
        cli.login_concurrency = cli.login_concurrency.min(2);
        cli.products = vec![1_000, 5_000];
        cli.payments = vec![1_000, 10_000];
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let strict = cli.strict;
    let ok = runtime.block_on(run(cli))?;
    if strict && !ok {
        std::process::exit(1);
    }
    Ok(())
}

struct Bench {
    cli: Cli,
    timing: Timing,
    hash: String,
    report: Report,
    logs: PathBuf,
    /// The server `--mariadb-config` started, kept for the whole run.
    private_mariadb: Option<mariadb::PrivateMariaDb>,
}

async fn run(mut cli: Cli) -> Result<bool> {
    anyhow::ensure!(
        cli.escrow_bin.exists(),
        "no escrow binary at {} (cargo build --release -p escrow, or set ESCROW_BIN)",
        cli.escrow_bin.display()
    );
    let private_mariadb = match &cli.mariadb_config {
        Some(config) if cli.db != DbChoice::Sqlite => {
            let server = mariadb::PrivateMariaDb::start(config).await?;
            cli.mysql_url = server.url.clone();
            Some(server)
        }
        _ => None,
    };
    let logs = std::env::temp_dir().join(format!("escrow-bench-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let mut bench = Bench {
        timing: Timing {
            warmup: cli.warmup,
            duration: cli.duration,
        },
        hash: service::password_hash(cli.seed)?,
        report: Report {
            commits_per_lifecycle: cli.commits_per_lifecycle,
            smoke: cli.smoke,
            ..Report::default()
        },
        logs,
        cli,
        private_mariadb,
    };
    report::print_machine(&bench.cli_summary());
    if bench.cli.db != DbChoice::Sqlite {
        let server = mariadb::describe(&bench.cli.mysql_url).await?;
        println!("MariaDB server: {server}");
        bench.report.mariadb_server = Some(server);
    }
    bench.http_ceiling().await?;
    let backends: Vec<Backend> = match bench.cli.db {
        DbChoice::Sqlite => vec![Backend::Sqlite],
        DbChoice::Mysql => vec![Backend::MySql],
        DbChoice::Both => vec![Backend::Sqlite, Backend::MySql],
    };
    let sc = bench.cli.scenario.clone();
    let wants = |s: ScenarioChoice| sc.contains(&s) || sc.contains(&ScenarioChoice::All);
    for backend in backends {
        bench
            .db_ceiling(backend, false)
            .await
            .with_context(|| format!("db ceiling on {}", backend.name()))?;
        if backend == Backend::Sqlite && wants(ScenarioChoice::Lifecycle) {
            bench
                .db_ceiling(backend, true)
                .await
                .context("grouped db ceiling on sqlite")?;
        }
        if wants(ScenarioChoice::Catalogue) {
            bench
                .catalogue(backend)
                .await
                .with_context(|| format!("catalogue on {}", backend.name()))?;
        }
        if wants(ScenarioChoice::Lifecycle) {
            bench
                .lifecycle(backend)
                .await
                .with_context(|| format!("lifecycle on {}", backend.name()))?;
        }
        if wants(ScenarioChoice::LoginStorm) {
            bench
                .login_storm(backend)
                .await
                .with_context(|| format!("login storm on {}", backend.name()))?;
        }
        if wants(ScenarioChoice::Background) {
            bench
                .background(backend)
                .await
                .with_context(|| format!("background work on {}", backend.name()))?;
        }
    }
    let ok = bench.report.finish(bench.cli.out.as_deref())?;
    let _ = std::fs::remove_dir_all(&bench.logs);
    Ok(ok)
}

impl Bench {
    fn cli_summary(&self) -> String {
        format!(
            "duration {:?}, warm-up {:?}, concurrency {}, login workers {}, products {:?}, payments {:?}, seed {}, pool {}, MariaDB {}{}{}",
            self.cli.duration,
            self.cli.warmup,
            self.cli.concurrency,
            self.cli.login_concurrency,
            self.cli.products,
            self.cli.payments,
            self.cli.seed,
            self.cli.db_max_connections,
            match &self.cli.mariadb_config {
                Some(config) => format!("private, from {}", config.display()),
                None => self.cli.mysql_url.clone(),
            },
            match &self.cli.nats_url {
                Some(url) => format!(", events relayed to {url}"),
                None => String::new(),
            },
            if self.cli.smoke { ", SMOKE" } else { "" }
        )
    }

    // One row of figures has this many parts; a struct for them would only be built here.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        scenario: &str,
        db: &str,
        step: &str,
        ops: Vec<OpStats>,
        wall: Duration,
        rss: Option<f64>,
        used: Used,
    ) -> StepFigures {
        let figures = StepFigures::new(scenario, db, step, ops, wall, rss, used);
        figures.print();
        self.report.steps.push(figures.clone());
        figures
    }

    /// What a step of the service on `backend` watches: the service, and MariaDB's server.
    fn watched(&self, server: &Served, backend: Backend) -> Watched {
        Watched {
            service: Some(server.pid()),
            database: self.database_pid(backend),
            writer: None,
            gateway: server.gateway.as_ref().map(|g| g.pid()),
        }
    }

    /// MariaDB's server process when it runs on this machine (its CPU per request is part
    /// of what a read costs here; SQLite's is inside the service).
    fn database_pid(&self, backend: Backend) -> Option<u32> {
        if let (Backend::MySql, Some(server)) = (backend, &self.private_mariadb) {
            return Some(server.pid());
        }
        let url = &self.cli.mysql_url;
        let local = url.contains("@127.0.0.1") || url.contains("@localhost");
        match backend {
            Backend::MySql if local => {
                service::process_named("mariadbd").or_else(|| service::process_named("mysqld"))
            }
            _ => None,
        }
    }

    async fn http_ceiling(&mut self) -> Result<()> {
        let server = Served::ceiling().await?;
        let client = scenarios::client(self.cli.concurrency)?;
        let jobs = (0..self.cli.concurrency)
            .map(|_| Ping {
                client: client.clone(),
                url: format!("{}/ping", server.base),
            })
            .collect();
        let (ops, wall, used) = load::run_watching(
            scenarios::PING_OPS,
            self.timing,
            jobs,
            Watched {
                service: Some(server.pid()),
                database: None,
                writer: None,
                gateway: None,
            },
        )
        .await;
        let rss = server.peak_rss_mib();
        server.stop();
        let f = self.record("ceiling", "-", "HTTP ceiling", ops, wall, rss, used);
        self.report.http_ceiling = f.ops[0].rps;
        Ok(())
    }

    /// Single-row INSERT + COMMIT transactions through the service's database layer.
    /// `grouped: false` is the database ceiling of the targets: each transaction its own
    /// COMMIT. `grouped: true` (SQLite) lets them share COMMITs as the service's own
    /// transactions do; reported beside it, not used in a ratio.
    async fn db_ceiling(&mut self, backend: Backend, grouped: bool) -> Result<()> {
        let db = BenchDb::create(backend, &self.cli.mysql_url).await?;
        let result = async {
            let mut config = escrow_store::DbConfig::new(db.url.clone());
            config.max_connections = self.cli.db_max_connections;
            config.acquire_timeout = Duration::from_secs(60);
            config.group_commits = grouped;
            let service_db = escrow_store::Db::connect(&config).await?;
            sqlx::query(scenarios::CEILING_TABLE)
                .execute(service_db.pool())
                .await?;
            let jobs = (0..self.cli.concurrency)
                .map(|w| InsertCommit {
                    db: service_db.clone(),
                    worker: w as i64,
                    n: 0,
                })
                .collect();
            let watched = Watched {
                service: None,
                database: self.database_pid(backend),
                writer: Some(std::process::id()),
                gateway: None,
            };
            let (ops, wall, used) =
                load::run_watching(scenarios::INSERT_OPS, self.timing, jobs, watched).await;
            service_db.close().await;
            let step = if grouped {
                "DB ceiling, grouped COMMITs"
            } else {
                "DB ceiling"
            };
            let f = self.record("ceiling", backend.name(), step, ops, wall, None, used);
            if !grouped {
                self.report.db_ceiling.insert(backend.name(), f.ops[0].rps);
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        db.destroy().await;
        result
    }

    async fn prepared_db(
        &self,
        backend: Backend,
        sellers: usize,
        buyers: usize,
    ) -> Result<(BenchDb, service::SeededUsers)> {
        let db = BenchDb::create(backend, &self.cli.mysql_url).await?;
        service::migrate(&self.cli.escrow_bin, &db)?;
        let pool = db.pool(2).await?;
        let users = service::seed_users(&pool, &self.hash, sellers, buyers).await?;
        pool.close().await;
        Ok((db, users))
    }

    async fn seed_products(&self, db: &BenchDb, sellers: &[i64], n: u64) -> Result<()> {
        let pool = db.pool(1).await?;
        let took = service::seed_products(&pool, sellers, n, self.cli.seed).await?;
        pool.close().await;
        println!(
            "  seeded {} products on {} in {:.1} s",
            n,
            db.backend.name(),
            took.as_secs_f64()
        );
        Ok(())
    }

    async fn start(&self, db: &BenchDb, tag: &str) -> Result<Served> {
        let log = self.logs.join(format!("{}-{tag}.log", db.backend.name()));
        Served::escrow(
            &self.cli.escrow_bin,
            db,
            self.cli.db_max_connections,
            self.cli.nats_url.as_deref(),
            &log,
        )
        .await
    }

    fn catalogue_jobs(
        &self,
        base: &str,
        products: u64,
        reads: Reads,
        salt: u64,
    ) -> Result<Vec<Catalogue>> {
        let client = scenarios::client(self.cli.concurrency)?;
        Ok((0..self.cli.concurrency)
            .map(|w| {
                Catalogue::new(
                    client.clone(),
                    base,
                    products,
                    reads,
                    self.cli.seed ^ (salt << 32) ^ w as u64,
                )
            })
            .collect())
    }

    async fn catalogue(&mut self, backend: Backend) -> Result<()> {
        let (db, users) = self.prepared_db(backend, 10, 0).await?;
        let result = async {
            let sellers: Vec<i64> = users.sellers.iter().map(|s| s.0).collect();
            let mut sizes = self.cli.products.clone();
            sizes.sort_unstable();
            for size in sizes {
                self.seed_products(&db, &sellers, size).await?;
                let server = self.start(&db, &format!("catalogue-{size}")).await?;
                for (reads, name, salt) in [
                    (Reads::Page, "page", 1u64),
                    (Reads::Item, "item", 2u64),
                    (Reads::Search, "search", 5u64),
                ] {
                    let jobs = self.catalogue_jobs(&server.base, size, reads, salt)?;
                    let (mut ops, wall, used) = load::run_watching(
                        scenarios::CATALOGUE_OPS,
                        self.timing,
                        jobs,
                        self.watched(&server, backend),
                    )
                    .await;
                    ops.retain(|o| o.ok + o.errors > 0);
                    let rss = server.peak_rss_mib();
                    let f = self.record(
                        "catalogue",
                        backend.name(),
                        &format!("{name} @ {size}"),
                        ops,
                        wall,
                        rss,
                        used,
                    );
                    if reads == Reads::Search {
                        self.report.search.push((backend.name(), size, f));
                    } else {
                        self.report.catalogue.push((backend.name(), size, name, f));
                    }
                }
                server.stop();
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        db.destroy().await;
        result
    }

    async fn lifecycle(&mut self, backend: Backend) -> Result<()> {
        let c = self.cli.concurrency;
        let sellers = 4;
        let (db, users) = self.prepared_db(backend, sellers, c + 1).await?;
        let result = async {
            let seller_ids: Vec<i64> = users.sellers.iter().map(|s| s.0).collect();
            let products = if self.cli.smoke { 1_000 } else { 10_000 };
            self.seed_products(&db, &seller_ids, products).await?;
            let server = self.start(&db, "lifecycle").await?;
            let client = scenarios::client(c)?;
            let mut seller_tokens = Vec::new();
            for (_, email) in &users.sellers {
                seller_tokens.push(scenarios::login(&client, &server.base, email).await?);
            }
            let mut jobs = Vec::new();
            for (w, (_, email)) in users.buyers.iter().enumerate() {
                // Product w+1 belongs to seller w % sellers (seeded round-robin).
                jobs.push(Lifecycle {
                    client: client.clone(),
                    base: server.base.clone(),
                    gateway: server.gateway_base()?.to_string(),
                    buyer_token: scenarios::login(&client, &server.base, email).await?,
                    seller_token: seller_tokens[w % sellers].clone(),
                    product_id: w as i64 + 1,
                    worker: w,
                    n: 0,
                });
            }
            // The last buyer counts commits (MariaDB's global counters) over a few
            // lifecycles run one at a time, before the measured step.
            let mut counter = jobs.pop().context("no buyers")?;
            if backend == Backend::MySql {
                let measured = count_commits(&db, &mut counter).await;
                match measured {
                    Ok(m) => {
                        let [commit, handler, select, insert, update, delete, pings] = m.per_lifecycle;
                        println!(
                            "  MariaDB counted per lifecycle (one at a time, {} lifecycles): Com_commit {commit:.2}, Handler_commit {handler:.2}, \
                             Com_select {select:.2}, Com_insert {insert:.2}, Com_update {update:.2}, Com_delete {delete:.2}, \
                             Com_admin_commands (pings) {pings:.2}",
                            m.lifecycles
                        );
                        self.report.measured_commits = Some((commit, handler));
                    }
                    Err(err) => println!("  counting commits failed: {err:#}"),
                }
            }
            let counts_before = service::sqlite_commit_counts(&client, &server.base).await?;
            let (ops, wall, used) = load::run_watching(
                scenarios::LIFECYCLE_OPS,
                self.timing,
                jobs,
                self.watched(&server, backend),
            )
            .await;
            // Read before the service stops: what the relay had not published by the end.
            if self.cli.nats_url.is_some() {
                let outbox = service::outbox(&db).await?;
                println!("  outbox: {}", outbox.sentence());
                self.report.outbox.push((backend.name(), outbox));
            }
            let counts_after = service::sqlite_commit_counts(&client, &server.base).await?;
            if let Some(((t0, c0), (t1, c1))) = counts_before.zip(counts_after) {
                let grouped = report::GroupedCommits {
                    transactions: t1 - t0,
                    commits: c1 - c0,
                };
                println!(
                    "  SQLite's writer: {} transactions committed in {} COMMITs",
                    grouped.transactions, grouped.commits
                );
                self.report.grouped_commits = Some(grouped);
            }
            let gateway = report::Gateway {
                db: backend.name(),
                cpu_ms_per_lifecycle: used.gateway_cpu_secs.map(|secs| {
                    secs * 1000.0 / ops.last().map_or(1, |op| op.ok.max(1)) as f64
                }),
                peak_rss_mib: server.gateway.as_ref().and_then(|g| g.peak_rss_mib()),
            };
            println!("  {}", gateway.sentence());
            self.report.gateway.push(gateway);
            let rss = server.peak_rss_mib();
            server.stop();
            let f = self.record("lifecycle", backend.name(), "lifecycle", ops, wall, rss, used);
            self.report.lifecycle.push((backend.name(), f));
            Ok::<_, anyhow::Error>(())
        }
        .await;
        db.destroy().await;
        result
    }

    /// One round of each background job at the smallest and the largest `--payments` of
    /// history, back to back (see `background`).
    async fn background(&mut self, backend: Backend) -> Result<()> {
        let mut sizes = self.cli.payments.clone();
        sizes.sort_unstable();
        let (Some(&small), Some(&big)) = (sizes.first(), sizes.last()) else {
            return Ok(());
        };
        let mut rounds = Vec::new();
        for size in [small, big] {
            rounds.push(
                background::measure(&self.cli.escrow_bin, backend, &self.cli.mysql_url, size)
                    .await?,
            );
        }
        let big = rounds.pop().context("no rounds")?;
        let small = rounds.pop().context("no rounds")?;
        println!("{}", background::tables(backend.name(), &small, &big));
        self.report.background.push((backend.name(), small, big));
        Ok(())
    }

    async fn login_storm(&mut self, backend: Backend) -> Result<()> {
        let logins = self.cli.login_concurrency;
        let login_users = (logins * 4).max(4);
        let (db, users) = self.prepared_db(backend, 10, login_users).await?;
        let result = async {
            let seller_ids: Vec<i64> = users.sellers.iter().map(|s| s.0).collect();
            let products = if self.cli.smoke { 1_000 } else { 10_000 };
            self.seed_products(&db, &seller_ids, products).await?;
            let server = self.start(&db, "login-storm").await?;
            let jobs = self.catalogue_jobs(&server.base, products, Reads::Mixed, 3)?;
            let (ops, wall, used) = load::run_watching(
                scenarios::MIXED_OPS,
                self.timing,
                jobs,
                self.watched(&server, backend),
            )
            .await;
            let calm = self.record(
                "login storm",
                backend.name(),
                "catalogue, no storm",
                ops,
                wall,
                server.peak_rss_mib(),
                used,
            );
            let jobs = self.catalogue_jobs(&server.base, products, Reads::Mixed, 4)?;
            let client = scenarios::client(logins)?;
            let emails: Vec<String> = users.buyers.iter().map(|b| b.1.clone()).collect();
            let storm_jobs: Vec<Logins> = (0..logins)
                .map(|w| Logins {
                    client: client.clone(),
                    base: server.base.clone(),
                    emails: emails.clone(),
                    next: w,
                })
                .collect();
            let ((ops, wall, used), (login_ops, login_wall)) = tokio::join!(
                load::run_watching(
                    scenarios::MIXED_OPS,
                    self.timing,
                    jobs,
                    self.watched(&server, backend)
                ),
                load::run(scenarios::LOGIN_OPS, self.timing, storm_jobs)
            );
            let rss = server.peak_rss_mib();
            server.stop();
            let stormy = self.record(
                "login storm",
                backend.name(),
                "catalogue, during storm",
                ops,
                wall,
                rss,
                used,
            );
            let storm = self.record(
                "login storm",
                backend.name(),
                "the storm",
                login_ops,
                login_wall,
                rss,
                Used::default(),
            );
            self.report
                .storm
                .push((backend.name(), calm, stormy, storm));
            Ok::<_, anyhow::Error>(())
        }
        .await;
        db.destroy().await;
        result
    }
}

/// The MariaDB global status counters `count_commits` reads, in this order.
const COUNTERS: [&str; 7] = [
    "Com_commit",
    "Handler_commit",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    // COM_PING among a few other protocol commands: sqlx's pool pings connections.
    "Com_admin_commands",
];

/// What `count_commits` measured: each of `COUNTERS` per lifecycle.
struct Counted {
    lifecycles: u64,
    per_lifecycle: [f64; 7],
}

/// Runs lifecycles one at a time and reads MariaDB's global commit and statement counters
/// (`COUNTERS`) before and after, so the statements one lifecycle costs are visible.
/// Global counters: other clients of the same server add noise.
async fn count_commits(db: &BenchDb, job: &mut Lifecycle) -> Result<Counted> {
    let pool = db.pool(1).await?;
    async fn read(pool: &sqlx::AnyPool) -> Result<[f64; 7]> {
        let mut out = [0.0; 7];
        for (name, slot) in COUNTERS.iter().zip(out.iter_mut()) {
            let v: String = sqlx::query_scalar(
                "SELECT CAST(VARIABLE_VALUE AS CHAR(32)) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?",
            )
            .bind(name.to_uppercase())
            .fetch_one(pool)
            .await?;
            *slot = v.trim().parse()?;
        }
        Ok(out)
    }
    // Let the warm-up's webhooks settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = 20u64;
    let mut rec = load::Recorder::idle(scenarios::LIFECYCLE_OPS);
    let before = read(&pool).await?;
    for _ in 0..n {
        job.once(&mut rec).await.context("a lifecycle failed")?;
    }
    // The sandbox's webhook for each payment arrives asynchronously.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = read(&pool).await?;
    pool.close().await;
    // Our own counter reads are autocommit SELECTs: about 6 of them fall inside the
    // window (0.3 per lifecycle of Com_select and Handler_commit); they are left in.
    let mut per_lifecycle = [0.0; 7];
    for (i, slot) in per_lifecycle.iter_mut().enumerate() {
        *slot = (after[i] - before[i]) / n as f64;
    }
    Ok(Counted {
        lifecycles: n,
        per_lifecycle,
    })
}
