//! Fresh databases, direct seeding, and the service (or the HTTP ceiling) as a child process
//! whose peak RSS is read from `/proc/<pid>/status`.

use anyhow::{bail, Context, Result};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The service's allocator, for the generator and the ceiling server alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const PASSWORD: &str = "bench-password-123";
pub const JWT_SECRET: &str = "escrow-bench-jwt-secret-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mariadb",
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh database, removed (file) or dropped (MariaDB) by `destroy`.
pub struct BenchDb {
    pub backend: Backend,
    pub url: String,
    admin_url: String,
    name: String,
    dir: Option<PathBuf>,
}

impl BenchDb {
    pub async fn create(backend: Backend, mysql_url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench_{}_{n}", std::process::id());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("escrow-{name}"));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}/escrow.db", dir.display());
                Ok(Self {
                    backend,
                    url,
                    admin_url: String::new(),
                    name,
                    dir: Some(dir),
                })
            }
            Backend::MySql => {
                let admin_url = mysql_url.to_string();
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url)
                    .await
                    .with_context(|| format!("connecting to MariaDB at {admin_url}"))?;
                pool.execute(format!("CREATE DATABASE {name}").as_str())
                    .await?;
                pool.close().await;
                Ok(Self {
                    backend,
                    url: with_database(&admin_url, &name),
                    admin_url,
                    name,
                    dir: None,
                })
            }
        }
    }

    /// A pool on the database, with the service's own session settings.
    pub async fn pool(&self, max: u32) -> Result<AnyPool> {
        let backend = self.backend;
        let url = match backend {
            Backend::Sqlite => format!("{}?mode=rwc", self.url),
            Backend::MySql => self.url.clone(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    } else {
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(pool)
    }

    pub async fn destroy(self) {
        match self.backend {
            Backend::Sqlite => {
                if let Some(dir) = &self.dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Backend::MySql => {
                if let Ok(pool) = AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.admin_url)
                    .await
                {
                    let _ = pool
                        .execute(format!("DROP DATABASE IF EXISTS {}", self.name).as_str())
                        .await;
                    pool.close().await;
                }
            }
        }
    }
}

/// Runs `escrow migrate` on the database.
pub fn migrate(bin: &Path, db: &BenchDb) -> Result<()> {
    let status = Command::new(bin)
        .arg("migrate")
        .envs(service_env(&db.url, "127.0.0.1:0", 4))
        .env_remove("PORTONE_API_URL")
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {} migrate", bin.display()))?;
    if !status.success() {
        bail!("escrow migrate failed: {status}");
    }
    Ok(())
}

fn service_env(url: &str, listen: &str, max_conn: u32) -> Vec<(&'static str, String)> {
    vec![
        ("ESCROW_DATABASE_URL", url.to_string()),
        ("ESCROW_LISTEN", listen.to_string()),
        ("ESCROW_JWT_SECRET", JWT_SECRET.to_string()),
        ("ESCROW_LOG", "warn".to_string()),
        ("ESCROW_DB_MAX_CONNECTIONS", max_conn.to_string()),
    ]
}

/// Users made directly in the database, all with the password `PASSWORD` (hashed once).
pub struct SeededUsers {
    pub sellers: Vec<(i64, String)>,
    pub buyers: Vec<(i64, String)>,
}

/// One Argon2id hash of `PASSWORD` in the service's format, with a salt from the seed.
pub fn password_hash(seed: u64) -> Result<String> {
    let salt = SaltString::encode_b64(&seed.to_le_bytes().repeat(2))
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

pub async fn seed_users(
    pool: &AnyPool,
    hash: &str,
    sellers: usize,
    buyers: usize,
) -> Result<SeededUsers> {
    let now = now_millis();
    let mut out = SeededUsers {
        sellers: Vec::new(),
        buyers: Vec::new(),
    };
    for (role, count) in [("seller", sellers), ("buyer", buyers)] {
        for i in 0..count {
            let email = format!("{role}{i}@bench.example.kr");
            sqlx::query(
                "INSERT INTO users (email, password_hash, name, role, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&email)
            .bind(hash)
            .bind(format!("{role} {i}"))
            .bind(role)
            .bind(now)
            .bind(now)
            .execute(pool)
            .await?;
            let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
                .bind(&email)
                .fetch_one(pool)
                .await?;
            match role {
                "seller" => out.sellers.push((id, email)),
                _ => out.buyers.push((id, email)),
            }
        }
    }
    Ok(out)
}

/// Adds products until the table holds `target` rows, in multi-row INSERTs of 1 000 rows
/// (generated numbers and ASCII text only, so the values are written inline).
pub async fn seed_products(
    pool: &AnyPool,
    sellers: &[i64],
    target: u64,
    seed: u64,
) -> Result<Duration> {
    let started = Instant::now();
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(pool)
        .await?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0001 ^ have as u64);
    let now = now_millis();
    let mut next = have as u64;
    const BATCH: u64 = 1000;
    const PER_TX: u64 = 20;
    while next < target {
        let mut conn = pool.acquire().await?;
        conn.execute("BEGIN").await?;
        for _ in 0..PER_TX {
            if next >= target {
                break;
            }
            let end = (next + BATCH).min(target);
            let mut sql = String::with_capacity(200 * BATCH as usize);
            sql.push_str(
                "INSERT INTO products (seller_id, name, description, price, stock, created_at, updated_at) VALUES ",
            );
            for i in next..end {
                if i > next {
                    sql.push(',');
                }
                let seller = sellers[(i as usize) % sellers.len()];
                let price = 1_000 + rng.gen_range(0..100_000i64) * 10;
                use std::fmt::Write;
                let _ = write!(
                    sql,
                    "({seller},'Bench product {i}','A product made by the load harness, number {i}, for paging and lookups.',{price},1000000,{now},{now})"
                );
            }
            conn.execute(sql.as_str()).await?;
            next = end;
        }
        conn.execute("COMMIT").await?;
    }
    Ok(started.elapsed())
}

/// The outbox after a step: how many events were written, how many are left unpublished.
#[derive(Clone, Copy, Debug)]
pub struct Outbox {
    pub written: i64,
    pub unpublished: i64,
    /// Milliseconds from an event's transaction to its publication: p50, p99, max.
    pub lag_ms: Option<[i64; 3]>,
}

impl Outbox {
    pub fn sentence(&self) -> String {
        let lag = match self.lag_ms {
            Some([p50, p99, max]) => format!(
                "; from its transaction to JetStream's acknowledgement an event took {p50} ms at p50, {p99} ms at p99, {max} ms at most"
            ),
            None => String::new(),
        };
        format!(
            "{} events written, {} left unpublished{lag}",
            self.written, self.unpublished
        )
    }
}

/// How many events the outbox holds, how many of them are not published yet, and how long
/// the published ones took from their transaction to JetStream's acknowledgement.
pub async fn outbox(db: &BenchDb) -> Result<Outbox> {
    let pool = db.pool(1).await?;
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events")
        .fetch_one(&pool)
        .await?;
    let unpublished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events WHERE published_at IS NULL")
            .fetch_one(&pool)
            .await?;
    let mut lags: Vec<i64> = sqlx::query_scalar(
        "SELECT published_at - created_at FROM outbox_events WHERE published_at IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    lags.sort_unstable();
    let lag_ms = (!lags.is_empty()).then(|| {
        let at = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize];
        [at(0.5), at(0.99), at(1.0)]
    });
    Ok(Outbox {
        written,
        unpublished,
        lag_ms,
    })
}

/// The service's SQLite writer counters from `/metrics`: (transactions committed, COMMITs).
/// `None` on MariaDB, which does not have them.
pub async fn sqlite_commit_counts(
    client: &reqwest::Client,
    base: &str,
) -> Result<Option<(u64, u64)>> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let read = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    Ok(read("sqlite_transactions_committed_total ").zip(read("sqlite_commits_total ")))
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A child process serving HTTP: the escrow service or the HTTP ceiling.
pub struct Served {
    child: Child,
    pub base: String,
    /// Beside the service: the PortOne sandbox as a process of its own (`escrow sandbox`),
    /// where the gateway is in production. In the service's process (its default) the
    /// sandbox keeps every payment it made, and the service's peak RSS would grow with the
    /// lifecycles run.
    pub gateway: Option<Box<Served>>,
}

impl Served {
    /// `escrow serve` on a free port and the given database.
    pub async fn escrow(
        bin: &Path,
        db: &BenchDb,
        max_conn: u32,
        nats_url: Option<&str>,
        log: &Path,
    ) -> Result<Self> {
        let gateway = Self::sandbox(bin).await?;
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(log)?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .envs(service_env(&db.url, &listen, max_conn))
            .env("PORTONE_API_URL", &gateway.base)
            .env_remove("ESCROW_NATS_URL")
            .env_remove("ESCROW_PUBLIC_URL");
        if let Some(url) = nats_url {
            command.env("ESCROW_NATS_URL", url);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut served = Self::ready(child, format!("http://{listen}"), "/healthz").await?;
        served.gateway = Some(Box::new(gateway));
        Ok(served)
    }

    /// `escrow sandbox` on a free port: the PortOne V1 sandbox alone, with the service's
    /// default merchant credentials.
    pub async fn sandbox(bin: &Path) -> Result<Self> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let child = Command::new(bin)
            .arg("sandbox")
            .env("ESCROW_LISTEN", &listen)
            .env("ESCROW_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} sandbox", bin.display()))?;
        Self::ready(child, format!("http://{listen}"), "/iamport.js").await
    }

    /// Where the buyer pays: the sandbox's own process.
    pub fn gateway_base(&self) -> Result<&str> {
        Ok(&self
            .gateway
            .as_ref()
            .context("no gateway beside this server")?
            .base)
    }

    /// This binary's own `ceiling-server` (a trivial axum handler) in a separate process.
    pub async fn ceiling() -> Result<Self> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(std::env::current_exe()?)
            .args(["ceiling-server", "--listen", &listen])
            .stdout(Stdio::null())
            .spawn()?;
        Self::ready(child, format!("http://{listen}"), "/ping").await
    }

    async fn ready(mut child: Child, base: String, path: &str) -> Result<Self> {
        let client = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{base}{path}")).send().await {
                if r.status().is_success() {
                    return Ok(Self {
                        child,
                        base,
                        gateway: None,
                    });
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server exited at start: {status}");
            }
            if Instant::now() > until {
                let _ = child.kill();
                bail!("the server did not answer {path} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident set size so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP ceiling: the same axum + tokio stack as the service, with one trivial handler.
pub fn ceiling_server(listen: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/ping",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// The first process whose command name is `name`.
pub fn process_named(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim_end() == name).then_some(pid)
        })
}

/// Bytes process `pid` has caused to be written to storage so far (`write_bytes` in
/// `/proc/<pid>/io`; readable for our own children, and for other users' processes as root).
pub fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// CPU time (user + system) of process `pid` so far, in seconds (clock ticks of 10 ms).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// `url` naming the database `name`, its query (e.g. `?socket=...`) kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.trim_end_matches('/');
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_goes_into_the_path_and_the_query_stays() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "bench_1_0"),
            "mysql://root@127.0.0.1:3306/bench_1_0"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/", "bench_1_0"),
            "mysql://root@127.0.0.1:3306/bench_1_0"
        );
        assert_eq!(
            with_database(
                "mysql://root@localhost/?socket=/run/mysqld/mysqld.sock",
                "b"
            ),
            "mysql://root@localhost/b?socket=/run/mysqld/mysqld.sock"
        );
    }
}
