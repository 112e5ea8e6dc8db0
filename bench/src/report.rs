//! Tables per step and the ratios against the targets.

use crate::background::SizeRounds;
use crate::load::{OpStats, Used};
use crate::service::Outbox;
use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Clone)]
pub struct OpFigures {
    pub name: String,
    pub ok: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: Vec<String>,
}

#[derive(Clone)]
pub struct StepFigures {
    pub scenario: String,
    pub db: String,
    pub step: String,
    pub ops: Vec<OpFigures>,
    pub rss: Option<f64>,
    /// CPU milliseconds the server process used per unit of work (a request; for the
    /// lifecycle, one whole lifecycle) during the measured period.
    pub cpu_ms_per_op: Option<f64>,
    /// The same for the database server process (MariaDB on this machine).
    pub db_cpu_ms_per_op: Option<f64>,
    /// The same for the harness's own process (the load generator).
    pub harness_cpu_ms_per_op: Option<f64>,
    /// Kilobytes the service and the database server wrote to storage per unit of work.
    pub written_kb_per_op: Option<f64>,
}

impl StepFigures {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &str,
        db: &str,
        step: &str,
        ops: Vec<OpStats>,
        wall: Duration,
        rss: Option<f64>,
        used: Used,
    ) -> Self {
        let secs = wall.as_secs_f64().max(1e-9);
        let units = ops
            .iter()
            .find(|o| o.name.starts_with("whole"))
            .map(|o| o.ok)
            .unwrap_or_else(|| ops.iter().map(|o| o.ok).sum());
        let per_op = |c: f64| c * 1000.0 / (units.max(1) as f64);
        Self {
            cpu_ms_per_op: used.service_cpu_secs.map(per_op),
            db_cpu_ms_per_op: used.database_cpu_secs.map(per_op),
            harness_cpu_ms_per_op: used.harness_cpu_secs.map(per_op),
            written_kb_per_op: used
                .written_bytes
                .map(|b| b / 1024.0 / (units.max(1) as f64)),
            scenario: scenario.to_string(),
            db: db.to_string(),
            step: step.to_string(),
            ops: ops
                .iter()
                .map(|o| OpFigures {
                    name: o.name.clone(),
                    ok: o.ok,
                    errors: o.errors,
                    rps: o.ok as f64 / secs,
                    p50: o.ms(0.50),
                    p90: o.ms(0.90),
                    p99: o.ms(0.99),
                    max: o.max_ms(),
                    samples: o.samples.clone(),
                })
                .collect(),
            rss,
        }
    }

    /// All operations of the step together (throughput summed; latencies of the first).
    pub fn total_rps(&self) -> f64 {
        self.ops.iter().map(|o| o.rps).sum()
    }

    pub fn op(&self, name_start: &str) -> Option<&OpFigures> {
        self.ops.iter().find(|o| o.name.starts_with(name_start))
    }

    fn rows(&self) -> String {
        let mut s = String::new();
        for o in &self.ops {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
                self.scenario,
                self.db,
                self.step,
                o.name,
                o.ok,
                o.errors,
                o.rps,
                o.p50,
                o.p90,
                o.p99,
                o.max,
                or_dash(self.rss, 1),
                or_dash(self.cpu_ms_per_op, 3),
                or_dash(self.db_cpu_ms_per_op, 3),
                or_dash(self.harness_cpu_ms_per_op, 3),
                or_dash(self.written_kb_per_op, 1),
            );
        }
        s
    }

    pub fn print(&self) {
        println!("\n## {} / {} / {}", self.scenario, self.db, self.step);
        print!("{HEADER}{}", self.rows());
        for o in &self.ops {
            for sample in &o.samples {
                println!("  error sample ({}): {}", o.name, truncate(sample, 300));
            }
        }
    }
}

/// A figure with `digits` decimals, or "-" when it was not read.
fn or_dash(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

const HEADER: &str = "| scenario | db | step | operation | ok | errors | per s | p50 ms | p90 ms | p99 ms | max ms | peak RSS MiB | server CPU ms/op | MariaDB CPU ms/op | harness CPU ms/op | written kB/op |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";

pub fn print_machine(settings: &str) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = cores();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_string))
        .unwrap_or_default();
    println!("# escrow-bench\nmachine: {cpu}, {cores} cores, {mem}\nsettings: {settings}");
}

/// The cores this process may run on: the machine's, for the CPU budgets.
fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

#[derive(Default)]
pub struct Report {
    pub steps: Vec<StepFigures>,
    pub http_ceiling: f64,
    pub db_ceiling: BTreeMap<&'static str, f64>,
    /// (db, products, "page" | "item", figures)
    pub catalogue: Vec<(&'static str, u64, &'static str, StepFigures)>,
    /// (db, products, figures) of the search step, which has no target of the issue's.
    pub search: Vec<(&'static str, u64, StepFigures)>,
    pub lifecycle: Vec<(&'static str, StepFigures)>,
    /// (db, calm catalogue, catalogue during storm, the storm's logins)
    pub storm: Vec<(&'static str, StepFigures, StepFigures, StepFigures)>,
    /// MariaDB's Com_commit and Handler_commit per lifecycle, when counted.
    pub measured_commits: Option<(f64, f64)>,
    pub commits_per_lifecycle: u32,
    /// The outbox after each lifecycle step that ran with the relay publishing to NATS.
    pub outbox: Vec<(&'static str, Outbox)>,
    /// SQLite's writer over the lifecycle step, warm-up included.
    pub grouped_commits: Option<GroupedCommits>,
    /// The PortOne sandbox's process beside each lifecycle step.
    pub gateway: Vec<Gateway>,
    /// The MariaDB server the MariaDB half ran on (`mariadb::describe`).
    pub mariadb_server: Option<String>,
    /// A smoke run (`--smoke`): its checks are printed but not judged.
    pub smoke: bool,
    /// (db, the smaller history's rounds, the larger's) of the background-work scenario.
    pub background: Vec<(&'static str, SizeRounds, SizeRounds)>,
}

/// What the PortOne sandbox, a process of its own beside the service, used in a lifecycle
/// step.
#[derive(Clone, Copy, Debug)]
pub struct Gateway {
    pub db: &'static str,
    pub cpu_ms_per_lifecycle: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl Gateway {
    pub fn sentence(&self) -> String {
        format!(
            "The PortOne sandbox's own process beside the lifecycle on {}: {} ms of CPU per lifecycle, peak RSS {} MiB.",
            self.db,
            or_dash(self.cpu_ms_per_lifecycle, 3),
            or_dash(self.peak_rss_mib, 1)
        )
    }
}

/// Transactions that queued for SQLite's writer together share a COMMIT.
#[derive(Clone, Copy, Debug)]
pub struct GroupedCommits {
    pub transactions: u64,
    pub commits: u64,
}

/// What one unit of a throughput target's work cost the processes that were measured,
/// against what the machine's cores allow per unit at the rate the target asks for.
struct Budget {
    what: String,
    /// Units per second the target needs.
    rate: f64,
    service: Option<f64>,
    database: Option<f64>,
    harness: Option<f64>,
    gateway: Option<f64>,
}

impl Budget {
    /// Milliseconds of CPU per unit that `cores` cores give at `rate`.
    fn allowed(&self, cores: usize) -> f64 {
        cores as f64 * 1000.0 / self.rate.max(1e-9)
    }

    /// The measured parts other than the service, summed.
    fn beside_service(&self) -> f64 {
        [self.database, self.harness, self.gateway]
            .iter()
            .flatten()
            .sum()
    }

    /// The measured parts, summed; None when the service's own was not read.
    fn measured(&self) -> Option<f64> {
        self.service.map(|service| service + self.beside_service())
    }

    fn row(&self, cores: usize) -> String {
        let allowed = self.allowed(cores);
        let measured = self.measured();
        format!(
            "| {} | {:.0} | {allowed:.3} | {} | {} | {} | {} | {} | {} | {:.2} |",
            self.what,
            self.rate,
            or_dash(self.service, 3),
            or_dash(self.database, 3),
            or_dash(self.harness, 3),
            or_dash(self.gateway, 3),
            or_dash(measured, 3),
            or_dash(measured.map(|m| m / allowed), 2),
            self.beside_service() / allowed,
        )
    }
}

/// The share of its ceiling each throughput target asks for.
const THROUGHPUT_SHARE: f64 = 0.5;

struct Check {
    what: String,
    value: String,
    target: String,
    pass: bool,
}

impl Report {
    /// The search step's throughput and p50 at the largest catalogue against the smallest,
    /// per database (no target: a search scans a bounded window of ids per call).
    fn search_growth(&self) -> String {
        let mut by_db: BTreeMap<&str, Vec<(u64, f64, f64)>> = BTreeMap::new();
        for (db, size, f) in &self.search {
            if let Some(o) = f.ops.first() {
                by_db.entry(db).or_default().push((*size, o.rps, o.p50));
            }
        }
        let mut md = String::new();
        for (db, mut sizes) in by_db {
            sizes.sort_by_key(|s| s.0);
            if let (Some(small), Some(big)) = (sizes.first(), sizes.last()) {
                if small.0 != big.0 {
                    let _ = writeln!(
                        md,
                        "\nSearch on {db} (no target): {:.1} per s and p50 {:.2} ms @ {}, {:.1} per s and p50 {:.2} ms @ {}; p50 {:.2}× as long.",
                        small.1, small.2, small.0, big.1, big.2, big.0, big.2 / small.2.max(1e-9)
                    );
                }
            }
        }
        md
    }

    /// Prints the ratios; true when every target passed and no step had errors.
    pub fn finish(&self, out: Option<&Path>) -> Result<bool> {
        let mut checks = Vec::new();
        let mut budgets = Vec::new();
        let http = self.http_ceiling;
        for (db, size, kind, f) in &self.catalogue {
            budgets.push(Budget {
                what: format!("catalogue {kind} @ {size} on {db}"),
                rate: THROUGHPUT_SHARE * http,
                service: f.cpu_ms_per_op,
                database: f.db_cpu_ms_per_op,
                harness: f.harness_cpu_ms_per_op,
                gateway: None,
            });
            let r = f.total_rps() / http.max(1e-9);
            checks.push(Check {
                what: format!("catalogue {kind} @ {size} on {db}: throughput / HTTP ceiling"),
                value: format!("{:.0} / {:.0} = {:.2}", f.total_rps(), http, r),
                target: format!("≥ {THROUGHPUT_SHARE:.2}"),
                pass: r >= THROUGHPUT_SHARE,
            });
        }
        let mut by_db: BTreeMap<&str, Vec<(u64, f64, f64)>> = BTreeMap::new();
        for (db, size, kind, f) in &self.catalogue {
            if *kind == "page" {
                if let Some(o) = f.ops.first() {
                    by_db.entry(db).or_default().push((*size, o.p50, o.p99));
                }
            }
        }
        for (db, mut sizes) in by_db {
            sizes.sort_by_key(|s| s.0);
            if let (Some(small), Some(big)) = (sizes.first(), sizes.last()) {
                if small.0 != big.0 {
                    let r = big.1 / small.1.max(1e-9);
                    checks.push(Check {
                        what: format!(
                            "growth on {db}: page p50 @ {} / page p50 @ {}",
                            big.0, small.0
                        ),
                        value: format!("{:.2} / {:.2} ms = {:.2}", big.1, small.1, r),
                        target: "≤ 1.5".into(),
                        pass: r <= 1.5,
                    });
                }
            }
        }
        let commits = self.commits_per_lifecycle as f64;
        for (db, f) in &self.lifecycle {
            let lps = f.op("whole").map(|o| o.rps).unwrap_or(0.0);
            let ceiling = self.db_ceiling.get(db).copied().unwrap_or(0.0);
            let r = lps * commits / ceiling.max(1e-9);
            budgets.push(Budget {
                what: format!("lifecycle on {db}"),
                rate: THROUGHPUT_SHARE * ceiling / commits.max(1.0),
                service: f.cpu_ms_per_op,
                database: f.db_cpu_ms_per_op,
                harness: f.harness_cpu_ms_per_op,
                gateway: self
                    .gateway
                    .iter()
                    .find(|g| g.db == *db)
                    .and_then(|g| g.cpu_ms_per_lifecycle),
            });
            checks.push(Check {
                what: format!("lifecycle on {db}: lifecycles/s × {commits} commits / DB ceiling"),
                value: format!("{lps:.1} × {commits} / {ceiling:.0} = {r:.2}"),
                target: format!("≥ {THROUGHPUT_SHARE:.2}"),
                pass: r >= THROUGHPUT_SHARE,
            });
            let worst = f
                .ops
                .iter()
                .filter(|o| !o.name.starts_with("whole"))
                .map(|o| (o.name.clone(), o.p99 / o.p50.max(1e-9)))
                .fold(
                    (String::new(), 0.0f64),
                    |a, b| if b.1 > a.1 { b } else { a },
                );
            checks.push(Check {
                what: format!("lifecycle on {db}: worst step p99 / p50 ({})", worst.0),
                value: format!("{:.1}", worst.1),
                target: "≤ 10".into(),
                pass: worst.1 <= 10.0,
            });
        }
        for (db, calm, stormy, storm) in &self.storm {
            let a = calm.ops.iter().map(|o| o.p99).fold(0.0, f64::max);
            let b = stormy.ops.iter().map(|o| o.p99).fold(0.0, f64::max);
            let r = b / a.max(1e-9);
            let logins = storm.total_rps();
            checks.push(Check {
                what: format!(
                    "login storm on {db}: catalogue p99 during / without ({logins:.1} logins/s)"
                ),
                value: format!("{b:.2} / {a:.2} ms = {r:.2}"),
                target: "≤ 3".into(),
                pass: r <= 3.0,
            });
        }
        for (db, small, big) in &self.background {
            if let Some((job, time, _)) = crate::background::worst(small, big).first() {
                checks.push(Check {
                    what: format!(
                        "background work on {db}: a round's time @ {} / @ {} payments, worst job ({})",
                        big.payments, small.payments, job.trim()
                    ),
                    value: format!("{time:.2}"),
                    target: "≤ 1.5".into(),
                    pass: *time <= 1.5,
                });
            }
            let calls = crate::background::worst(small, big)
                .into_iter()
                .map(|(_, _, calls)| calls)
                .fold(0.0, f64::max);
            checks.push(Check {
                what: format!(
                    "background work on {db}: gateway calls @ {} / @ {} payments, worst job",
                    big.payments, small.payments
                ),
                value: format!("{calls:.2}"),
                target: "≤ 1.5".into(),
                pass: calls <= 1.5,
            });
        }
        let mut rss: BTreeMap<(String, String), f64> = BTreeMap::new();
        for s in &self.steps {
            if s.scenario != "ceiling" {
                if let Some(r) = s.rss {
                    let e = rss.entry((s.scenario.clone(), s.db.clone())).or_insert(0.0);
                    *e = e.max(r);
                }
            }
        }
        for ((scenario, db), r) in rss {
            checks.push(Check {
                what: format!("peak RSS of the service, {scenario} on {db}"),
                value: format!("{r:.1} MiB"),
                target: "< 150 MB".into(),
                pass: r * 1.048_576 < 150.0,
            });
        }

        let mut md = String::new();
        let _ = writeln!(md, "### Figures\n\n{HEADER}");
        md.pop();
        for s in &self.steps {
            md.push_str(&s.rows());
        }
        for (db, outbox) in &self.outbox {
            let _ = writeln!(
                md,
                "\nOutbox on {db} after the lifecycle step (events relayed to NATS): {}.",
                outbox.sentence()
            );
        }
        for gateway in &self.gateway {
            let _ = writeln!(md, "\n{}", gateway.sentence());
        }
        md.push_str(&self.search_growth());
        for (db, small, big) in &self.background {
            md.push_str(&crate::background::tables(db, small, big));
        }
        if let Some(server) = &self.mariadb_server {
            let _ = writeln!(md, "\nThe MariaDB server: {server}.");
        }
        if let Some(grouped) = self.grouped_commits {
            let _ = writeln!(
                md,
                "\nSQLite's writer over the lifecycle step (warm-up included): {} transactions committed in {} COMMITs, {:.1} per COMMIT (each transaction answers only after its COMMIT synced).",
                grouped.transactions,
                grouped.commits,
                grouped.transactions as f64 / grouped.commits.max(1) as f64
            );
        }
        if let Some((com, handler)) = self.measured_commits {
            let _ = writeln!(
                md,
                "\nCommits per lifecycle: {} (counted in the code); MariaDB counted {com:.2} Com_commit and {handler:.2} Handler_commit per lifecycle.",
                self.commits_per_lifecycle
            );
        }
        md.push_str(&ratios_table(&checks, self.smoke));
        let all = checks.iter().all(|c| c.pass);
        md.push_str(&budget_table(&budgets, cores()));
        let errors: u64 = self
            .steps
            .iter()
            .flat_map(|s| s.ops.iter())
            .map(|o| o.errors)
            .sum();
        let _ = writeln!(md, "\nErrors over all steps: {errors}");
        println!("\n{md}");
        if let Some(path) = out {
            std::fs::write(path, &md)?;
        }
        Ok((all || self.smoke) && errors == 0)
    }
}

/// Why a smoke run's checks carry no verdict.
const SMOKE_NOT_JUDGED: &str =
    "Not judged: this is a smoke run (steps of about a second on tables of 1 000 and 5 000 \
     products, background work at 1 000 and 10 000 payments), which only shows that every step runs and no request fails. Its ratios say \
     nothing about the targets; a full run (`scripts/bench.sh`) judges them.";

/// The checks against the targets, each with its verdict; a smoke run's with none.
fn ratios_table(checks: &[Check], smoke: bool) -> String {
    let mut md = String::from("\n### Ratios\n\n");
    if smoke {
        let _ = writeln!(md, "{SMOKE_NOT_JUDGED}\n");
    }
    md.push_str("| check | value | target | result |\n|---|---|---|---|\n");
    for c in checks {
        let verdict = match (smoke, c.pass) {
            (true, _) => "not judged (smoke)",
            (false, true) => "PASS",
            (false, false) => "FAIL",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {verdict} |",
            c.what, c.value, c.target
        );
    }
    md
}

/// Whether each throughput target fits the machine at all: at the rate it asks for, the
/// cores give each unit of work `cores × 1000 / rate` ms of CPU, and the processes measured
/// (the kernel's work for them included) are a lower bound of what a unit costs, since
/// NATS and anything else on the machine are not counted. A unit that costs more than
/// that cannot reach the target on these cores at its present cost, however it is
/// scheduled; one whose parts beside the service alone cost more cannot reach it whatever
/// the service's own CPU.
fn budget_table(budgets: &[Budget], cores: usize) -> String {
    let mut md = String::new();
    if budgets.is_empty() || cores == 0 {
        return md;
    }
    let _ = writeln!(
        md,
        "\n### CPU budget at each throughput target's rate\n\n\
         On {cores} cores, a unit of work (a read; a whole lifecycle) may cost at most \
         {cores} × 1000 / (the rate the target needs) ms of CPU, all processes together. \
         Measured per unit: the service, the database server, the harness's generator and \
         the PortOne sandbox (a lower bound: NATS and the rest of the machine not counted).\n\n\
         | target | rate needed /s | CPU allowed ms/op | service | database server | harness | sandbox | measured | measured / allowed | beside the service / allowed |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for budget in budgets {
        let _ = writeln!(md, "{}", budget.row(cores));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pass: bool) -> Check {
        Check {
            what: "lifecycle on mariadb: lifecycles/s × 6 commits / DB ceiling".into(),
            value: "3.0 × 6 / 100 = 0.18".into(),
            target: "≥ 0.50".into(),
            pass,
        }
    }

    #[test]
    fn a_full_run_judges_every_check() {
        let table = ratios_table(&[check(true), check(false)], false);
        assert!(table.contains("| ≥ 0.50 | PASS |"), "{table}");
        assert!(table.contains("| ≥ 0.50 | FAIL |"), "{table}");
        assert!(!table.contains("Not judged"), "{table}");
    }

    #[test]
    fn a_smoke_run_says_its_checks_are_not_judged_and_prints_no_verdict() {
        let table = ratios_table(&[check(true), check(false)], true);
        assert!(table.contains(SMOKE_NOT_JUDGED), "{table}");
        assert_eq!(
            table.matches("| not judged (smoke) |").count(),
            2,
            "{table}"
        );
        assert!(!table.contains("FAIL"), "{table}");
        assert!(!table.contains("PASS"), "{table}");
    }

    #[test]
    fn a_smoke_run_passes_with_missed_targets_but_not_with_errors() -> Result<()> {
        let report = |smoke: bool, errors: u64| Report {
            smoke,
            steps: vec![StepFigures {
                scenario: "catalogue".into(),
                db: "sqlite".into(),
                step: "item @ 1000".into(),
                ops: vec![OpFigures {
                    name: "GET /products/{id}".into(),
                    ok: 10,
                    errors,
                    rps: 10.0,
                    p50: 1.0,
                    p90: 1.0,
                    p99: 1.0,
                    max: 1.0,
                    samples: Vec::new(),
                }],
                rss: Some(1000.0),
                cpu_ms_per_op: None,
                db_cpu_ms_per_op: None,
                harness_cpu_ms_per_op: None,
                written_kb_per_op: None,
            }],
            ..Report::default()
        };
        // A peak RSS of 1000 MiB misses its target.
        assert!(!report(false, 0).finish(None)?);
        assert!(report(true, 0).finish(None)?);
        assert!(!report(true, 1).finish(None)?);
        Ok(())
    }

    #[test]
    fn a_budget_is_the_cores_time_per_unit_at_the_rate_needed() {
        let lifecycle = Budget {
            what: "lifecycle on mariadb".into(),
            rate: 1000.0,
            service: Some(1.0),
            database: Some(0.5),
            harness: Some(0.25),
            gateway: Some(0.25),
        };
        assert_eq!(lifecycle.allowed(2), 2.0);
        assert_eq!(lifecycle.measured(), Some(2.0));
        assert_eq!(
            lifecycle.row(2),
            "| lifecycle on mariadb | 1000 | 2.000 | 1.000 | 0.500 | 0.250 | 0.250 | 2.000 | 1.00 | 0.50 |"
        );
        // SQLite runs inside the service: no database server, no sandbox in a read.
        let read = Budget {
            what: "catalogue item @ 10000 on sqlite".into(),
            rate: 40_000.0,
            service: Some(0.02),
            database: None,
            harness: Some(0.02),
            gateway: None,
        };
        assert_eq!(read.measured(), Some(0.04));
        assert!(read
            .row(2)
            .ends_with("| 0.050 | 0.020 | - | 0.020 | - | 0.040 | 0.80 | 0.40 |"));
        assert!(budget_table(&[read], 2).contains("2 × 1000 / (the rate"));
    }
}
