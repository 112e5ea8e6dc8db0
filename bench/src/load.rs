//! The closed-loop load generator: `concurrency` workers, each running its job in a loop
//! for `warmup + duration`; only operations that start after the warm-up and end before the
//! deadline are recorded, in one HDR histogram (microseconds) per named operation.

use hdrhistogram::Histogram;
use std::future::Future;
use std::time::{Duration, Instant};

/// The timing of one step.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
}

/// One worker's loop body. `run` performs one unit of work (one request, or one whole
/// lifecycle of several requests) and records each operation in `rec`.
pub trait Job: Send + 'static {
    fn run(&mut self, rec: &mut Recorder) -> impl Future<Output = ()> + Send;
}

/// Per-operation histograms and counters of one worker (merged after the step).
pub struct Recorder {
    measure_from: Instant,
    deadline: Instant,
    pub ops: Vec<OpStats>,
}

#[derive(Clone)]
pub struct OpStats {
    pub name: String,
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// The first few error messages, for the report.
    pub samples: Vec<String>,
}

impl OpStats {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            // 1 µs .. 120 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds"),
            ok: 0,
            errors: 0,
            samples: Vec::new(),
        }
    }

    fn merge(&mut self, other: &OpStats) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.hist.add(&other.hist);
        self.ok += other.ok;
        self.errors += other.errors;
        for s in &other.samples {
            if self.samples.len() < 3 {
                self.samples.push(s.clone());
            }
        }
    }

    /// A quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
}

impl Recorder {
    fn new(ops: &[&str], measure_from: Instant, deadline: Instant) -> Self {
        Self {
            measure_from,
            deadline,
            ops: ops.iter().map(|n| OpStats::new(n)).collect(),
        }
    }

    /// A recorder that records nothing (for untimed runs of a job).
    pub fn idle(ops: &[&str]) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        Self::new(ops, far, far)
    }

    /// Whether the step is over (a job checks this between its operations).
    pub fn done(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Records operation `op` that started at `started`; `Err` counts as an error.
    pub fn record<T, E: std::fmt::Display>(
        &mut self,
        op: usize,
        started: Instant,
        result: &Result<T, E>,
    ) {
        let now = Instant::now();
        if started < self.measure_from || now > self.deadline {
            return;
        }
        let stats = &mut self.ops[op];
        match result {
            Ok(_) => {
                let micros = now.duration_since(started).as_micros().max(1) as u64;
                stats.hist.saturating_record(micros);
                stats.ok += 1;
            }
            Err(err) => {
                stats.errors += 1;
                if stats.samples.len() < 3 {
                    stats.samples.push(err.to_string());
                }
            }
        }
    }
}

/// The processes whose CPU a step reads: the service, and the database server when it
/// runs on this machine (MariaDB; SQLite runs inside the service).
#[derive(Debug, Clone, Copy, Default)]
pub struct Watched {
    pub service: Option<u32>,
    pub database: Option<u32>,
    /// A process whose storage writes count but whose CPU is not reported: the harness
    /// itself, which runs the database ceiling's transactions in-process.
    pub writer: Option<u32>,
    /// The PortOne sandbox's process beside the service (CPU reported apart).
    pub gateway: Option<u32>,
}

/// What the watched processes used during the measured period: CPU seconds each, and the
/// bytes all of them wrote to storage (`write_bytes`: the WAL, the database files, the
/// checkpoints' copies; on MariaDB its redo log and tablespaces).
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    pub service_cpu_secs: Option<f64>,
    pub database_cpu_secs: Option<f64>,
    pub gateway_cpu_secs: Option<f64>,
    /// The harness's own process: the load generator (and, in the database ceiling, the
    /// driver that runs the transactions).
    pub harness_cpu_secs: Option<f64>,
    pub written_bytes: Option<f64>,
}

/// Like `run`, and also what the `watched` processes used during the measured period.
pub async fn run_watching<J: Job>(
    ops: &[&str],
    timing: Timing,
    jobs: Vec<J>,
    watched: Watched,
) -> (Vec<OpStats>, Duration, Used) {
    let pids = [
        watched.service,
        watched.database,
        watched.gateway,
        Some(std::process::id()),
    ];
    let read = move || pids.map(|pid| pid.and_then(crate::service::cpu_secs));
    let writers: Vec<u32> = [watched.service, watched.database, watched.writer]
        .into_iter()
        .flatten()
        .collect();
    let written = move || -> Option<u64> {
        if writers.is_empty() {
            return None;
        }
        writers
            .iter()
            .map(|&pid| crate::service::written_bytes(pid))
            .sum()
    };
    let watch = async {
        tokio::time::sleep(timing.warmup).await;
        let (before, written_before) = (read(), written());
        tokio::time::sleep(timing.duration).await;
        let (after, written_after) = (read(), written());
        let used = |i: usize| before[i].zip(after[i]).map(|(b, a)| a - b);
        Used {
            service_cpu_secs: used(0),
            database_cpu_secs: used(1),
            gateway_cpu_secs: used(2),
            harness_cpu_secs: used(3),
            written_bytes: written_before
                .zip(written_after)
                .map(|(b, a)| a.saturating_sub(b) as f64),
        }
    };
    let ((stats, wall), used) = tokio::join!(run(ops, timing, jobs), watch);
    (stats, wall, used)
}

/// Runs `jobs` (one per worker) for the step and returns the merged statistics per
/// operation name, and the measured wall time.
pub async fn run<J: Job>(ops: &[&str], timing: Timing, jobs: Vec<J>) -> (Vec<OpStats>, Duration) {
    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let deadline = measure_from + timing.duration;
    let mut handles = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        let mut rec = Recorder::new(ops, measure_from, deadline);
        handles.push(tokio::spawn(async move {
            while !rec.done() {
                job.run(&mut rec).await;
            }
            rec
        }));
    }
    let mut merged: Vec<OpStats> = ops.iter().map(|n| OpStats::new(n)).collect();
    for handle in handles {
        if let Ok(rec) = handle.await {
            for (m, o) in merged.iter_mut().zip(rec.ops.iter()) {
                m.merge(o);
            }
        }
    }
    (merged, timing.duration)
}
